"""The entrypoint's prepare step with the real dag_sync against moto's S3 (server mode)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runtime.container import cli as container_cli
from runtime.errors import WindsockError
from tests import services

pytestmark = pytest.mark.aws


@pytest.fixture
def entry() -> Any:
    """dag_sync.entry, or a skip naming why it is missing (it is built in another issue)."""
    try:
        return container_cli.dag_sync_entry()
    except WindsockError as exc:
        pytest.skip(str(exc))


def environment(moto_endpoint: str, bucket: str, home: Path) -> dict[str, str]:
    """What ECS gives a container: the stack's variables plus the two injected secrets."""
    return {
        **services.aws_env(moto_endpoint),
        "PATH": "/usr/bin:/bin",
        "WINDSOCK_HOME": str(home),
        "WINDSOCK_S3_BUCKET": bucket,
        "WINDSOCK_S3_PREFIX": "",
        "WINDSOCK_DB_HOST": "db.internal",
        "WINDSOCK_DB_PORT": "5432",
        "WINDSOCK_DB_NAME": "windsock",
        "WINDSOCK_DB_USER": "windsock",
        "WINDSOCK_DB_PASSWORD": "s3cr3t/pw",
        "WINDSOCK_FERNET_SECRET": "f" * 64,
    }


def test_prepare_syncs_runs_startup_and_keeps_credentials_from_user_code(
    entry: Any, moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DAGs land locally, startup.sh exports reach the component, startup.sh never sees the DB URL."""
    for key, value in services.aws_env(moto_endpoint).items():  # boto3 reads the process environment
        monkeypatch.setenv(key, value)
    boto3 = pytest.importorskip("boto3")
    bucket = f"prepare-{tmp_path.name.lower().replace('_', '-')}"[:60]
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="dags/hello.py", Body=b"# a DAG file\n")
    script = b'export GREETING=hi\nexport SAW_DB="${WINDSOCK__DATABASE__SQL_ALCHEMY_CONN:-none}${WINDSOCK_DB_PASSWORD:-}"\n'
    s3.put_object(Bucket=bucket, Key="startup.sh", Body=script)

    env, stop = container_cli.prepare(environment(moto_endpoint, bucket, tmp_path), entry)
    try:
        assert env["GREETING"] == "hi"
        assert env["SAW_DB"] == "none"
        assert (
            env["WINDSOCK__DATABASE__SQL_ALCHEMY_CONN"]
            == "postgresql+psycopg2://windsock:s3cr3t%2Fpw@db.internal:5432/windsock"
        )
        assert "WINDSOCK_DB_PASSWORD" not in env and "WINDSOCK_FERNET_SECRET" not in env
        assert list(tmp_path.rglob("hello.py")), "the DAG file was synced under WINDSOCK_HOME"
    finally:
        stop()
