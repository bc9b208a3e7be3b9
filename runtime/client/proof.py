"""The caller's side of IAM sign-in: pick the credentials to prove with, and sign the proof.

A deployed environment has one IAM role per Airflow role (``<env>-Admin``, ``-Op``, ``-User``,
``-Viewer``); a team's managed policy lets its people assume one of them. The client assumes the
strongest role it may (or the one asked for) and signs ``sts:GetCallerIdentity`` with those
credentials, so the web server maps the role's ARN. When no role can be assumed, it signs with
the caller's own credentials (an identity the environment maps directly).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from runtime.web.auth.protocol import BODY, NONCE_HEADER, SERVER_ID_HEADER
from runtime.web.auth.roles import Role

ROLE_ORDER = (Role.ADMIN, Role.OP, Role.USER, Role.VIEWER)
SESSION_NAME_CHARS = re.compile(r"[^\w+=,.@-]")
DENIED = {"AccessDenied", "AccessDeniedException", "InvalidClientTokenId"}


@dataclass(frozen=True)
class Signer:
    """Credentials to sign with and the IAM role they came from (None: the caller's own)."""

    credentials: Any
    role: Role | None


def sign_proof(credentials: Any, sts_endpoint: str, region: str, server_id: str) -> dict[str, Any]:
    """A SigV4-signed GetCallerIdentity for ``sts_endpoint`` naming ``server_id``: ``{"headers", "body"}``."""
    import secrets
    from urllib.parse import urlsplit

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    host = urlsplit(sts_endpoint).netloc
    request = AWSRequest(method="POST", url=sts_endpoint.rstrip("/") + "/", data=BODY, headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Host": host, SERVER_ID_HEADER: server_id,
        NONCE_HEADER: secrets.token_hex(16)})
    SigV4Auth(credentials, "sts", region).add_auth(request)
    return {"headers": dict(request.headers.items()), "body": BODY}


def session_name(arn: str) -> str:
    """A RoleSessionName naming the caller (its ARN's last part), so audit rows say who assumed the role."""
    name = SESSION_NAME_CHARS.sub("-", arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1])[:64]
    return name if len(name) >= 2 else "windsock-client"


def choose_signer(session: Any, role_arns: dict[Role, str], wanted: Role | None, region: str) -> Signer:
    """Assume the wanted role, or the strongest of ``role_arns`` the caller may; else its own credentials."""
    from botocore.credentials import Credentials
    from botocore.exceptions import ClientError

    sts = session.client("sts", region_name=region)
    own = session.get_credentials()
    if own is None:
        raise PermissionError("no AWS credentials found (aws configure, AWS_PROFILE or AWS_ACCESS_KEY_ID)")
    candidates = [wanted] if wanted is not None else list(ROLE_ORDER)
    name = session_name(sts.get_caller_identity()["Arn"]) if any(r in role_arns for r in candidates) else ""
    for role in candidates:
        if role not in role_arns:
            continue
        try:
            found = sts.assume_role(RoleArn=role_arns[role], RoleSessionName=name, DurationSeconds=900)["Credentials"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in DENIED:
                continue
            raise
        return Signer(Credentials(found["AccessKeyId"], found["SecretAccessKey"], found["SessionToken"]), role)
    if wanted is not None:
        raise PermissionError(f"you may not assume the environment's {wanted.value} role ({role_arns.get(wanted)})")
    return Signer(own.get_frozen_credentials(), None)
