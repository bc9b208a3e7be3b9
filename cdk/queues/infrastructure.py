"""SQS: the task queue with its dead-letter queue, and the DAG-sync fan-out (SNS -> one queue per service)."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

# A worker extends a running try's visibility every this many seconds by the queue's visibility
# timeout (both passed to the containers, see docs/deployment.md): a quarter of the default 120 s.
WORKER_VISIBILITY_EXTEND_EVERY_SECONDS = 30


def encryption(key: kms.IKey | None) -> dict[str, Any]:
    """Queue encryption: the environment's KMS key when there is one, else SQS-managed keys."""
    if key is None:
        return {"encryption": sqs.QueueEncryption.SQS_MANAGED}
    return {"encryption": sqs.QueueEncryption.KMS, "encryption_master_key": key}


class TaskQueues(Construct):
    """One message per task try; after ``max_receive_count`` receives a message moves to the DLQ."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name_prefix: str,
        visibility_seconds: int,
        max_receive_count: int,
        key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            queue_name=f"{name_prefix}-tasks-dlq",
            **encryption(key),
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=f"{name_prefix}-tasks",
            **encryption(key),
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(visibility_seconds),
            retention_period=Duration.days(4),
            receive_message_wait_time=Duration.seconds(20),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=max_receive_count
            ),
        )


class SyncFanout(Construct):
    """S3 events -> encrypted SNS topic -> one SSL-only queue per service (scheduler, worker, webserver)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name_prefix: str,
        services: tuple[str, ...],
        source_bucket_arn: str,
        queue_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.key = kms.Key(
            self,
            "Key",
            description=f"{name_prefix}: encrypts the DAG-sync notification topic",
            enable_key_rotation=True,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("s3.amazonaws.com")],
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=["*"],  # in a key policy "*" means this key
                conditions={
                    "ArnLike": {"aws:SourceArn": source_bucket_arn},
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                },
            )
        )
        self.topic = sns.Topic(
            self, "Topic", topic_name=f"{name_prefix}-sync", master_key=self.key, enforce_ssl=True
        )
        self.queues: dict[str, sqs.Queue] = {
            name: self._queue(name_prefix, name, queue_key) for name in services
        }

    def _queue(self, name_prefix: str, service: str, key: kms.IKey | None) -> sqs.Queue:
        """A short-lived hint queue of one service, subscribed to the topic with raw delivery."""
        queue = sqs.Queue(
            self,
            f"{service.capitalize()}Queue",
            queue_name=f"{name_prefix}-sync-{service}",
            **encryption(key),
            enforce_ssl=True,
            retention_period=Duration.hours(1),
            visibility_timeout=Duration.seconds(60),
            receive_message_wait_time=Duration.seconds(20),
        )
        self.topic.add_subscription(subscriptions.SqsSubscription(queue, raw_message_delivery=True))
        return queue

    def allow_publish_statement(self, statement: iam.PolicyStatement) -> sns.CfnTopicPolicy:
        """Add a publish permission to the topic policy and return the policy (the bucket depends on it)."""
        self.topic.add_to_resource_policy(statement)
        policy = self.topic.node.find_child("Policy").node.default_child
        assert isinstance(policy, sns.CfnTopicPolicy)
        return policy
