"""cdk-nag AwsSolutions acknowledgements, each on the narrowest construct, with its reason."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from constructs import IConstruct

from cdk.service.infrastructure import WindsockService
from cdk.settings import Settings
from cdk.stack import WindsockStack


def _ack(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one finding on one construct (and its children)."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


def _logical_id(construct: IConstruct) -> str:
    """The CloudFormation logical id cdk-nag prints for an L2 construct's resource."""
    child = construct.node.default_child
    assert isinstance(child, CfnElement)
    return Stack.of(construct).get_logical_id(child)


def acknowledge_findings(stack: WindsockStack) -> None:
    """Acknowledge the findings that are deliberate in this design; docs/deployment.md repeats why."""
    settings = stack.settings
    for service in stack.services.values():
        _ack_service(service, bucket_id=_logical_id(stack.storage.bucket))
    _ack_roles(stack)
    _ack(
        stack.services["worker"].task_role,
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/"
        f"<{_logical_id(stack.cluster)}>/*]",
        "ecs:UpdateTaskProtection/GetTaskProtection on this cluster's tasks only; a worker protects its own "
        "task, whose id is only known at run time.",
    )
    for queue in stack.sync.queues.values():
        _ack(
            queue,
            "AwsSolutions-SQS3",
            "Sync queues carry change hints only (1 h retention); a lost hint is covered by dag_sync's periodic "
            "full listing, so a DLQ would hold nothing worth keeping.",
        )
    _ack_database(stack, settings)
    _ack_sign_in(stack)
    _ack(
        stack.fernet_secret,
        "AwsSolutions-SMG4",
        "The fernet key encrypts stored connection passwords; rotating it needs a re-encryption run "
        "(MultiFernet), so it is rotated by the operator, not on a timer.",
    )
    if not settings.container_insights:
        _ack(
            stack.cluster,
            "AwsSolutions-ECS4",
            "Container Insights is a setting (container_insights, off by default to keep idle cost low); "
            "service logs and the queue metrics that drive scaling are always on.",
        )
    if "0.0.0.0/0" in settings.allowed_cidrs:
        _ack(
            stack.web.security_group,
            "AwsSolutions-EC23",
            "The deployer passed allowed_cidrs=0.0.0.0/0 explicitly (the default admits no one); only IAM "
            "identities the environment maps can sign in (as MWAA's public web server), and synth warns.",
        )
    if stack.network.nat_instances is not None:
        _ack_nat_instance(stack)
    for role in ("scheduler", "worker", "webserver"):
        if not settings.logs(role).enabled:
            _ack(
                stack.service_of(role).task_definition,
                "AwsSolutions-ECS7",
                f"{role}_logs=false: the deployer switched this MWAA log type off; its container output is "
                "discarded by design, as MWAA does for a disabled log type.",
            )


def _ack_roles(stack: WindsockStack) -> None:
    """Task-role findings of the secrets backend, metrics and the deployer's own worker policies."""
    s = stack.settings
    for role in ("scheduler", "worker"):
        grantee = stack.service_of(role).task_role
        for prefix in (s.connections_prefix, s.variables_prefix):
            _ack(
                grantee,
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:"
                f"secret:{prefix.rstrip('/')}/*]",
                "secretsmanager:GetSecretValue under the secrets backend's prefix only (MWAA's convention): "
                "connection and variable ids are chosen by DAG authors at run time.",
            )
        _ack(
            grantee,
            "AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:PutMetricData has no resource-level permissions; the statement is limited to the "
            "Windsock namespace by a cloudwatch:namespace condition.",
        )
    for arn in s.task_policy_arns:
        if ":iam::aws:policy/" in arn:
            _ack(
                stack.services["worker"].task_role,
                f"AwsSolutions-IAM4[Policy::{arn}]",
                "The deployer attached this AWS managed policy with task_policy_arns: it is their execution "
                "policy for DAG tasks (MWAA's execution role), not a permission Windsock itself needs.",
            )
    if stack.worker_policy is not None:
        for finding in _wildcard_findings(json.loads(s.task_policy)):
            _ack(
                stack.worker_policy,
                f"AwsSolutions-IAM5[{finding}]",
                "This is the deployer's own policy document (task_policy): the permissions DAG tasks need on "
                "the team's resources, which the deployer chose and reviews, as with MWAA's execution role.",
            )


