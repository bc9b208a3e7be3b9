"""The synthesized template deploys in moto's CloudFormation and its outputs are readable with boto3."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from runtime.container.outputs import read_stack_outputs
from runtime.errors import UserError
from tests import services
from tests.cdk.cloud_assembly import MOTO_UNSUPPORTED, for_moto, publish_file_assets
from tests.cdk.conftest import Synth

pytestmark = [pytest.mark.cdk, pytest.mark.aws]

ACCOUNT, REGION = "123456789012", "us-east-1"  # moto's default account


def client(endpoint: str, service: str) -> Any:
    """A boto3 client for the moto server."""
    boto3 = pytest.importorskip("boto3")
    env = services.aws_env(endpoint)
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def bootstrap(endpoint: str, synth: Synth) -> None:
    """What `cdk bootstrap` + asset publishing leave behind: the version parameter and the file assets."""
    client(endpoint, "ssm").put_parameter(
        Name="/cdk-bootstrap/hnb659fds/version", Value="30", Type="String", Overwrite=True
    )
    published = publish_file_assets(
        synth.assembly_dir, synth.artifact_id, client(endpoint, "s3"), account=ACCOUNT, region=REGION
    )
    assert published >= 1


def wait_for(cloudformation: Any, name: str, timeout: float = 120) -> dict[str, Any]:
    """The stack once it leaves *_IN_PROGRESS."""
    deadline = time.monotonic() + timeout
    while True:
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            return stack
        time.sleep(0.5)


@pytest.fixture(scope="module")
def deployed(moto_endpoint: str, default_synth: Synth) -> dict[str, Any]:
    """The default stack created in moto, with only the resource types moto lacks removed."""
    bootstrap(moto_endpoint, default_synth)
    template, removed = for_moto(default_synth.json)
    assert set(removed.values()) <= set(MOTO_UNSUPPORTED)
    cloudformation = client(moto_endpoint, "cloudformation")
    cloudformation.create_stack(
        StackName=default_synth.stack.stack_name,
        TemplateBody=json.dumps(template),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    return {"stack": wait_for(cloudformation, default_synth.stack.stack_name), "removed": removed}


def test_stack_reaches_create_complete_in_moto(deployed: dict[str, Any]) -> None:
    """Every resource moto models is created; the stack ends CREATE_COMPLETE."""
    stack = deployed["stack"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")


def test_only_types_moto_lacks_were_removed(deployed: dict[str, Any], default_synth: Synth) -> None:
    """The moto run keeps every resource whose type moto can create (buckets, queues, RDS, ECS, ALB...)."""
    kept = {r["Type"] for r in default_synth.json["Resources"].values()} - set(deployed["removed"].values())
    assert {
        "AWS::S3::Bucket",
        "AWS::SQS::Queue",
        "AWS::SNS::Topic",
        "AWS::RDS::DBInstance",
        "AWS::ECS::Service",
        "AWS::ECS::TaskDefinition",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::IAM::Role",
        "AWS::Logs::LogGroup",
        "AWS::EC2::VPC",
    } <= kept


def test_created_resources_exist_in_moto(deployed: dict[str, Any], moto_endpoint: str) -> None:
    """The bucket exists and the task queue redrives to its DLQ, as seen through the AWS APIs.

    (moto's CloudFormation model ignores VersioningConfiguration; test_stack.py asserts it.)
    """
    outputs = read_stack_outputs("windsock", client(moto_endpoint, "cloudformation"))
    s3 = client(moto_endpoint, "s3")
    assert s3.head_bucket(Bucket=outputs.bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    attrs = client(moto_endpoint, "sqs").get_queue_attributes(
        QueueUrl=outputs.task_queue_url, AttributeNames=["RedrivePolicy", "VisibilityTimeout"]
    )["Attributes"]
    assert json.loads(attrs["RedrivePolicy"])["maxReceiveCount"] == 5
    assert attrs["VisibilityTimeout"] == "120"


def test_read_stack_outputs_returns_the_environment_endpoints(
    deployed: dict[str, Any], moto_endpoint: str
) -> None:
    """read_stack_outputs finds the stack by env name and returns URL, bucket, queues, DB, env name."""
    outputs = read_stack_outputs("windsock", client(moto_endpoint, "cloudformation"))
    assert outputs.env_name == "windsock"
    assert outputs.web_url.startswith("http://")
    assert outputs.bucket == f"windsock-{ACCOUNT}-{REGION}"
    assert outputs.task_queue_url.endswith("/windsock-tasks")
    assert outputs.dead_letter_queue_url.endswith("/windsock-tasks-dlq")
    assert outputs.database_endpoint
    assert outputs.extra["SyncQueueUrlWorker"].endswith("/windsock-sync-worker")
    assert outputs.extra["LogGroupTask"] == "windsock-Task"


def test_read_stack_outputs_of_unknown_environment_is_a_user_error(moto_endpoint: str) -> None:
    """An env name with no stack gives one clear line, not a traceback."""
    with pytest.raises(UserError, match="Windsock-nope"):
        read_stack_outputs("nope", client(moto_endpoint, "cloudformation"))


def test_public_subnets_mode_also_deploys(
    deployed: dict[str, Any], moto_endpoint: str, dev_synth: Synth
) -> None:
    """The cheapest mode (tasks in public subnets) creates too, beside the default env in the same account."""
    bootstrap(moto_endpoint, dev_synth)
    template, _ = for_moto(dev_synth.json)
    cloudformation = client(moto_endpoint, "cloudformation")
    cloudformation.create_stack(
        StackName=dev_synth.stack.stack_name,
        TemplateBody=json.dumps(template),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    stack = wait_for(cloudformation, dev_synth.stack.stack_name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    assert read_stack_outputs("dev", cloudformation).bucket == f"dev-{ACCOUNT}-{REGION}"
