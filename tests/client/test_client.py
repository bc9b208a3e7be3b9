"""``runtime.client.Client`` against ``standalone --aws-local``: MWAA's operations with their response shapes
checked against botocore's ``mwaa`` model, uploads, the CLI endpoint, ``windsock --env`` and ``login``."""

from __future__ import annotations

import base64
import inspect
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from runtime.client import Client, model
from tests.client.conftest import AwsLocal
from tests.services import wait_for
from tests.web.conftest import ROOT

pytestmark = pytest.mark.aws
DAG = '''
from datetime import datetime
from airflow import DAG
from airflow.operators.bash import BashOperator
with DAG("client_dag", start_date=datetime(2024, 1, 1), schedule=None, is_paused_upon_creation=False) as dag:
    BashOperator(task_id="hello", bash_command="echo hello from the client")
'''


def _fits(operation: str, response: dict[str, Any]) -> None:
    """The response has ResponseMetadata and otherwise exactly fits the operation's output shape."""
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert model.response_errors(operation, response) == ""
    required = set(model.operation(operation).output_shape.required_members)
    assert required <= set(response)


@pytest.fixture(scope="module")
def deployed_dag(aws_local: AwsLocal, tmp_path_factory: pytest.TempPathFactory) -> str:
    """client_dag uploaded with upload_dags and seen by the web server's REST API."""
    folder = tmp_path_factory.mktemp("client-dags")
    (folder / "client_dag.py").write_text(DAG)
    saved = dict(os.environ)
    os.environ.update(AWS_ENDPOINT_URL=aws_local.endpoint, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x",
                      AWS_DEFAULT_REGION="us-east-1")
    try:
        mwaa = Client("local")
        plan = mwaa.upload_dags(folder, say=lambda line: None)
        assert plan.upload == ["client_dag.py"]
        listed = lambda: "client_dag" in [d["dag_id"] for d in mwaa.invoke_rest_api(  # noqa: E731
            Name="local", Path="/dags", Method="GET")["RestApiResponse"]["dags"]]
        wait_for(listed, 120, "the uploaded DAG in /api/v2/dags")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return "client_dag"


def test_client_methods_take_the_model_parameters() -> None:
    """Each MWAA method's keyword parameters are the model's input members (a renamed member is caught)."""
    for method, operation in (("get_environment", "GetEnvironment"), ("create_web_login_token", "CreateWebLoginToken"),
                              ("create_cli_token", "CreateCliToken"), ("invoke_rest_api", "InvokeRestApi")):
        params = {n for n, p in inspect.signature(getattr(Client, method)).parameters.items()
                  if p.kind is inspect.Parameter.KEYWORD_ONLY}
        assert params == set(model.operation(operation).input_shape.members), method


def test_get_environment_has_mwaa_shape(local_aws: AwsLocal) -> None:
    """get_environment reads stack Windsock-local: AVAILABLE, the web server's host, the bucket."""
    answer = Client("local").get_environment(Name="local")
    _fits("GetEnvironment", answer)
    environment = answer["Environment"]
    assert environment["Status"] == "AVAILABLE" and environment["Name"] == "local"
    assert environment["WebserverUrl"] == local_aws.web_url.removeprefix("http://")
    assert environment["SourceBucketArn"] == "arn:aws:s3:::windsock-local"


def test_unknown_environment_and_bad_parameters_fail_as_boto3_does(local_aws: AwsLocal) -> None:
    """No stack: ResourceNotFoundException; a mistyped parameter: ParamValidationError; a method outside the
    model's enum: ValidationException (what MWAA answers)."""
    from botocore.exceptions import ParamValidationError

    mwaa = Client("local")
    with pytest.raises(mwaa.exceptions.ResourceNotFoundException):
        mwaa.create_cli_token(Name="nope")
    with pytest.raises(mwaa.exceptions.ValidationException, match="Method 'FETCH'"):
        mwaa.invoke_rest_api(Name="local", Path="/dags", Method="FETCH")
    with pytest.raises(ParamValidationError):
        mwaa.invoke_rest_api(Name="local", Path=5, Method="GET")  # type: ignore[arg-type]


def test_create_web_login_token_signs_in_once(local_aws: AwsLocal) -> None:
    """The token (MWAA's shape) names the assumed local-Admin role and opens a session once."""
    answer = Client("local").create_web_login_token(Name="local")
    _fits("CreateWebLoginToken", answer)
    assert answer["IamIdentity"].startswith("arn:aws:sts::123456789012:assumed-role/local-Admin/")
    with httpx.Client(base_url=local_aws.web_url) as browser:
        assert browser.get("/login", params={"token": answer["WebToken"]}).status_code == 303
        assert browser.get("/").status_code == 200
    assert httpx.get(local_aws.web_url + "/login", params={"token": answer["WebToken"]}).status_code == 401


