"""IAM sign-in routes: trade a verified ``sts:GetCallerIdentity`` proof for a web login token or a CLI token.

``POST /iam/web-login-token`` and ``POST /iam/cli-token`` answer with the shapes of MWAA's
``CreateWebLoginToken`` and ``CreateCliToken``; ``GET /aws_mwaa/aws-console-sso#TOKEN`` is the
page MWAA's login URLs point at (its script hands the token to ``/login``). See docs/auth.md.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from runtime.errors import ConfigError
from runtime.store.audit import log_event
from runtime.store.session import transaction
from runtime.web.auth.iam import (
    Proof,
    ProofError,
    StsTarget,
    check_proof,
    record_use,
    refuse_if_used,
    verify_with_sts,
)
from runtime.web.auth.mapping import RoleMapping
from runtime.web.auth.protocol import CLI_TOKEN_PATH, SSO_PAGE, WEB_LOGIN_PATH
from runtime.web.auth.roles import Principal
from runtime.web.auth.tokens import issue_api_token, issue_login_token
from runtime.web.context import WebContext, ctx

SSO_SCRIPT = "/aws_mwaa/sso.js"
PUBLIC = frozenset({WEB_LOGIN_PATH, CLI_TOKEN_PATH, SSO_PAGE, SSO_SCRIPT})
SSO_JS = """(function () {
  var token = window.location.hash.slice(1);
  var note = document.getElementById("note");
  if (!token) { note.textContent = "This link carries no login token; ask for a fresh one (windsock login --env NAME)."; return; }
  window.location.replace("/login?token=" + encodeURIComponent(token));
})();
"""
log = logging.getLogger("windsock.web.signin")
router = APIRouter(include_in_schema=False)


def iam_settings(context: WebContext) -> tuple[StsTarget, RoleMapping]:
    """This server's STS target and role mapping; 404 when IAM sign-in is off, 503 when misconfigured."""
    endpoint = str(context.setting("webserver", "iam_sts_endpoint") or "")
    if not endpoint:
        raise HTTPException(404, "IAM sign-in is not configured on this server ([webserver] iam_sts_endpoint)")
    server_id = str(context.setting("webserver", "iam_server_id") or "")
    if not server_id:
        raise HTTPException(503, "IAM sign-in needs [webserver] iam_server_id (or WINDSOCK_ENV_NAME)")
    try:
        mapping = RoleMapping.parse(str(context.setting("webserver", "iam_role_mapping")),
                                    str(context.setting("webserver", "iam_account_id") or ""))
    except ConfigError as exc:
        raise HTTPException(503, str(exc)) from None
    max_age = float(context.setting("webserver", "iam_proof_max_age_seconds"))
    return StsTarget(endpoint=endpoint, server_id=server_id, max_age_seconds=max_age), mapping


def sign_in(context: WebContext, payload: Any, kind: str) -> Principal:
    """The principal proven by ``payload``; ProofError when it is refused (audited either way)."""
    target, mapping = iam_settings(context)
    now = context.clock()
    proof = Proof.from_json(payload)
    check_proof(proof, target, now)
    with transaction(context.session_factory) as session:
        refuse_if_used(session, proof)
    identity = verify_with_sts(proof, target)
    role = mapping.role_for(identity)
    with transaction(context.session_factory) as session:
        if role is None:
            log_event(session, "iam_sign_in_refused", owner=identity.arn, extra={"kind": kind}, dttm=now)
        else:
            record_use(session, proof, identity, now, target.max_age_seconds)
            log_event(session, "iam_sign_in", owner=identity.arn, extra={"kind": kind, "role": role.value}, dttm=now)
    if role is None:
        raise ProofError(f"{identity.arn} has no role in this environment; ask an admin to map it "
                         "([webserver] iam_role_mapping) or to attach one of the environment's policies", 403)
    return Principal(identity.arn, role)


def airflow_identity(arn: str) -> str:
    """The user name the UI shows for an ARN: its resource part (``assumed-role/ROLE/SESSION``, ``user/NAME``)."""
    return arn.split(":", 5)[5] if arn.count(":") >= 5 else arn


def _refused(exc: ProofError) -> JSONResponse:
    log.warning("IAM sign-in refused: %s", exc)
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)


@router.post(WEB_LOGIN_PATH)
def web_login_token(request: Request, payload: Any = Body(...)) -> Response:
    """MWAA's CreateWebLoginToken: a one-time 60 s login token for the proven identity."""
    context = ctx(request)
    try:
        who = sign_in(context, payload, "web")
    except ProofError as exc:
        return _refused(exc)
    seconds = int(context.setting("webserver", "login_token_seconds"))
    token = issue_login_token(context.signer, who, context.clock(), seconds)
    return JSONResponse({"WebToken": token, "WebServerHostname": request.url.netloc, "IamIdentity": who.identity,
                         "AirflowIdentity": airflow_identity(who.identity)})


@router.post(CLI_TOKEN_PATH)
def cli_token(request: Request, payload: Any = Body(...)) -> Response:
    """MWAA's CreateCliToken: a short-lived bearer token for /aws_mwaa/cli and the REST API."""
    context = ctx(request)
    try:
        who = sign_in(context, payload, "cli")
    except ProofError as exc:
        return _refused(exc)
    seconds = int(context.setting("webserver", "cli_token_seconds"))
    token = issue_api_token(context.signer, who, context.clock(), seconds)
    return JSONResponse({"CliToken": token, "WebServerHostname": request.url.netloc})


@router.get(SSO_PAGE)
def sso_page() -> HTMLResponse:
    """The page of MWAA's login URL (``...?login=true#TOKEN``): its script redeems the token at /login."""
    return HTMLResponse("<!doctype html><html><head><meta charset='utf-8'><title>Signing in</title></head><body>"
                        f"<p id='note'>Signing in...</p><script src='{SSO_SCRIPT}'></script></body></html>")


@router.get(SSO_SCRIPT)
def sso_script() -> Response:
    """The sign-in page's script (a file, so the CSP keeps script-src 'self')."""
    return Response(SSO_JS, media_type="text/javascript")

