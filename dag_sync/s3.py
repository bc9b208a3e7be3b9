"""Thin S3 adapter: list a prefix, fetch objects, and turn botocore failures into SyncError."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dag_sync.config import SyncConfig
from dag_sync.errors import S3UnreachableError

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class RemoteObject:
    """One object under the DAG prefix: its key, path relative to the prefix, ETag and size."""

    key: str
    rel: str
    etag: str
    size: int


@dataclass(frozen=True)
class Fetched:
    """What a download actually returned (the object may have changed since the listing)."""

    etag: str
    size: int
    version_id: str | None


def client(cfg: SyncConfig, service: str = "s3") -> Any:
    """A boto3 client for ``service`` honouring the configured endpoint and region."""
    import boto3
    from botocore.config import Config

    conf = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60,
                  max_pool_connections=max(10, cfg.download_workers))
    return boto3.client(service, endpoint_url=cfg.endpoint_url, region_name=cfg.region, config=conf)


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Re-raise botocore failures of ``what`` as S3UnreachableError with a one-line reason."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        err = exc.response.get("Error", {})
        raise S3UnreachableError(f"{what}: {err.get('Code', 'error')}: {err.get('Message', exc)}") from exc
    except BotoCoreError as exc:
        raise S3UnreachableError(f"{what}: {exc}") from exc


def list_prefix(s3: Any, bucket: str, prefix: str) -> dict[str, RemoteObject]:
    """Every object under ``prefix`` keyed by its path relative to the prefix."""
    found: dict[str, RemoteObject] = {}
    with translated(f"cannot list s3://{bucket}/{prefix}"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                rel = item["Key"][len(prefix):]
                found[rel] = RemoteObject(item["Key"], rel, item["ETag"].strip('"'), int(item["Size"]))
    return found


def download(s3: Any, bucket: str, key: str, dest: Path, version_id: str | None = None) -> Fetched:
    """Stream one object to ``dest``; returns the ETag/size/version it really had."""
    with translated(f"cannot download s3://{bucket}/{key}"):
        resp = s3.get_object(**_locator(bucket, key, version_id))
        with open(dest, "wb") as out:
            for chunk in resp["Body"].iter_chunks(_CHUNK):
                out.write(chunk)
    return Fetched(resp["ETag"].strip('"'), int(resp["ContentLength"]), resp.get("VersionId"))


def head(s3: Any, bucket: str, key: str, version_id: str | None = None) -> Fetched | None:
    """ETag/size/version of an object, or None when it does not exist."""
    from botocore.exceptions import ClientError

    try:
        with translated(f"cannot read s3://{bucket}/{key}"):
            resp = s3.head_object(**_locator(bucket, key, version_id))
    except S3UnreachableError as exc:
        if _is_missing(exc.__cause__, ClientError):
            return None
        raise
    return Fetched(resp["ETag"].strip('"'), int(resp["ContentLength"]), resp.get("VersionId"))


def get_bytes(s3: Any, bucket: str, key: str, version_id: str | None = None) -> tuple[bytes, Fetched] | None:
    """Whole object in memory (small files: requirements, startup script), or None if missing."""
    from botocore.exceptions import ClientError

    try:
        with translated(f"cannot read s3://{bucket}/{key}"):
            resp = s3.get_object(**_locator(bucket, key, version_id))
            body = resp["Body"].read()
    except S3UnreachableError as exc:
        if _is_missing(exc.__cause__, ClientError) and version_id is None:
            return None
        raise
    return body, Fetched(resp["ETag"].strip('"'), len(body), resp.get("VersionId"))


def _locator(bucket: str, key: str, version_id: str | None) -> dict[str, str]:
    """Bucket/Key(/VersionId) keyword arguments for boto3."""
    loc = {"Bucket": bucket, "Key": key}
    if version_id:
        loc["VersionId"] = version_id
    return loc


def _is_missing(exc: BaseException | None, client_error: type) -> bool:
    """True when a ClientError means the key does not exist."""
    # A missing key is "404"/"NoSuchKey"; a missing bucket is an error, not "no file".
    if not isinstance(exc, client_error):
        return False
    response: dict[str, Any] = getattr(exc, "response", {})
    return str(response.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey", "NotFound")
