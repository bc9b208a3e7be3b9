"""IAM sign-in: a caller's signed ``sts:GetCallerIdentity`` request, checked here and verified by STS.

The caller signs (SigV4) a ``GetCallerIdentity`` request for the STS endpoint this server is
configured with, including a header ``X-Windsock-Server-Id`` that names this environment, and
sends the headers and body (not the request). The server checks what it can without AWS
(:func:`check_proof`: the exact body, the STS host, the signed environment header, the signature
time within ``iam_proof_max_age_seconds``), sends the request to its own STS endpoint (never to a
URL the caller chose), and takes the ARN STS answers with. STS refuses a forged or altered
request; the signed header stops a proof made for one environment (or any other service that
checks caller identities this way) from being used at another; the time check and
:func:`record_use` make each proof short-lived and usable once, across every web process.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.store.models import LoginTokenUse
from runtime.web.auth.mapping import Identity
from runtime.web.auth.protocol import BODY, SERVER_ID_HEADER

REQUIRED_SIGNED = ("host", "x-amz-date", SERVER_ID_HEADER)
MAX_HEADERS, MAX_HEADER_BYTES = 20, 8192
AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]{16,128})/(?P<date>\d{8})/(?P<region>[a-z0-9-]{1,32})/"
    r"(?P<service>[a-z0-9-]{1,32})/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;-]{1,1000}), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
AMZ_DATE = "%Y%m%dT%H%M%SZ"
USE_PREFIX = "iam:"  # login_token_use rows of proofs (login tokens' ids are 32 hex digits, no prefix)


class ProofError(Exception):
    """A sign-in proof that is malformed, stale, for another server, refused by STS or already used."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class StsTarget:
    """Where proofs are verified and what they must name: this server's IAM settings."""

    endpoint: str
    server_id: str
    max_age_seconds: float = 60.0

    @property
    def host(self) -> str:
        """The ``Host`` a proof must be signed for (the endpoint's host[:port])."""
        return urlsplit(self.endpoint).netloc.lower()

    @property
    def url(self) -> str:
        """The URL a proof is sent to: the endpoint's scheme, host and ``/``."""
        parts = urlsplit(self.endpoint)
        return f"{parts.scheme}://{parts.netloc}/"


@dataclass(frozen=True)
class Proof:
    """The signed request a caller sent: lower-cased header names to values, and the form body."""

    headers: dict[str, str]
    body: str

    @classmethod
    def from_json(cls, data: Any) -> Proof:
        """A proof from the request JSON ``{"headers": {...}, "body": "..."}``; ProofError (400) otherwise."""
        if not isinstance(data, dict) or not isinstance(data.get("headers"), dict):
            raise ProofError("send a JSON object with 'headers' (the signed request's headers) and 'body'", 400)
        headers = data["headers"]
        if len(headers) > MAX_HEADERS or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise ProofError(f"'headers' must map at most {MAX_HEADERS} names to string values", 400)
        if sum(len(k) + len(v) for k, v in headers.items()) > MAX_HEADER_BYTES:
            raise ProofError("the proof's headers are too large", 400)
        body = data.get("body")
        if not isinstance(body, str):
            raise ProofError("'body' must be the signed request's form body as a string", 400)
        return cls({k.strip().lower(): v.strip() for k, v in headers.items()}, body)

    @property
    def signature(self) -> str:
        """The SigV4 signature (unique per signed request), empty if the header is malformed."""
        found = AUTHORIZATION.match(self.headers.get("authorization", ""))
        return found["signature"] if found else ""


def check_proof(proof: Proof, target: StsTarget, now: dt.datetime) -> None:
    """What can be checked without AWS; ProofError naming the first problem."""
    if proof.body != BODY:
        raise ProofError(f"the signed request must be exactly sts:GetCallerIdentity ({BODY!r})", 400)
    found = AUTHORIZATION.match(proof.headers.get("authorization", ""))
    if found is None:
        raise ProofError("the proof has no valid SigV4 'Authorization' header", 400)
    if found["service"] != "sts":
        raise ProofError(f"the proof is signed for service {found['service']!r}, not 'sts'")
    signed = set(found["signed"].split(";"))
    missing = [name for name in REQUIRED_SIGNED if name not in signed]
    if missing:
        raise ProofError(f"the proof must sign the headers {', '.join(missing)}")
    if not signed <= set(proof.headers):
        raise ProofError(f"signed headers are missing from the proof: {', '.join(sorted(signed - set(proof.headers)))}")
    if proof.headers["host"].lower() != target.host:
        raise ProofError(f"the proof is signed for STS host {proof.headers['host']!r}; this server verifies "
                         f"with {target.host!r}")
    if proof.headers[SERVER_ID_HEADER] != target.server_id:
        raise ProofError(f"the proof names server {proof.headers[SERVER_ID_HEADER]!r}, not this environment "
                         f"({target.server_id!r})")
    _check_time(proof.headers["x-amz-date"], found["date"], target.max_age_seconds, now)


