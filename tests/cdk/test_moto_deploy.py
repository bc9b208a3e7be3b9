"""The synthesized template deploys in moto's CloudFormation and its outputs are readable with boto3."""

from __future__ import annotations

import datetime
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
    _, removed = for_moto(default_synth.json)
    return {"stack": create_in_moto(moto_endpoint, default_synth), "removed": removed}


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


def self_signed_certificate() -> tuple[bytes, bytes]:
    """A throwaway certificate and key (PEM) for moto's ACM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "windsock.example")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), pem_key


def provide_external_inputs(endpoint: str, synth: Synth) -> dict[str, str]:
    """Make what a deployer brings (certificate, KMS key, worker role) exist in moto; ARN replacements.

    The certificate and key get moto's own ids, so their ARNs in the template are swapped for the
    real ones; the role ARN is reproducible (same account, path and name) and is used as is.
    """
    s = synth.stack.settings
    replace: dict[str, str] = {}
    if s.certificate_arn:
        certificate, key = self_signed_certificate()
        arn = client(endpoint, "acm").import_certificate(Certificate=certificate, PrivateKey=key)[
            "CertificateArn"
        ]
        replace[s.certificate_arn] = arn
    if s.kms_key_arn:
        replace[s.kms_key_arn] = client(endpoint, "kms").create_key(Description="team key")["KeyMetadata"][
            "Arn"
        ]
    if s.task_role_arn:
        path, name = s.task_role_arn.split(":role")[1].rsplit("/", 1)
        trust = {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ]
        }
        iam = client(endpoint, "iam")
        if not iam.list_roles(PathPrefix=f"{path}/")["Roles"]:
            iam.create_role(Path=f"{path}/", RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    return replace


def create_in_moto(endpoint: str, synth: Synth) -> dict[str, Any]:
    """Publish a variant's assets and create its trimmed template in moto; the stack once it settles."""
    bootstrap(endpoint, synth)
    template, removed = for_moto(synth.json)
    assert set(removed.values()) <= set(MOTO_UNSUPPORTED)
    body = json.dumps(template)
    for placeholder, real in provide_external_inputs(endpoint, synth).items():
        body = body.replace(placeholder, real)
    cloudformation = client(endpoint, "cloudformation")
    cloudformation.create_stack(
        StackName=synth.stack.stack_name,
        TemplateBody=body,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    return wait_for(cloudformation, synth.stack.stack_name)


@pytest.mark.parametrize(
    ("variant", "mode"),
    [("dev", "PUBLIC_SUBNETS"), ("locked_down", "VPC_ENDPOINTS"), ("team", "NAT_INSTANCE")],
)
def test_every_other_network_mode_also_deploys(
    deployed: dict[str, Any], moto_endpoint: str, request: pytest.FixtureRequest, variant: str, mode: str
) -> None:
    """Each network mode creates beside the default env in the same account, and its outputs read back."""
    synth: Synth = request.getfixturevalue(f"{variant}_synth")
    assert synth.stack.settings.network_mode.value == mode
    stack = create_in_moto(moto_endpoint, synth)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    env = synth.stack.settings.env_name
    outputs = read_stack_outputs(env, client(moto_endpoint, "cloudformation"))
    assert outputs.bucket == f"{env}-{ACCOUNT}-{REGION}"


def test_client_finds_the_deployed_environment_and_its_sign_in_roles(
    deployed: dict[str, Any], moto_endpoint: str
) -> None:
    """runtime.client reads the moto-deployed stack: MWAA's Environment shape, the four sign-in role ARNs."""
    from runtime.client import model
    from runtime.client.environment import Environment, find

    stack = find(client(moto_endpoint, "cloudformation"), "windsock")
    assert stack is not None
    environment = Environment.from_stack("windsock", stack)
    assert {r.value for r in environment.role_arns()} == {"Admin", "Op", "User", "Viewer"}
    assert environment.role_arns()[next(iter(environment.role_arns()))].startswith(f"arn:aws:iam::{ACCOUNT}:role/")
    assert environment.server_id == "windsock" and environment.region == REGION
    document = {"Environment": environment.document()}
    assert model.response_errors("GetEnvironment", document) == ""
    assert document["Environment"]["Status"] == "AVAILABLE"
    roles = client(moto_endpoint, "iam").list_roles()["Roles"]
    assert {"windsock-Admin", "windsock-Viewer"} <= {r["RoleName"] for r in roles}
