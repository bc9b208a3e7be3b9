"""The one factory of boto3 clients: region and endpoint from the environment, bounded retries.

``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_<SERVICE>``) points every client at moto or LocalStack,
as boto3 itself honours them; the region comes from ``AWS_DEFAULT_REGION``/``AWS_REGION``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def region(environ: Mapping[str, str] | None = None) -> str:
    """The AWS region of this process (``us-east-1`` when nothing says otherwise)."""
    env = os.environ if environ is None else environ
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"


def client(service: str, *, environ: Mapping[str, str] | None = None, read_timeout: float = 60.0,
           max_pool_connections: int = 10, max_attempts: int = 3) -> Any:
    """A boto3 client for ``service`` (a fresh session: safe to use from the thread that made it)."""
    import boto3
    from botocore.config import Config

    env = os.environ if environ is None else environ
    conf = Config(retries={"max_attempts": max_attempts, "mode": "standard"}, connect_timeout=5,
                  read_timeout=read_timeout, max_pool_connections=max_pool_connections)
    endpoint = env.get(f"AWS_ENDPOINT_URL_{service.upper()}") or env.get("AWS_ENDPOINT_URL") or None
    keys = {"aws_access_key_id": env.get("AWS_ACCESS_KEY_ID"), "aws_secret_access_key": env.get("AWS_SECRET_ACCESS_KEY"),
            "aws_session_token": env.get("AWS_SESSION_TOKEN")} if environ is not None else {}
    session = boto3.session.Session(**{k: v for k, v in keys.items() if v})
    return session.client(service, region_name=region(env), endpoint_url=endpoint, config=conf)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError (empty for anything else)."""
    response = getattr(exc, "response", None)
    return str((response or {}).get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