def _check_time(amz_date: str, scope_date: str, max_age: float, now: dt.datetime) -> None:
    try:
        signed_at = dt.datetime.strptime(amz_date, AMZ_DATE).replace(tzinfo=dt.UTC)
    except ValueError:
        raise ProofError(f"X-Amz-Date {amz_date!r} is not of the form YYYYMMDDTHHMMSSZ", 400) from None
    if signed_at.strftime("%Y%m%d") != scope_date:
        raise ProofError("X-Amz-Date and the credential scope's date differ")
    age = (now - signed_at).total_seconds()
    if age > max_age:
        raise ProofError(f"the proof was signed {age:.0f} s ago; at most {max_age:g} s are accepted (sign a fresh one)")
    if age < -max_age:
        raise ProofError(f"the proof is signed {-age:.0f} s in the future; check this machine's clock")


def forwarded_headers(proof: Proof) -> dict[str, str]:
    """The headers sent to STS: the signed ones and the signature, nothing else the caller sent."""
    found = AUTHORIZATION.match(proof.headers["authorization"])
    assert found is not None  # check_proof passed
    names = set(found["signed"].split(";")) | {"authorization"}
    return {name: proof.headers[name] for name in sorted(names)}


def verify_with_sts(proof: Proof, target: StsTarget, timeout: float = 10.0) -> Identity:
    """Send the checked proof to the configured STS endpoint; the identity it names, or ProofError."""
    from botocore.awsrequest import AWSRequest
    from botocore.exceptions import HTTPClientError
    from botocore.httpsession import URLLib3Session

    request = AWSRequest(method="POST", url=target.url, data=proof.body.encode(), headers=forwarded_headers(proof))
    try:
        response = URLLib3Session(timeout=timeout).send(request.prepare())
    except HTTPClientError as exc:
        raise ProofError(f"STS at {target.host} is not reachable: {exc}", 503) from None
    parsed = _parse_sts(response.status_code, dict(response.headers), response.content)
    error = parsed.get("Error") or {}
    if response.status_code >= 300 or error:
        code = error.get("Code") or f"HTTP {response.status_code}"
        status = 503 if response.status_code >= 500 else 401
        raise ProofError(f"STS refused the proof: {code}: {error.get('Message', '')}".rstrip(": "), status)
    if not parsed.get("Arn"):
        raise ProofError("STS answered without an ARN", 503)
    return Identity(arn=str(parsed["Arn"]), account=str(parsed.get("Account", "")), user_id=str(parsed.get("UserId", "")))


def _parse_sts(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """STS's XML answer parsed by botocore's query-protocol parser with STS's own model."""
    import botocore.session
    from botocore import parsers

    model = botocore.session.get_session().get_service_model("sts").operation_model("GetCallerIdentity")
    try:
        parsed: dict[str, Any] = parsers.create_parser("query").parse(
            {"status_code": status, "headers": headers, "body": body}, model.output_shape)
    except parsers.ResponseParserError:
        raise ProofError(f"STS answered HTTP {status} with a body that is not STS XML", 503) from None
    return parsed


def _use_id(proof: Proof) -> str:
    return USE_PREFIX + hashlib.sha256(proof.signature.encode()).hexdigest()[: 64 - len(USE_PREFIX)]


def refuse_if_used(session: Session, proof: Proof) -> None:
    """ProofError if this proof was used before (a cheap early refusal; :func:`record_use` is the guard)."""
    if session.get(LoginTokenUse, _use_id(proof)) is not None:
        raise ProofError("this proof was already used; sign a fresh one")


def record_use(session: Session, proof: Proof, identity: Identity, now: dt.datetime, max_age: float) -> None:
    """Remember the proof's signature until it could no longer pass the time check; ProofError if it was used."""
    jti = _use_id(proof)
    expires = now + dt.timedelta(seconds=2 * max_age)
    try:
        with session.begin_nested():
            session.add(LoginTokenUse(jti=jti, identity=identity.arn[:500], redeemed_at=now, expires_at=expires))
    except sa.exc.IntegrityError:
        raise ProofError("this proof was already used; sign a fresh one") from None
