"""``windsock dags deploy`` and ``windsock sync once|status``, through the real CLI entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.aws


def _keys(s3: Any, bucket: str, prefix: str) -> dict[str, str]:
    found = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: o["ETag"] for o in found}


def _local_dags(root: Path) -> Path:
    (root / "team").mkdir(parents=True)
    (root / "a.py").write_text("a1")
    (root / "team" / "b.py").write_text("b1")
    (root / ".airflowignore").write_text("skip_.*\n")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    (root / ".DS_Store").write_text("x")
    return root


def test_deploy_uploads_only_changed_files_and_delete_removes(cli: Any, s3: Any, bucket: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """First deploy uploads 3 files, a repeat uploads none, an edit uploads one, --delete removes."""
    root = _local_dags(tmp_path / "dags")
    args = ["dags", "deploy", str(root), "--bucket", bucket, "--prefix", "env1"]
    assert cli(args) == 0
    assert set(_keys(s3, bucket, "env1/")) == {"env1/dags/a.py", "env1/dags/team/b.py", "env1/dags/.airflowignore"}
    assert "3 uploaded, 0 deleted, 0 unchanged" in capsys.readouterr().out

    before = _keys(s3, bucket, "env1/")
    assert cli(args) == 0
    assert "0 uploaded, 0 deleted, 3 unchanged" in capsys.readouterr().out
    assert _keys(s3, bucket, "env1/") == before

    (root / "a.py").write_text("a2")
    (root / "team" / "b.py").unlink()
    assert cli(args) == 0
    out = capsys.readouterr().out
    assert f"upload {root / 'a.py'} -> s3://{bucket}/env1/dags/a.py" in out and "1 uploaded, 0 deleted" in out
    assert "env1/dags/team/b.py" in _keys(s3, bucket, "env1/"), "without --delete nothing is removed"

    assert cli([*args, "--delete"]) == 0
    assert f"delete s3://{bucket}/env1/dags/team/b.py" in capsys.readouterr().out
    assert set(_keys(s3, bucket, "env1/")) == {"env1/dags/a.py", "env1/dags/.airflowignore"}


def test_deploy_then_sync_once_brings_the_files_locally(cli: Any, bucket: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The round trip a user does by hand: deploy, then ``windsock sync once``, then ``status``."""
    root = _local_dags(tmp_path / "dags")
    monkeypatch.setenv("WINDSOCK_HOME", str(tmp_path / "home"))
    assert cli(["dags", "deploy", str(root), "--bucket", bucket, "--prefix", "env1"]) == 0
    assert cli(["sync", "once", "--bucket", bucket, "--prefix", "env1", "--only", "dags"]) == 0
    assert "dags: 3 added, 0 changed, 0 removed" in capsys.readouterr().out
    assert (tmp_path / "home" / "dags" / "team" / "b.py").read_text() == "b1"
    assert cli(["sync", "status"]) == 0
    assert "[dags] ok" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["dags", "deploy", "/no/such/dir", "--bucket", "b"], "/no/such/dir: not a directory"),
    (["dags", "deploy", "{tmp}", "--bucket", "ws-bucket-that-does-not-exist"], "NoSuchBucket"),
    (["sync", "once"], "no bucket: pass --bucket or set WINDSOCK_S3_BUCKET"),
    (["sync", "once", "--bucket", "ws-bucket-that-does-not-exist"], "NoSuchBucket"),
])
def test_user_mistakes_are_one_line_and_non_zero(cli: Any, aws: str, tmp_path: Path, argv: list[str], message: str,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """No traceback: one ``windsock: error:`` line and exit code 1."""
    monkeypatch.delenv("WINDSOCK_S3_BUCKET", raising=False)
    monkeypatch.setenv("WINDSOCK_HOME", str(tmp_path / "home"))
    code = cli([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and err.startswith("windsock: error:") and message in err
