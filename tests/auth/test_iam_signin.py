"""IAM sign-in end to end on a moto server that enforces IAM: policies decide the role, STS verifies
every proof, and forged, altered, expired, replayed, other-environment and unmapped proofs are refused."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from runtime.client import Client
from tests.auth.conftest import ENV, ClockedApp, IamCloud, IamWeb

pytestmark = pytest.mark.aws


def _proof(cloud: IamCloud, user: str, *, server_id: str = ENV, endpoint: str | None = None,
           secret: str | None = None) -> dict[str, Any]:
    """A proof signed with ``user``'s own key (or a wrong secret, to forge one)."""
    from runtime.client.proof import sign_proof

    credentials = cloud.session(user, secret).get_credentials().get_frozen_credentials()
    return sign_proof(credentials, endpoint or cloud.endpoint, "us-east-1", server_id)


def _post(web: IamWeb, path: str, proof: dict[str, Any]) -> httpx.Response:
    return httpx.post(web.url + path, json=proof, timeout=30)


def _role_after_login(web: IamWeb, token: str) -> str | None:
    """Redeem a web login token and read the role the UI shows (None if refused)."""
    with httpx.Client(base_url=web.url, timeout=30) as browser:
        if browser.get("/login", params={"token": token}).status_code != 303:
            return None
        page = browser.get("/")
        return page.text.split('<b id="role">', 1)[1].split("<", 1)[0]


def test_admin_policy_gets_a_web_login_token_that_signs_in_as_admin(aws_at: IamCloud, iam_web: IamWeb) -> None:
    """alice has the environment's Admin policy: the client assumes wsauth-Admin and the token signs her in as Admin."""
    mwaa = Client(ENV, session=aws_at.session("alice"))
    answer = mwaa.create_web_login_token(Name=ENV)
    assert answer["IamIdentity"] == "arn:aws:sts::123456789012:assumed-role/wsauth-Admin/alice"
    assert answer["AirflowIdentity"] == "assumed-role/wsauth-Admin/alice"
    assert answer["WebServerHostname"] == iam_web.url.removeprefix("http://")
    assert _role_after_login(iam_web, answer["WebToken"]) == "Admin"


def test_viewer_policy_signs_in_as_viewer_and_may_not_trigger(aws_at: IamCloud, iam_web: IamWeb) -> None:
    """victor's Viewer policy allows only wsauth-Viewer; his CLI token reads DAGs but a trigger is 403."""
    mwaa = Client(ENV, session=aws_at.session("victor"))
    assert _role_after_login(iam_web, mwaa.create_web_login_token(Name=ENV)["WebToken"]) == "Viewer"
    assert mwaa.invoke_rest_api(Name=ENV, Path="/dags", Method="GET")["RestApiStatusCode"] == 200
    with pytest.raises(mwaa.exceptions.RestApiClientException) as refused:
        mwaa.invoke_rest_api(Name=ENV, Path="/dags/example_windsock/dagRuns", Method="POST", Body={})
    assert refused.value.response["RestApiStatusCode"] == 403


def test_asking_for_a_role_the_policy_does_not_grant_is_refused(aws_at: IamCloud, iam_web: IamWeb) -> None:
    """victor asking for Admin: moto refuses AssumeRole (his policy names only wsauth-Viewer)."""
    mwaa = Client(ENV, session=aws_at.session("victor"), role="Admin")
    with pytest.raises(mwaa.exceptions.AccessDeniedException, match="Admin role"):
        mwaa.create_web_login_token(Name=ENV)


def test_identity_mapped_by_arn_signs_in_with_its_own_credentials(aws_at: IamCloud, iam_web: IamWeb) -> None:
    """dora may assume no role, but the mapping names her user ARN: she signs in as Op."""
    answer = Client(ENV, session=aws_at.session("dora")).create_web_login_token(Name=ENV)
    assert answer["IamIdentity"] == aws_at.arn("dora")
    assert _role_after_login(iam_web, answer["WebToken"]) == "Op"


