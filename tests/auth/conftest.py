"""IAM sign-in fixtures: a moto server that enforces IAM (signatures and policies), users with and
without the environment's policies, a ``windsock webserver`` process verifying proofs with that STS,
and an in-process app over the same database whose clock a test may move.

moto starts without enforcement so the fixture can create users, roles, policies and the stack,
then switches it on (``/moto-api/reset-auth``); from then on every AWS call here is signature- and
policy-checked by moto, so a forged, altered or unauthorised request is refused by real verification.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import services
from tests.web.conftest import ROOT, _stop, _wait_healthy, make_app

ENV = "wsauth"
ACCOUNT = "123456789012"
USERS = ("alice", "victor", "mallory", "dora")
# alice: the environment's Admin policy; victor: its Viewer policy; mallory: nothing; dora: no policy,
# but mapped by her user ARN (the "explicit mapping" path).
POLICIES = {"alice": "Admin", "victor": "Viewer"}
MAPPED_USERS = {"dora": "Op"}


@dataclass
class IamCloud:
    """The enforcing moto server and each user's access key."""

    endpoint: str
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)

    def arn(self, user: str) -> str:
        """A user's ARN."""
        return f"arn:aws:iam::{ACCOUNT}:user/{user}"

    def session(self, user: str, secret: str | None = None) -> Any:
        """A boto3 session with ``user``'s key (and, to forge, another secret)."""
        import boto3

        key_id, real_secret = self.keys[user]
        return boto3.Session(aws_access_key_id=key_id, aws_secret_access_key=secret or real_secret,
                             region_name="us-east-1")

    def enforce(self, on: bool) -> None:
        """Switch moto's IAM enforcement on or off."""
        import requests

        requests.post(f"{self.endpoint}/moto-api/reset-auth", data=b"0" if on else b"inf", timeout=10).raise_for_status()


def _setup(cloud: IamCloud, web_url: str) -> None:
    """Users, keys, the stack (roles + managed policies + outputs) and policy attachments; then enforce."""
    import boto3

    from runtime.cli.aws_local import stack_template

    kw = {"endpoint_url": cloud.endpoint, "region_name": "us-east-1", "aws_access_key_id": "setup",
          "aws_secret_access_key": "setup"}
    iam, cfn = boto3.client("iam", **kw), boto3.client("cloudformation", **kw)
    for user in USERS:
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        cloud.keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
    env = {"WINDSOCK_TASK_QUEUE_URL": "-", "WINDSOCK_DEAD_LETTER_QUEUE_URL": "-", "WINDSOCK_S3_BUCKET": f"{ENV}-bucket",
           "WINDSOCK__WEBSERVER__IAM_STS_ENDPOINT": cloud.endpoint}
    # moto's trust check only understands listed principals (not the account root): list the users.
    template = stack_template(ENV, env, web_url, 1, trusted=[cloud.arn(u) for u in USERS])
    cfn.create_stack(StackName=f"Windsock-{ENV}", TemplateBody=json.dumps(template))
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=f"Windsock-{ENV}")["Stacks"][0]["Outputs"]}
    for user, role in POLICIES.items():
        iam.attach_user_policy(UserName=user, PolicyArn=outputs[f"SignInPolicy{role}"])
    # moto matches CloudFormation's resource patterns only against "*": let everyone find the stack.
    describe = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "cloudformation:DescribeStacks", "Resource": "*"}]})
    for user in USERS:
        iam.put_user_policy(UserName=user, PolicyName="find-stack", PolicyDocument=describe)
    cloud.enforce(True)


@dataclass
class IamWeb:
    """A ``windsock webserver`` verifying proofs with the enforcing moto, and its home."""

    url: str
    home: Path
    env: dict[str, str]


def iam_settings(endpoint: str) -> dict[str, str]:
    """The web server's IAM settings for this environment (role names of the stack, dora by ARN)."""
    mapping = {f"{ENV}-{role}": role for role in ("Admin", "Op", "User", "Viewer")}
    mapping.update({f"arn:aws:iam::{ACCOUNT}:user/{user}": role for user, role in MAPPED_USERS.items()})
    return {"WINDSOCK__WEBSERVER__IAM_STS_ENDPOINT": endpoint, "WINDSOCK__WEBSERVER__IAM_ACCOUNT_ID": ACCOUNT,
            "WINDSOCK__WEBSERVER__IAM_ROLE_MAPPING": json.dumps(mapping), "WINDSOCK_ENV_NAME": ENV}


@pytest.fixture(scope="session")
def iam_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One home: SQLite database initialised and the example DAGs parsed (no scheduler)."""
    home = tmp_path_factory.mktemp("iam-home")
    make_app(home)
    return home


@pytest.fixture(scope="session")
def iam_cloud(iam_web_port: int) -> Iterator[IamCloud]:
    """A dedicated moto server (the session's one stays without enforcement) with users, stack and policies."""
    with services.moto_server() as url:
        cloud = IamCloud(url)
        _setup(cloud, f"http://127.0.0.1:{iam_web_port}")
        yield cloud


@pytest.fixture(scope="session")
def iam_web_port() -> int:
    """The web server's port (the stack's WebUrl names it before the server starts)."""
    return services.free_port()


@pytest.fixture(scope="session")
def iam_web(iam_cloud: IamCloud, iam_home: Path, iam_web_port: int) -> Iterator[IamWeb]:
    """``windsock webserver`` on 127.0.0.1 with IAM sign-in against the enforcing moto."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WINDSOCK", "AIRFLOW", "AWS_"))}
    env.update(WINDSOCK_HOME=str(iam_home), PYTHONPATH=str(ROOT), **iam_settings(iam_cloud.endpoint))
    proc = subprocess.Popen([sys.executable, "-m", "runtime.cli.main", "webserver", "-H", "127.0.0.1", "-p",
                             str(iam_web_port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    output: list[str] = []
    url = f"http://127.0.0.1:{iam_web_port}"
    try:
        _wait_healthy(url, proc, output)
        yield IamWeb(url, iam_home, env)
    finally:
        _stop(proc)


@pytest.fixture
def aws_at(iam_cloud: IamCloud, monkeypatch: pytest.MonkeyPatch) -> IamCloud:
    """boto3 clients of this test reach the enforcing moto (``AWS_ENDPOINT_URL``), with no other credentials."""
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ENDPOINT_URL", iam_cloud.endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return iam_cloud


@dataclass
class ClockedApp:
    """The web app in this process over the same database, with a clock a test moves."""

    app: Any
    settings: Any
    offset: list[dt.timedelta]

    def now(self) -> dt.datetime:
        """The app's time."""
        return dt.datetime.now(dt.UTC) + self.offset[0]


@pytest.fixture
def clocked_app(iam_cloud: IamCloud, iam_home: Path) -> ClockedApp:
    """An in-process app with IAM sign-in whose clock starts at now (``offset[0]`` moves it)."""
    from runtime.settings import Settings
    from runtime.web.app import create_app

    environ = {"WINDSOCK_HOME": str(iam_home), **iam_settings(iam_cloud.endpoint)}
    settings = Settings(iam_home, environ=environ)
    offset = [dt.timedelta(0)]
    holder = ClockedApp(None, settings, offset)
    holder.app = create_app(settings, clock=holder.now)
    return holder
