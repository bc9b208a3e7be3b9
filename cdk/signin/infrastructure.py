"""IAM sign-in: the web server's signing key, one IAM role and one managed policy per Airflow role.

A caller proves its identity with a signed ``sts:GetCallerIdentity`` request that the web server
forwards to the region's STS endpoint (docs/auth.md). The roles ``<env>-Viewer|User|Op|Admin``
trust the account (so an identity policy decides who may assume them) and carry no permission:
they only name an Airflow role. A team attaches the managed policy of the same name to its users
or roles; it allows assuming that one role and finding the environment's stack. The web server
maps the four roles (and ``iam_role_mapping`` from context) to Airflow roles.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Arn, ArnComponents, ArnFormat, Aws, Duration, Stack
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

AIRFLOW_ROLES = ("Viewer", "User", "Op", "Admin")
STS_ENDPOINT = f"https://sts.{Aws.REGION}.{Aws.URL_SUFFIX}"


class SignIn(Construct):
    """The web server's secret key, the sign-in roles and the per-role managed policies."""

    def __init__(self, scope: Construct, id: str, *, env_name: str, stack_name: str,
                 extra_mapping: Mapping[str, str], key: kms.IKey | None) -> None:
        super().__init__(scope, id)
        self.env_name = env_name
        self.extra_mapping = dict(extra_mapping)
        self.secret_key = secretsmanager.Secret(
            self, "WebServerKey", description=f"{env_name}: key that signs Windsock web sessions and tokens",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True, password_length=64),
        )
        stack_arn = Arn.format(ArnComponents(service="cloudformation", resource="stack",
                                             resource_name=f"{stack_name}/*", arn_format=ArnFormat.SLASH_RESOURCE_NAME),
                               Stack.of(self))
        self.roles: dict[str, iam.Role] = {}
        self.policies: dict[str, iam.ManagedPolicy] = {}
        for airflow_role in AIRFLOW_ROLES:
            self.roles[airflow_role], self.policies[airflow_role] = self._role(airflow_role, stack_arn)

    def _role(self, airflow_role: str, stack_arn: str) -> tuple[iam.Role, iam.ManagedPolicy]:
        """The role naming ``airflow_role`` and the managed policy that lets a holder assume it."""
        name = f"{self.env_name}-{airflow_role}"
        role = iam.Role(self, f"{airflow_role}Role", role_name=name, assumed_by=iam.AccountRootPrincipal(),
                        max_session_duration=Duration.hours(1),
                        description=f"Windsock {self.env_name}: sign in to the web UI and CLI as {airflow_role} "
                                    "(no AWS permissions)")
        policy = iam.ManagedPolicy(
            self, f"{airflow_role}Policy", managed_policy_name=name,
            description=f"Attach to users or roles that may use Windsock {self.env_name} as {airflow_role}",
            statements=[
                iam.PolicyStatement(sid="AssumeSignInRole", actions=["sts:AssumeRole"], resources=[role.role_arn]),
                iam.PolicyStatement(sid="FindEnvironment", actions=["cloudformation:DescribeStacks"],
                                    resources=[stack_arn]),
            ])
        return role, policy

    def role_mapping(self) -> str:
        """``[webserver] iam_role_mapping``: the four roles by name, then the context's own entries."""
        mapping = {f"{self.env_name}-{role}": role for role in AIRFLOW_ROLES}
        return json.dumps({**mapping, **self.extra_mapping}, sort_keys=True)

    def web_environment(self) -> dict[str, str]:
        """The web server container's IAM sign-in settings."""
        return {
            "WINDSOCK__WEBSERVER__IAM_STS_ENDPOINT": STS_ENDPOINT,
            "WINDSOCK__WEBSERVER__IAM_ACCOUNT_ID": Aws.ACCOUNT_ID,
            "WINDSOCK__WEBSERVER__IAM_ROLE_MAPPING": self.role_mapping(),
        }

    def web_secrets(self) -> dict[str, ecs.Secret]:
        """The web server's signing key, injected by ECS (every web task signs with the same key)."""
        return {"WINDSOCK__WEBSERVER__SECRET_KEY": ecs.Secret.from_secrets_manager(self.secret_key)}

    def outputs(self) -> dict[str, str]:
        """What ``runtime.client.Client`` reads: server id, STS endpoint, role and policy ARNs."""
        values = {"SignInServerId": self.env_name, "SignInStsEndpoint": STS_ENDPOINT}
        for airflow_role in AIRFLOW_ROLES:
            values[f"SignInRole{airflow_role}"] = self.roles[airflow_role].role_arn
            values[f"SignInPolicy{airflow_role}"] = self.policies[airflow_role].managed_policy_arn
        return values