def test_caller_without_policy_or_mapping_is_refused_and_audited(aws_at: IamCloud, iam_web: IamWeb) -> None:
    """mallory proves who she is, but nothing maps her: AccessDeniedException, and an audit row names her ARN."""
    import sqlite3

    mwaa = Client(ENV, session=aws_at.session("mallory"))
    with pytest.raises(mwaa.exceptions.AccessDeniedException, match="no role in this environment"):
        mwaa.create_cli_token(Name=ENV)
    with sqlite3.connect(iam_web.home / "windsock.db") as conn:
        owners = [r[0] for r in conn.execute("SELECT owner FROM log WHERE event = 'iam_sign_in_refused'")]
    assert aws_at.arn("mallory") in owners


def test_forged_proof_is_refused_by_sts(aws_at: IamCloud, iam_web: IamWeb) -> None:
    """A proof signed with alice's key id but a wrong secret: moto's STS answers SignatureDoesNotMatch."""
    response = _post(iam_web, "/iam/web-login-token", _proof(aws_at, "alice", secret="not-her-secret"))
    assert response.status_code == 401 and "SignatureDoesNotMatch" in response.json()["detail"]


def test_unknown_access_key_is_refused_by_sts(aws_at: IamCloud, iam_web: IamWeb) -> None:
    """A proof from a key STS does not know is refused (InvalidClientTokenId)."""
    from botocore.credentials import Credentials

    from runtime.client.proof import sign_proof

    proof = sign_proof(Credentials("AKIAWINDSOCKNOSUCH00", "x" * 40), aws_at.endpoint, "us-east-1", ENV)
    response = _post(iam_web, "/iam/cli-token", proof)
    assert response.status_code == 401 and "InvalidClientTokenId" in response.json()["detail"]


def test_proof_for_another_environment_is_refused(aws_at: IamCloud, iam_web: IamWeb) -> None:
    """Signed for server 'prod': refused here; the header changed to this environment afterwards: STS refuses."""
    other = _proof(aws_at, "alice", server_id="prod")
    response = _post(iam_web, "/iam/web-login-token", other)
    assert response.status_code == 401 and "names server 'prod'" in response.json()["detail"]
    altered = {"body": other["body"], "headers": {**other["headers"], "x-windsock-server-id": ENV}}
    response = _post(iam_web, "/iam/web-login-token", altered)
    assert response.status_code == 401 and "SignatureDoesNotMatch" in response.json()["detail"]


def test_proof_signed_for_another_sts_host_is_never_forwarded(aws_at: IamCloud, iam_web: IamWeb) -> None:
    """A proof whose signed Host is not this server's STS endpoint is refused before any request leaves."""
    proof = _proof(aws_at, "alice", endpoint="https://sts.attacker.example")
    response = _post(iam_web, "/iam/web-login-token", proof)
    assert response.status_code == 401 and "sts.attacker.example" in response.json()["detail"]


def test_replayed_proof_is_refused(aws_at: IamCloud, iam_web: IamWeb, clocked_app: ClockedApp) -> None:
    """A proof works once, on any web process: the second use (here, in another process) is refused."""
    proof = _proof(aws_at, "dora")
    assert _post(iam_web, "/iam/cli-token", proof).status_code == 200
    again = TestClient(clocked_app.app).post("/iam/cli-token", json=proof)
    assert again.status_code == 401 and "already used" in again.json()["detail"]


def test_expired_proof_is_refused(aws_at: IamCloud, clocked_app: ClockedApp) -> None:
    """A proof signed 61 s before the server's clock is refused; one signed 2 min "in the future" too."""
    proof = _proof(aws_at, "dora")
    clocked_app.offset[0] = dt.timedelta(seconds=61)
    response = TestClient(clocked_app.app).post("/iam/web-login-token", json=proof)
    assert response.status_code == 401 and "at most 60 s" in response.json()["detail"]
    clocked_app.offset[0] = dt.timedelta(seconds=-120)
    response = TestClient(clocked_app.app).post("/iam/web-login-token", json=proof)
    assert response.status_code == 401 and "in the future" in response.json()["detail"]