def _wildcard_findings(document: dict[str, Any]) -> list[str]:
    """cdk-nag's IAM5 finding ids (``Action::x`` / ``Resource::y``) of the wildcards in a policy document."""
    statements = document["Statement"]
    found: list[str] = []
    for statement in statements if isinstance(statements, list) else [statements]:
        for field in ("Action", "Resource"):
            values = statement.get(field, [])
            for value in values if isinstance(values, list) else [values]:
                if isinstance(value, str) and "*" in value:
                    found.append(f"{field}::{value}")
    return found


def _ack_nat_instance(stack: WindsockStack) -> None:
    """Findings of the NAT_INSTANCE network mode, a cost choice the deployer makes explicitly."""
    nat = stack.network.nat_instances
    assert nat is not None
    for instance in nat.gateway_instances:
        _ack(
            instance,
            "AwsSolutions-EC28",
            "Detailed monitoring would cost about a third of the t4g.nano NAT instance; its 5-minute basic "
            "metrics and EC2 status checks are kept.",
        )
        _ack(
            instance,
            "AwsSolutions-EC29",
            "The NAT instance is owned and replaced by this stack (cdk deploy); termination protection would "
            "block cdk destroy, and NAT_INSTANCE is the opt-in single-instance cost mode.",
        )


def _ack_service(service: WindsockService, *, bucket_id: str) -> None:
    """Findings every Windsock service shares."""
    _ack(
        service.task_definition,
        "AwsSolutions-ECS2",
        "The environment holds only non-secret names (bucket, queue URLs, DB host); the DB password and "
        "fernet key are ECS secrets from Secrets Manager.",
    )
    _ack(
        service.task_role,
        f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/*]",
        "Read-only s3:GetObject/GetObjectVersion on this environment's bucket: dag_sync reads every DAG, "
        "plugin and requirements object, whose keys users choose.",
    )
    _ack(
        service.task_definition.obtain_execution_role(),
        "AwsSolutions-IAM5[Resource::*]",
        "ecr:GetAuthorizationToken has no resource-level permissions (AWS requires '*'); image pulls are "
        "scoped to the CDK asset repository.",
    )


def _ack_database(stack: WindsockStack, settings: Settings) -> None:
    """Database findings that depend on the chosen settings."""
    instance = stack.database.instance
    _ack(
        instance,
        "AwsSolutions-RDS11",
        "A non-default port adds no protection here: the DB is in isolated subnets and its security group "
        "admits only the three Windsock services.",
    )
    if not settings.db_multi_az:
        _ack(
            instance,
            "AwsSolutions-RDS3",
            "Multi-AZ is a setting (db_multi_az), off by default to halve idle cost; backups and deletion "
            "protection stay on.",
        )
    if not settings.db_deletion_protection:
        _ack(
            instance,
            "AwsSolutions-RDS10",
            "Deletion protection is a setting (db_deletion_protection, on by default), turned off only for "
            "disposable environments; the removal policy still takes a final snapshot.",
        )
    if not settings.db_secret_rotation:
        _ack(
            instance.node.find_child(
                "Secret"
            ),  # the generated DatabaseSecret (instance.secret is its attachment)
            "AwsSolutions-SMG4",
            "Rotation is a setting (db_secret_rotation); off by default because running tasks keep the "
            "password they started with until they restart.",
        )


def _ack_sign_in(stack: WindsockStack) -> None:
    """The sign-in policies name the stack by name (its id suffix is unknown before it exists); the web key."""
    stack_arn = (f"arn:<AWS::Partition>:cloudformation:<AWS::Region>:<AWS::AccountId>:stack/"
                 f"{stack.stack_name}/*")
    for policy in stack.sign_in.policies.values():
        _ack(policy, f"AwsSolutions-IAM5[Resource::{stack_arn}]",
             "cloudformation:DescribeStacks on this environment's stack only; the trailing * is the stack id "
             "CloudFormation appends at creation, so the client can read the outputs it needs to sign in.")
    _ack(stack.sign_in.secret_key, "AwsSolutions-SMG4",
         "The web server's signing key only signs short-lived tokens and sessions; rotating it signs everyone "
         "out, so the operator rotates it (docs/auth.md), not a timer.")

