"""Least-privilege grants with explicit action lists (no ``*`` actions), on typed resource objects.

When a queue or the bucket is encrypted with the environment's KMS key, the grant that reads or
writes it also grants the matching ``kms:`` actions on that key, and nothing more.
"""

from __future__ import annotations

from aws_cdk import Arn, ArnComponents, ArnFormat, Stack
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import IConstruct

BUCKET_READ = ("s3:GetObject", "s3:GetObjectVersion")
BUCKET_LIST = ("s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation")
QUEUE_SEND = ("sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl")
QUEUE_CONSUME = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
)
LOG_WRITE = ("logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams")
LOG_READ = ("logs:GetLogEvents", "logs:FilterLogEvents", "logs:DescribeLogStreams")
TASK_PROTECTION = ("ecs:UpdateTaskProtection", "ecs:GetTaskProtection")
SECRET_READ = ("secretsmanager:GetSecretValue",)
METRICS_PUT = ("cloudwatch:PutMetricData",)
KEY_DECRYPT = ("kms:Decrypt",)
KEY_ENCRYPT = ("kms:GenerateDataKey", "kms:Decrypt")  # SQS producers need both for SSE-KMS
METRICS_NAMESPACE = "Windsock"


def read_bucket(bucket: s3.IBucket, grantee: iam.IGrantable) -> None:
    """List the bucket and read any object version (the DAG sync)."""
    iam.Grant.add_to_principal(grantee=grantee, actions=list(BUCKET_LIST), resource_arns=[bucket.bucket_arn])
    iam.Grant.add_to_principal(
        grantee=grantee, actions=list(BUCKET_READ), resource_arns=[bucket.arn_for_objects("*")]
    )
    if bucket.encryption_key is not None:
        bucket.encryption_key.grant(grantee, *KEY_DECRYPT)


def send_to(queue: sqs.IQueue, grantee: iam.IGrantable) -> None:
    """Send messages (the scheduler's SQS executor)."""
    queue.grant(grantee, *QUEUE_SEND)
    if queue.encryption_master_key is not None:
        queue.encryption_master_key.grant(grantee, *KEY_ENCRYPT)


def consume(queue: sqs.IQueue, grantee: iam.IGrantable) -> None:
    """Receive, extend and delete messages (workers, DAG sync, DLQ reaper)."""
    queue.grant(grantee, *QUEUE_CONSUME)
    if queue.encryption_master_key is not None:
        queue.encryption_master_key.grant(grantee, *KEY_DECRYPT)


def write_logs(group: logs.ILogGroup, grantee: iam.IGrantable) -> None:
    """Create streams and put events in one log group (CloudWatch Logs itself uses the group's key)."""
    group.grant(grantee, *LOG_WRITE)


def read_logs(group: logs.ILogGroup, grantee: iam.IGrantable) -> None:
    """Read the events of one log group (the web UI shows task logs)."""
    group.grant(grantee, *LOG_READ)


def protect_tasks(cluster: ecs.ICluster, grantee: iam.IGrantable) -> None:
    """Set and read ECS task scale-in protection on this cluster's tasks only."""
    task_arn = Arn.format(
        ArnComponents(
            service="ecs",
            resource="task",
            resource_name=f"{cluster.cluster_name}/*",
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        ),
        Stack.of(cluster),
    )
    iam.Grant.add_to_principal(grantee=grantee, actions=list(TASK_PROTECTION), resource_arns=[task_arn])


def secret_prefix_arn(scope: IConstruct, prefix: str) -> str:
    """ARN pattern of every secret named ``<prefix>/...`` in this account and region."""
    return Arn.format(
        ArnComponents(
            service="secretsmanager",
            resource="secret",
            resource_name=f"{prefix.rstrip('/')}/*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        ),
        Stack.of(scope),
    )


def read_secret_prefixes(scope: IConstruct, prefixes: tuple[str, ...], grantee: iam.IGrantable) -> None:
    """``GetSecretValue`` on the secrets backend's prefixes (MWAA: airflow/connections/*, airflow/variables/*)."""
    arns = [secret_prefix_arn(scope, prefix) for prefix in prefixes]
    iam.Grant.add_to_principal(grantee=grantee, actions=list(SECRET_READ), resource_arns=arns)


def put_metrics(grantee: iam.IGrantable) -> None:
    """``PutMetricData`` into the ``Windsock`` namespace only (the action has no resource ARNs)."""
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=list(METRICS_PUT),
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
        )
    )