def test_proof_of_another_sts_action_is_refused(aws_at: IamCloud, iam_web: IamWeb) -> None:
    """Only the exact GetCallerIdentity body is forwarded; malformed proofs are 400 with a reason."""
    proof = _proof(aws_at, "alice")
    response = _post(iam_web, "/iam/web-login-token", {**proof, "body": "Action=GetSessionToken&Version=2011-06-15"})
    assert response.status_code == 400 and "GetCallerIdentity" in response.json()["detail"]
    assert _post(iam_web, "/iam/web-login-token", {"headers": "x"}).status_code == 400
    unsigned = {k: v for k, v in proof["headers"].items() if k.lower() != "authorization"}
    assert _post(iam_web, "/iam/web-login-token", {**proof, "headers": unsigned}).status_code == 400


def test_web_login_token_works_once_and_not_after_60_seconds(aws_at: IamCloud, clocked_app: ClockedApp) -> None:
    """The token from IAM sign-in is redeemed once; a second redemption and one after 60 s are refused."""
    client = TestClient(clocked_app.app, base_url="http://127.0.0.1")
    token = client.post("/iam/web-login-token", json=_proof(aws_at, "dora")).json()["WebToken"]
    assert client.get("/login", params={"token": token}, follow_redirects=False).status_code == 303
    assert TestClient(clocked_app.app).get("/login", params={"token": token}).status_code == 401
    late = client.post("/iam/web-login-token", json=_proof(aws_at, "dora")).json()["WebToken"]
    clocked_app.offset[0] = dt.timedelta(seconds=61)
    response = TestClient(clocked_app.app).get("/login", params={"token": late})
    assert response.status_code == 401 and "expired" in response.text


def test_actions_are_audited_with_the_iam_arn(aws_at: IamCloud, iam_web: IamWeb) -> None:
    """A run triggered with alice's CLI token is audited under her assumed-role ARN, with her role."""
    mwaa = Client(ENV, session=aws_at.session("alice"))
    mwaa.invoke_rest_api(Name=ENV, Path="/dags/example_windsock/dagRuns", Method="POST",
                         Body={"dag_run_id": "audited", "logical_date": None})
    import sqlite3

    with sqlite3.connect(iam_web.home / "windsock.db") as conn:
        rows = conn.execute("SELECT owner, extra FROM log WHERE run_id = 'audited'").fetchall()
    assert rows and rows[0][0] == "arn:aws:sts::123456789012:assumed-role/wsauth-Admin/alice"
    assert json.loads(rows[0][1])["role"] == "Admin"


def test_cli_endpoint_runs_allowed_commands_by_role(aws_at: IamCloud, iam_web: IamWeb) -> None:
    """victor may list DAGs through /aws_mwaa/cli but not trigger; unlisted commands and -S are 400."""
    mwaa = Client(ENV, session=aws_at.session("victor"))
    listed = mwaa.run_cli("dags list -o json")
    assert listed.exit_code == 0 and "example_windsock" in [d["dag_id"] for d in json.loads(listed.stdout)]
    for command, status in (("dags trigger example_windsock", 403), ("db reset -y", 400),
                            ("dags list -S /etc", 400), ("", 400)):
        with pytest.raises(mwaa.exceptions.ClientError) as refused:
            mwaa.run_cli(command)
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == status, command


def test_sign_in_is_off_without_an_sts_endpoint(tmp_path: Any) -> None:
    """A server without [webserver] iam_sts_endpoint answers 404 with the setting's name."""
    from tests.web.conftest import make_app

    response = TestClient(make_app(tmp_path).app).post("/iam/cli-token", json={"headers": {}, "body": ""})
    assert response.status_code == 404 and "iam_sts_endpoint" in response.json()["detail"]
