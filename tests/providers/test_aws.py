"""The real amazon provider against moto's server: under ``dags test`` with ``aws_default`` absent
(the process's own credentials, as a task role gives them) and under the scheduler with an
``aws_default`` connection whose extra carries ``region_name`` and ``endpoint_url``."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.providers.conftest import base_env, dags_test, run_under_scheduler

pytestmark = pytest.mark.aws
KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def _client(moto: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=moto, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def _resources(moto: str) -> dict[str, str]:
    """A fresh bucket, queue, topic (with a subscribed queue), secret and Lambda function in moto."""
    tag = uuid.uuid4().hex[:8]
    _client(moto, "s3").create_bucket(Bucket=f"ws-{tag}")
    sqs = _client(moto, "sqs")
    queue = sqs.create_queue(QueueName=f"ws-{tag}")["QueueUrl"]
    sink = sqs.create_queue(QueueName=f"ws-sink-{tag}")["QueueUrl"]
    sink_arn = sqs.get_queue_attributes(QueueUrl=sink, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = _client(moto, "sns").create_topic(Name=f"ws-{tag}")["TopicArn"]
    _client(moto, "sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=sink_arn,
                                   Attributes={"RawMessageDelivery": "true"})
    _client(moto, "secretsmanager").create_secret(Name=f"ws-{tag}", SecretString="s3cr3t-value")
    role = _client(moto, "iam").create_role(RoleName=f"ws-{tag}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as zf:
        zf.writestr("index.py", "def handler(event, context):\n    return event\n")
    _client(moto, "lambda").create_function(FunctionName=f"ws-{tag}", Runtime="python3.11", Role=role,
                                            Handler="index.handler", Code={"ZipFile": code.getvalue()})
    return {"bucket": f"ws-{tag}", "queue_url": queue, "topic_arn": topic, "secret": f"ws-{tag}",
            "function": f"ws-{tag}", "sink": sink}


def _check_effects(moto: str, conf: dict[str, str], ds: str) -> None:
    s3 = _client(moto, "s3")
    read = lambda key: s3.get_object(Bucket=conf["bucket"], Key=key)["Body"].read().decode()  # noqa: E731
    assert read(f"in/{ds}.txt") == f"hello {ds}"
    assert read(f"out/{ds}.txt") == f"hello {ds}"  # S3CopyObjectOperator
    assert read("hooks/result.txt") == f"hello {ds}|s3cr3t-value"  # S3Hook + SecretsManagerHook in @task
    assert json.loads(read("sqs/received.json")) == [f"msg {ds}"]  # SqsPublishOperator -> SqsSensor
    got = _client(moto, "sqs").receive_message(QueueUrl=conf["sink"], WaitTimeSeconds=1)["Messages"]
    assert [m["Body"] for m in got] == [f"done {ds}"]  # SnsPublishOperator, delivered to the subscribed queue
    # LambdaInvokeFunctionOperator's response payload, pushed as XCom (moto's Docker-less Lambda echoes the event)
    assert json.loads(read("lambda/response.txt")) == {"ds": ds}


def test_dags_test_with_the_task_role_credentials(providers_site: Path, moto: str, tmp_path: Path) -> None:
    conf = _resources(moto)
    env = base_env(tmp_path / "home", providers_site, **KEYS, AWS_DEFAULT_REGION="us-east-1",
                   AWS_ENDPOINT_URL=moto)
    out = dags_test(env, "provider_aws", "2024-01-02", {k: v for k, v in conf.items() if k != "sink"})
    assert "Unable to find AWS Connection ID 'aws_default'" in out  # no connection: boto3's own chain
    _check_effects(moto, conf, "2024-01-02")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_scheduler_with_an_aws_default_connection(providers_site: Path, moto: str, tmp_path: Path, store: Any) -> None:
    conf = _resources(moto)
    connection = {"conn_type": "aws", "login": "testing", "password": "testing",
                  "extra": {"region_name": "us-east-1", "endpoint_url": moto}}
    env = base_env(tmp_path / "home", providers_site, AIRFLOW_CONN_AWS_DEFAULT=json.dumps(connection))
    states = run_under_scheduler(env, store, "provider_aws", {k: v for k, v in conf.items() if k != "sink"})
    assert set(states.values()) == {"success"} and len(states) == 10, states
    keys = {o["Key"] for o in _client(moto, "s3").list_objects_v2(Bucket=conf["bucket"])["Contents"]}
    (out,) = [k for k in keys if k.startswith("out/")]  # the run's logical date is "now"
    _check_effects(moto, conf, out.removeprefix("out/").removesuffix(".txt"))