def test_cli_token_drives_mwaa_style_cli_requests(local_aws: AwsLocal, deployed_dag: str) -> None:
    """As an MWAA script does it: POST the command to https?://{WebServerHostname}/aws_mwaa/cli with the token."""
    answer = Client("local").create_cli_token(Name="local")
    _fits("CreateCliToken", answer)
    response = httpx.post(f"http://{answer['WebServerHostname']}/aws_mwaa/cli", content="dags list -o json",
                          headers={"Authorization": f"Bearer {answer['CliToken']}", "Content-Type": "text/plain"},
                          timeout=120)
    assert response.status_code == 200
    stdout = base64.b64decode(response.json()["stdout"]).decode()
    assert deployed_dag in [d["dag_id"] for d in json.loads(stdout)]
    assert isinstance(base64.b64decode(response.json()["stderr"]), bytes)


def test_invoke_rest_api_triggers_and_reads_the_run(local_aws: AwsLocal, deployed_dag: str) -> None:
    """List DAGs, trigger a run, read it until the worker finishes it: every answer fits the model."""
    mwaa = Client("local")
    listed = mwaa.invoke_rest_api(Name="local", Path="/dags", Method="GET", QueryParameters={"limit": 10})
    _fits("InvokeRestApi", listed)
    assert listed["RestApiStatusCode"] == 200 and listed["RestApiResponse"]["total_entries"] >= 1
    triggered = mwaa.invoke_rest_api(Name="local", Path=f"/dags/{deployed_dag}/dagRuns", Method="POST",
                                     Body={"dag_run_id": "from_client", "logical_date": None, "conf": {"a": 1}})
    _fits("InvokeRestApi", triggered)
    assert triggered["RestApiResponse"]["dag_run_id"] == "from_client"

    def finished() -> str | None:
        run = mwaa.invoke_rest_api(Name="local", Path=f"/dags/{deployed_dag}/dagRuns/from_client", Method="GET")
        state = run["RestApiResponse"]["state"]
        return state if state in ("success", "failed") else None

    assert wait_for(finished, 180, "the triggered run to finish") == "success"


def test_rest_api_errors_raise_modeled_client_errors(local_aws: AwsLocal) -> None:
    """A 404 raises RestApiClientException carrying RestApiStatusCode and RestApiResponse, as botocore parses it."""
    from botocore.exceptions import ClientError
    from botocore.validate import ParamValidator

    mwaa = Client("local")
    with pytest.raises(mwaa.exceptions.RestApiClientException) as caught:
        mwaa.invoke_rest_api(Name="local", Path="/dags/no_such_dag", Method="GET")
    error = caught.value
    assert isinstance(error, ClientError) and error.response["Error"]["Code"] == "RestApiClientException"
    assert error.response["RestApiStatusCode"] == 404 and "detail" in error.response["RestApiResponse"]
    fields = {k: error.response[k] for k in ("RestApiStatusCode", "RestApiResponse")}
    shape = model.service_model().shape_for("RestApiClientException")
    assert not ParamValidator().validate(fields, shape).has_errors()


def test_run_cli_triggers_and_is_audited_with_the_arn(local_aws: AwsLocal, deployed_dag: str) -> None:
    """dags trigger through the CLI endpoint; the endpoint's audit row names the assumed-role ARN."""
    result = Client("local").run_cli(f"dags trigger {deployed_dag} -r via_cli")
    assert result.exit_code == 0, result.stderr
    with sqlite3.connect(local_aws.db()) as conn:
        owners = {r[0] for r in conn.execute("SELECT owner FROM log WHERE event = 'cli_endpoint'")}
    assert any(o.startswith("arn:aws:sts::123456789012:assumed-role/local-Admin/") for o in owners)


def test_upload_requirements_checks_then_uploads(local_aws: AwsLocal, tmp_path: Path) -> None:
    """A requirements file dag_sync would refuse is refused before upload; a good one gets an S3 version."""
    from runtime.errors import UserError

    bad = tmp_path / "bad.txt"
    bad.write_text("-e git+https://example.invalid/x.git\n")
    with pytest.raises(UserError, match="line 1"):
        Client("local").upload_requirements(bad)
    good = tmp_path / "requirements.txt"
    good.write_text("# nothing to install\n")
    assert Client("local").upload_requirements(good)["VersionId"]


def _windsock(local: AwsLocal, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WINDSOCK", "AIRFLOW"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "runtime.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=180)


def test_windsock_env_runs_the_cli_remotely_and_login_prints_a_link(local_aws: AwsLocal, deployed_dag: str) -> None:
    """windsock --env local dags list prints the remote DAGs; login --print gives a working one-time link."""
    listed = _windsock(local_aws, "--env", "local", "dags", "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert deployed_dag in [d["dag_id"] for d in json.loads(listed.stdout)]
    refused = _windsock(local_aws, "--env", "local", "db", "reset")
    assert refused.returncode == 1 and refused.stderr.startswith("windsock: error:") and "not allowed" in refused.stderr
    link = _windsock(local_aws, "login", "--env", "local", "--print").stdout.strip()
    assert "/aws_mwaa/aws-console-sso?login=true#" in link
    token = link.split("#", 1)[1]
    assert httpx.get(local_aws.web_url + "/login", params={"token": token}).status_code in (200, 303)
