"""The environment bucket (dags/, plugins.zip, requirements.txt, startup.sh) and the access-log bucket."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct


class AccessLogBucket(Construct):
    """Receives the S3 server access logs of the environment bucket and the ALB access logs."""

    def __init__(self, scope: Construct, id: str, *, name_prefix: str, expire_days: int) -> None:
        super().__init__(scope, id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=f"{name_prefix}-logs-{Aws.ACCOUNT_ID}-{Aws.REGION}",
            encryption=s3.BucketEncryption.S3_MANAGED,  # ALB log delivery supports SSE-S3 only
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,  # no ACLs: log delivery via bucket policy
            enforce_ssl=True,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(expire_days))],
            removal_policy=RemovalPolicy.RETAIN,
        )


class EnvironmentBucket(Construct):
    """Versioned, encrypted, private, SSL-only; object events of the synced paths go to ``topic``."""

    SYNCED_PREFIXES = ("dags/", "plugins", "requirements", "startup")

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name_prefix: str,
        access_logs: s3.IBucket,
        topic: sns.ITopic,
        topic_policy: sns.CfnTopicPolicy,
        key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=bucket_name(name_prefix),
            versioned=True,
            **_encryption(key),
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="s3/",
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(90))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self._notify(topic, topic_policy)

    def _notify(self, topic: sns.ITopic, topic_policy: sns.CfnTopicPolicy) -> None:
        """Native NotificationConfiguration (no Lambda custom resource), after the topic policy exists."""
        cfn = self.bucket.node.default_child
        assert isinstance(cfn, s3.CfnBucket)
        cfn.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            topic_configurations=[
                s3.CfnBucket.TopicConfigurationProperty(
                    event=event,
                    topic=topic.topic_arn,
                    filter=s3.CfnBucket.NotificationFilterProperty(
                        s3_key=s3.CfnBucket.S3KeyFilterProperty(
                            rules=[s3.CfnBucket.FilterRuleProperty(name="prefix", value=prefix)]
                        )
                    ),
                )
                for prefix in self.SYNCED_PREFIXES
                for event in ("s3:ObjectCreated:*", "s3:ObjectRemoved:*")
            ]
        )
        cfn.node.add_dependency(topic_policy)


def _encryption(key: kms.IKey | None) -> dict[str, Any]:
    """SSE-KMS with the environment key (S3 Bucket Keys cut KMS requests), else SSE-S3."""
    if key is None:
        return {"encryption": s3.BucketEncryption.S3_MANAGED}
    return {"encryption": s3.BucketEncryption.KMS, "encryption_key": key, "bucket_key_enabled": True}


def bucket_name(name_prefix: str) -> str:
    """Globally unique, predictable name: the topic policy names it before the bucket exists."""
    return f"{name_prefix}-{Aws.ACCOUNT_ID}-{Aws.REGION}"


def bucket_arn(name_prefix: str) -> str:
    """ARN of the environment bucket, without a reference to the bucket resource."""
    return f"arn:{Aws.PARTITION}:s3:::{bucket_name(name_prefix)}"


def allow_bucket_to_publish(topic: sns.Topic, *, name_prefix: str) -> iam.PolicyStatement:
    """Statement letting S3 publish this bucket's events (source bucket and account pinned)."""
    return iam.PolicyStatement(
        principals=[iam.ServicePrincipal("s3.amazonaws.com")],
        actions=["sns:Publish"],
        resources=[topic.topic_arn],
        conditions={
            "ArnLike": {"aws:SourceArn": bucket_arn(name_prefix)},
            "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
        },
    )
