"""``runtime.client.Client``: boto3's ``mwaa`` operations against a Windsock environment.

``Client("prod", session=boto3.Session())`` finds stack ``Windsock-prod``, proves the caller's
IAM identity to the web server (runtime/client/proof.py) and offers ``get_environment``,
``create_web_login_token``, ``create_cli_token`` and ``invoke_rest_api`` with MWAA's request and
response shapes (checked against botocore's ``mwaa`` model), plus ``run_cli`` (MWAA's CLI
endpoint), ``web_login_url`` and the upload helpers ``upload_dags`` / ``upload_requirements``.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from runtime.client import model
from runtime.client.environment import Environment, find
from runtime.client.proof import choose_signer, sign_proof
from runtime.web.auth.protocol import CLI_PATH, CLI_TOKEN_PATH, SSO_PAGE, WEB_LOGIN_PATH
from runtime.web.auth.roles import Role, parse_role

API_PREFIX = "/api/v2"
TOKEN_REUSE_SECONDS = 30.0  # a CLI token lives 60 s (MWAA's and our default); reuse it for half of that


@dataclass(frozen=True)
class CliResult:
    """What a command of the CLI endpoint printed, decoded, and its exit code."""

    stdout: str
    stderr: str
    exit_code: int


class Client:
    """The ``mwaa`` client's operations for Windsock environments (boto3 underneath)."""

    def __init__(self, env_name: str, session: Any = None, *, role: str | None = None, timeout: float = 60.0) -> None:
        import boto3

        self.env_name = env_name
        from runtime import aws

        self.session = session or boto3.Session()
        self.region = self.session.region_name or aws.region()
        self.role: Role | None = parse_role(role) if role else None
        self.timeout = timeout
        self.exceptions = model.exceptions()
        self._environments: dict[str, Environment] = {}
        self._cli_tokens: dict[str, tuple[str, float]] = {}

    # --- MWAA operations -------------------------------------------------------------------

    def get_environment(self, *, Name: str) -> dict[str, Any]:
        """MWAA's GetEnvironment: the stack's status, URL, bucket and settings."""
        model.validate_request("GetEnvironment", {"Name": Name})
        return {"Environment": self.environment(Name, refresh=True).document(), "ResponseMetadata": model.metadata(200)}

    def create_web_login_token(self, *, Name: str) -> dict[str, Any]:
        """MWAA's CreateWebLoginToken: a one-time 60 s token for the web UI (see :meth:`web_login_url`)."""
        model.validate_request("CreateWebLoginToken", {"Name": Name})
        body = self._sign_in(Name, WEB_LOGIN_PATH, "CreateWebLoginToken")
        keys = ("WebToken", "WebServerHostname", "IamIdentity", "AirflowIdentity")
        return {**{k: body[k] for k in keys if k in body}, "ResponseMetadata": model.metadata(200)}

    def create_cli_token(self, *, Name: str) -> dict[str, Any]:
        """MWAA's CreateCliToken: a short-lived bearer token for the CLI endpoint and the REST API."""
        model.validate_request("CreateCliToken", {"Name": Name})
        body = self._sign_in(Name, CLI_TOKEN_PATH, "CreateCliToken")
        return {"CliToken": body["CliToken"], "WebServerHostname": body["WebServerHostname"],
                "ResponseMetadata": model.metadata(200)}

    def invoke_rest_api(self, *, Name: str, Path: str, Method: str, QueryParameters: dict[str, Any] | None = None,
                        Body: dict[str, Any] | None = None) -> dict[str, Any]:
        """MWAA's InvokeRestApi: call ``/api/v2{Path}``; 4xx/5xx raise RestApiClient/ServerException."""
        params: dict[str, Any] = {"Name": Name, "Path": Path, "Method": Method}
        params.update({k: v for k, v in (("QueryParameters", QueryParameters), ("Body", Body)) if v is not None})
        model.validate_request("InvokeRestApi", params, self.exceptions)
        query = urlencode({k: _query_value(v) for k, v in (QueryParameters or {}).items()}, doseq=True)
        url = self.environment(Name, operation="InvokeRestApi").web_url + API_PREFIX + "/" + Path.lstrip("/") + (f"?{query}" if query else "")
        data = json.dumps(Body).encode() if Body is not None else None
        status, payload = self._with_cli_token(Name, Method, url, data, "application/json")
        document = _document(payload)
        if status >= 400:
            code = "RestApiClientException" if status < 500 else "RestApiServerException"
            raise model.client_error(self.exceptions, code, _detail(document, status), "InvokeRestApi", 400,
                                     RestApiStatusCode=status, RestApiResponse=document)
        return {"RestApiStatusCode": status, "RestApiResponse": document, "ResponseMetadata": model.metadata(200)}

    # --- beyond the mwaa model --------------------------------------------------------------

    def run_cli(self, command: str, *, Name: str | None = None) -> CliResult:
        """Run ``command`` (``dags list -o json``) through MWAA's CLI endpoint; its output and exit code."""
        name = Name or self.env_name
        status, payload = self._with_cli_token(name, "POST", self.environment(name).web_url + CLI_PATH,
                                               command.encode(), "text/plain")
        if status != 200:
            raise model.client_error(self.exceptions, "CliEndpointException", _detail(_document(payload), status),
                                     "Cli", status)
        body = json.loads(payload)
        return CliResult(base64.b64decode(body["stdout"]).decode(errors="replace"),
                         base64.b64decode(body["stderr"]).decode(errors="replace"), int(body.get("exit_code", 0)))

    def web_login_url(self, Name: str | None = None) -> str:
        """A fresh one-time sign-in link for the browser (MWAA's ``/aws_mwaa/aws-console-sso`` form)."""
        name = Name or self.env_name
        token = self.create_web_login_token(Name=name)["WebToken"]
        return f"{self.environment(name).web_url}{SSO_PAGE}?login=true#{token}"

    def upload_dags(self, folder: str | Path, *, delete: bool = False, dry_run: bool = False,
                    say: Any = print) -> Any:
        """Upload what changed under ``folder`` to the environment's ``dags/`` (``windsock dags deploy``)."""
        from dag_sync.deploy import deploy
        from runtime.errors import UserError

        root = Path(folder).expanduser()
        if not root.is_dir():
            raise UserError(f"{folder}: not a directory")
        env = self.environment(self.env_name)
        return deploy(self._s3(env), root, env.outputs.bucket, "dags/", delete, dry_run, say)

    def upload_requirements(self, path: str | Path) -> dict[str, Any]:
        """Check ``requirements.txt`` as dag_sync will, then upload it; its key and S3 version."""
        from dag_sync import reqfile
        from dag_sync import s3 as s3io
        from runtime.errors import UserError

        data = Path(path).expanduser().read_bytes()
        checked = reqfile.check(data)
        if checked.refused:
            raise UserError(f"{path}: {checked.refusal()}")
        env = self.environment(self.env_name)
        with s3io.translated(f"cannot upload to s3://{env.outputs.bucket}/requirements.txt"):
            put = self._s3(env).put_object(Bucket=env.outputs.bucket, Key="requirements.txt", Body=data)
        return {"Key": "requirements.txt", "VersionId": put.get("VersionId")}

    # --- plumbing -------------------------------------------------------------------------

    def environment(self, name: str, *, refresh: bool = False, operation: str = "GetEnvironment") -> Environment:
        """The environment's stack (cached); ResourceNotFoundException when there is none."""
        if refresh or name not in self._environments:
            stack = find(self.session.client("cloudformation", region_name=self.region), name)
            if stack is None:
                raise model.client_error(self.exceptions, "ResourceNotFoundException",
                                         f"no Windsock environment {name!r} (stack Windsock-{name})", operation, 404)
            self._environments[name] = Environment.from_stack(name, stack)
        return self._environments[name]

    def _s3(self, env: Environment) -> Any:
        return self.session.client("s3", region_name=env.region)

    def _sign_in(self, name: str, path: str, operation: str) -> dict[str, Any]:
        """Send a fresh proof to ``path``; the JSON answer, or the modeled error."""
        env = self.environment(name, operation=operation)
        try:
            signer = choose_signer(self.session, env.role_arns(), self.role, env.region)
        except PermissionError as exc:
            raise model.client_error(self.exceptions, "AccessDeniedException", str(exc), operation, 403) from None
        proof = sign_proof(signer.credentials, env.sts_endpoint, env.region, env.server_id)
        status, payload = self._http("POST", env.web_url + path, json.dumps(proof).encode(),
                                     {"Content-Type": "application/json"})
        if status != 200:
            code = {401: "AccessDeniedException", 403: "AccessDeniedException", 404: "ResourceNotFoundException",
                    400: "ValidationException"}.get(status, "InternalServerException")
            raise model.client_error(self.exceptions, code, _detail(_document(payload), status), operation, status)
        answer: dict[str, Any] = json.loads(payload)
        return answer

    def _with_cli_token(self, name: str, method: str, url: str, data: bytes | None, content_type: str) -> tuple[int, bytes]:
        """One request with a (reused or fresh) CLI token; a 401 on a reused token retries once with a new one."""
        for attempt in range(2):
            token = self._cli_token(name, fresh=attempt > 0)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type, "Accept": "application/json"}
            status, payload = self._http(method, url, data, headers)
            if status != 401:
                break
        return status, payload

    def _cli_token(self, name: str, *, fresh: bool) -> str:
        cached = self._cli_tokens.get(name)
        if cached is not None and not fresh and time.monotonic() < cached[1]:
            return cached[0]
        token = str(self.create_cli_token(Name=name)["CliToken"])
        self._cli_tokens[name] = (token, time.monotonic() + TOKEN_REUSE_SECONDS)
        return token

    def _http(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        """One HTTP request through botocore's connection pool; (status, body)."""
        from botocore.awsrequest import AWSRequest
        from botocore.exceptions import HTTPClientError
        from botocore.httpsession import URLLib3Session

        request = AWSRequest(method=method, url=url, data=data, headers=headers).prepare()
        try:
            response = URLLib3Session(timeout=self.timeout).send(request)
        except HTTPClientError as exc:
            raise model.client_error(self.exceptions, "InternalServerException",
                                     f"the web server at {url} is not reachable: {exc}", "InvokeRestApi", 503) from None
        return int(response.status_code), bytes(response.content)


def _query_value(value: Any) -> Any:
    """A query parameter as Airflow reads it (booleans as true/false, lists repeated)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return [_query_value(v) for v in value]
    return value


def _document(payload: bytes) -> dict[str, Any]:
    """A response body as MWAA's ``RestApiResponse`` document (non-JSON text under ``content``)."""
    if not payload:
        return {}
    try:
        found = json.loads(payload)
    except ValueError:
        return {"content": payload.decode(errors="replace")}
    return found if isinstance(found, dict) else {"items": found}


def _detail(document: dict[str, Any], status: int) -> str:
    """The server's error message (``detail``), or the status."""
    detail = document.get("detail")
    return detail if isinstance(detail, str) else json.dumps(detail) if detail is not None else f"HTTP {status}"
