"""The customer-managed KMS key of an environment (MWAA's ``KmsKey``): imported or created.

When one is configured it encrypts the environment bucket, the task and sync queues, both
secrets, every log group and the database. CloudWatch Logs can use a key only if the key
policy names the Logs service; a created key gets that statement here, an imported key must
already have it (``docs/deployment.md`` lists the statements; synth warns).
"""

from __future__ import annotations

from aws_cdk import Annotations, Arn, ArnComponents, ArnFormat, Aws, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

# What the CloudWatch Logs service does with a log group's key (explicit, no wildcards).
LOGS_KEY_ACTIONS = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
)


class EnvironmentKey(Construct):
    """``kms_key_arn`` imports a key; otherwise a new key with yearly rotation is created."""

    def __init__(self, scope: Construct, id: str, *, key_arn: str, name_prefix: str) -> None:
        super().__init__(scope, id)
        self.created = not key_arn
        if key_arn:
            self.key: kms.IKey = kms.Key.from_key_arn(self, "Imported", key_arn)
            Annotations.of(self).add_warning_v2(
                "windsock:imported-kms-key",
                "kms_key_arn: the key's policy must let logs.<region>.amazonaws.com use it for this account's "
                "log groups and sns.amazonaws.com encrypt for the sync topic (docs/deployment.md, "
                "'Customer-managed key'); the stack cannot change an imported key's policy",
            )
            return
        self.key = kms.Key(
            self,
            "Key",
            description=f"{name_prefix}: Windsock environment key (bucket, queues, secrets, logs, database)",
            alias=f"alias/windsock/{name_prefix}",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,  # data encrypted with it (DB snapshots, buckets) outlives the stack
        )
        self.key.add_to_resource_policy(logs_statement(self))


def logs_statement(scope: Construct) -> iam.PolicyStatement:
    """Key-policy statement: CloudWatch Logs may use the key for this account's log groups only."""
    groups = Arn.format(
        ArnComponents(
            service="logs", resource="log-group", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
        ),
        Stack.of(scope),
    )
    return iam.PolicyStatement(
        sid="CloudWatchLogsOfThisAccount",
        principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
        actions=list(LOGS_KEY_ACTIONS),
        resources=["*"],  # in a key policy "*" means this key
        conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": groups}},
    )
