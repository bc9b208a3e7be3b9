"""Signed tokens: one-time web login tokens, API bearer tokens and session cookies.

All are itsdangerous-signed JSON with the key of ``[webserver] secret_key`` and an ``exp``
claim; each kind has its own salt, so a token of one kind is never accepted as another.
A login token is one-time across every web process: its id is recorded in the database
(``login_token_use``, primary key) when it is redeemed.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from runtime.errors import ConfigError
from runtime.settings import Settings
from runtime.store.models import LoginTokenUse
from runtime.web.auth.roles import Principal, parse_role

LOGIN, API, SESSION = "windsock.login", "windsock.api", "windsock.session"
KEY_FILE = "webserver_secret_key"


class TokenError(Exception):
    """A token that is forged, of the wrong kind, expired or already used."""


def secret_key(settings: Settings) -> str:
    """``[webserver] secret_key``, else a random key kept in ``$WINDSOCK_HOME`` (mode 0600, one host)."""
    configured = str(settings.get("webserver", "secret_key") or "")
    if configured:
        return configured
    path = Path(settings.home) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    key = path.read_text().strip()
    if len(key) < 32:
        raise ConfigError(f"{path}: the web server key is shorter than 32 characters; delete it to regenerate")
    return key


class Signer:
    """Issues and reads the three kinds of token with one key; the clock is passed in."""

    def __init__(self, key: str) -> None:
        self._key = key

    def dumps(self, kind: str, claims: dict[str, Any], now: dt.datetime, seconds: float) -> str:
        """A signed token of ``kind`` carrying ``claims`` that expires ``seconds`` after ``now``."""
        body = {**claims, "exp": int(now.timestamp() + seconds)}
        return str(URLSafeSerializer(self._key, salt=kind).dumps(body))

    def loads(self, kind: str, token: str, now: dt.datetime) -> dict[str, Any]:
        """The claims of a valid, unexpired token of ``kind``; TokenError otherwise."""
        try:
            body = URLSafeSerializer(self._key, salt=kind).loads(token)
        except BadSignature:
            raise TokenError("the token is not valid (bad signature)") from None
        if not isinstance(body, dict) or not isinstance(body.get("exp"), int):
            raise TokenError("the token is not valid (no expiry)")
        if body["exp"] <= now.timestamp():
            raise TokenError("the token has expired")
        return body


def principal_of(claims: dict[str, Any]) -> Principal:
    """The principal named by a token's ``sub`` and ``role`` claims."""
    try:
        return Principal(str(claims["sub"]), parse_role(str(claims["role"])))
    except (KeyError, ValueError):
        raise TokenError("the token names no valid identity and role") from None


def issue_login_token(signer: Signer, principal: Principal, now: dt.datetime, seconds: float) -> str:
    """A one-time web login token for ``principal``."""
    claims = {"sub": principal.identity, "role": principal.role.value, "jti": secrets.token_hex(16)}
    return signer.dumps(LOGIN, claims, now, seconds)


def redeem_login_token(session: Session, signer: Signer, token: str, now: dt.datetime) -> Principal:
    """The principal of a valid login token, recording its use; TokenError if expired, forged or used."""
    claims = signer.loads(LOGIN, token, now)
    principal = principal_of(claims)
    jti = str(claims.get("jti") or "")
    if not jti:
        raise TokenError("the token is not valid (no id)")
    expires = dt.datetime.fromtimestamp(claims["exp"], dt.UTC)
    try:
        with session.begin_nested():
            session.add(LoginTokenUse(jti=jti, identity=principal.identity, redeemed_at=now, expires_at=expires))
    except sa.exc.IntegrityError:
        raise TokenError("the token was already used") from None
    session.execute(sa.delete(LoginTokenUse).where(LoginTokenUse.expires_at < now - dt.timedelta(days=1)))
    return principal


def issue_api_token(signer: Signer, principal: Principal, now: dt.datetime, seconds: float) -> str:
    """A bearer token for the REST API (``Authorization: Bearer ...``)."""
    return signer.dumps(API, {"sub": principal.identity, "role": principal.role.value}, now, seconds)


def read_api_token(signer: Signer, token: str, now: dt.datetime) -> Principal:
    """The principal of a valid bearer token; TokenError otherwise."""
    return principal_of(signer.loads(API, token, now))


def issue_session(signer: Signer, principal: Principal, now: dt.datetime, seconds: float) -> str:
    """A session cookie value for ``principal`` with a fresh CSRF secret."""
    claims = {"sub": principal.identity, "role": principal.role.value, "csrf": secrets.token_urlsafe(24)}
    return signer.dumps(SESSION, claims, now, seconds)


def read_session(signer: Signer, cookie: str, now: dt.datetime) -> tuple[Principal, str]:
    """The principal and CSRF secret of a valid session cookie; TokenError otherwise."""
    claims = signer.loads(SESSION, cookie, now)
    return principal_of(claims), str(claims.get("csrf") or "")
