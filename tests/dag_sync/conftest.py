"""Fixtures for dag_sync tests: boto3 clients on the session's moto server, a fresh bucket
and queue per test, and the environment a container would get."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests import services

pytestmark = pytest.mark.aws


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Credentials and endpoint in os.environ (boto3 reads them there); returns the endpoint."""
    for name, value in services.aws_env(moto_endpoint).items():
        monkeypatch.setenv(name, value)
    return moto_endpoint


@pytest.fixture
def s3(aws: str) -> Any:
    """A real boto3 S3 client on the moto server."""
    import boto3

    return boto3.client("s3", endpoint_url=aws, region_name="us-east-1")


@pytest.fixture
def sqs(aws: str) -> Any:
    """A real boto3 SQS client on the moto server."""
    import boto3

    return boto3.client("sqs", endpoint_url=aws, region_name="us-east-1")


@pytest.fixture
def bucket(s3: Any) -> str:
    """A fresh, versioned bucket (as the CDK app creates it)."""
    name = f"ws-test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def make_env(aws: str, bucket: str, home: Path, **extra: str) -> dict[str, str]:
    """The environment of one container syncing ``bucket`` (prefix ``env1``) into ``home``."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("WINDSOCK", "AIRFLOW__"))}
    return {**keep, **services.aws_env(aws), "WINDSOCK_HOME": str(home), "WINDSOCK_S3_BUCKET": bucket,
            "WINDSOCK_S3_PREFIX": "env1", "WINDSOCK_SYNC_POLL_SECONDS": "1",
            "WINDSOCK_SYNC_DEBOUNCE_SECONDS": "0.05", **extra}


@pytest.fixture
def env(aws: str, bucket: str, tmp_path: Path) -> dict[str, str]:
    """Environment of one container; WINDSOCK_HOME is under tmp_path."""
    return make_env(aws, bucket, tmp_path / "home")


@pytest.fixture
def put(s3: Any, bucket: str) -> Callable[..., str | None]:
    """Upload ``body`` under the test prefix; returns the version id."""

    def _put(path: str, body: bytes | str) -> str | None:
        data = body.encode() if isinstance(body, str) else body
        return s3.put_object(Bucket=bucket, Key=f"env1/{path}", Body=data).get("VersionId")

    return _put


def wait_for(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> float:
    """Poll ``check`` until true; returns the seconds it took; fails the test on timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def zip_bytes(entries: Mapping[str, str], symlinks: Iterable[str] = ()) -> bytes:
    """A zip archive with the given text entries (and symlink entries pointing to /etc)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
        for name in symlinks:
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, "/etc")
    return buf.getvalue()


def build_wheel(dest: Path, name: str, version: str, code: str, requires: Iterable[str] = ()) -> Path:
    """Write a minimal pure-Python wheel (no build backend, no network)."""
    dist = f"{name}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {f"{name}/__init__.py": code, f"{dist}/METADATA": meta,
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: windsock-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = [f"{path},sha256={_b64sha(text)},{len(text.encode())}" for path, text in files.items()]
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{name}-{version}-py3-none-any.whl"
    path.write_bytes(zip_bytes(files))
    return path


def _b64sha(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture
def cli() -> Callable[[list[str]], int]:
    """``windsock`` itself: the real ``main`` with every command module registered."""
    from runtime.cli.main import main

    return main
