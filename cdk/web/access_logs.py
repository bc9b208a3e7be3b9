"""ALB access logs to S3 in a stack that does not know its region at synth time.

ELB writes logs as a per-region AWS account in Regions opened before August 2022 and as the
``logdelivery.elasticloadbalancing.amazonaws.com`` service in newer ones. A CloudFormation
mapping built from CDK's region facts picks the account at deploy time; in newer Regions the
account principal falls back to this account itself (a no-op grant) and the service statement
does the work.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnCondition, CfnMapping, Fn
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.region_info import RegionInfo
from constructs import Construct

NO_ACCOUNT = "none"
LOG_DELIVERY_SERVICE = "logdelivery.elasticloadbalancing.amazonaws.com"


def elb_accounts(scope: Construct) -> CfnMapping:
    """Region -> ELB log-delivery account ('none' where the service principal is used)."""
    return CfnMapping(
        scope,
        "ElbLogAccounts",
        mapping={
            region.name: {"account": region.elbv2_account or NO_ACCOUNT} for region in RegionInfo.regions
        },
    )


def enable_access_logs(
    scope: Construct, *, load_balancer: elbv2.ApplicationLoadBalancer, bucket: s3.IBucket, prefix: str
) -> None:
    """Let ELB put objects under ``prefix/AWSLogs/<account>/`` and turn logging on."""
    account = elb_accounts(scope).find_in_map(Aws.REGION, "account")
    legacy = CfnCondition(
        scope, "LegacyElbRegion", expression=Fn.condition_not(Fn.condition_equals(account, NO_ACCOUNT))
    )
    writer_account = Fn.condition_if(legacy.logical_id, account, Aws.ACCOUNT_ID).to_string()
    objects = bucket.arn_for_objects(f"{prefix}/AWSLogs/{Aws.ACCOUNT_ID}/*")
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            actions=["s3:PutObject"], resources=[objects], principals=[iam.AccountPrincipal(writer_account)]
        )
    )
    result = bucket.add_to_resource_policy(
        iam.PolicyStatement(
            actions=["s3:PutObject"],
            resources=[objects],
            principals=[iam.ServicePrincipal(LOG_DELIVERY_SERVICE)],
        )
    )
    load_balancer.set_attribute("access_logs.s3.enabled", "true")
    load_balancer.set_attribute("access_logs.s3.bucket", bucket.bucket_name)
    load_balancer.set_attribute("access_logs.s3.prefix", prefix)
    if result.policy_dependable is not None:
        load_balancer.node.add_dependency(result.policy_dependable)
