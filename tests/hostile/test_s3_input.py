"""Hostile objects in the environment's bucket (moto's server): bad keys and requirements.txt options."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from dag_sync.status import read_status
from tests.dag_sync.conftest import aws, bucket, build_wheel, env, put, s3  # noqa: F401 - fixtures

pytestmark = pytest.mark.aws

LONG_NAME = "a" * 300 + ".py"  # 303 bytes: S3 takes it (keys go to 1024), no local file system does
LONG_UTF8 = "é" * 130 + ".py"  # 130 characters but 263 bytes


@pytest.fixture
def sync_cli(env: dict[str, str], monkeypatch: pytest.MonkeyPatch,  # noqa: F811
             capsys: pytest.CaptureFixture[str]) -> Any:
    """``windsock ARGS`` in-process with the container's environment; (code, stdout, stderr)."""
    from runtime.cli.main import main

    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def call(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return call


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def test_over_long_and_clashing_keys_are_skipped_and_shown(sync_cli: Any, put: Any,  # noqa: F811
                                                          env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    """The good files sync; each bad key is skipped with its reason in ``sync status``; nothing leaks out."""
    put("dags/good.py", "# good\n")
    put(f"dags/{LONG_NAME}", "# long\n")
    put(f"dags/team/{LONG_UTF8}", "# long utf-8\n")
    put("dags/clash.py", "# a file\n")
    put("dags/clash.py/inner.py", "# below a file\n")
    put("dags/sub/", "")  # a folder marker, as the S3 console makes them: ignored, not a warning

    code, out, err = sync_cli("sync", "once", "--only", "dags")
    assert code == 0, err
    assert out.startswith("dags: 2 added") and "3 key(s) skipped, see 'windsock sync status'" in out
    home = Path(env["WINDSOCK_HOME"])
    assert sorted(p.name for p in (home / "dags").iterdir() if not p.name.startswith(".")) == ["clash.py", "good.py"]
    assert all(len(part.encode()) <= 255 for f in _files(tmp_path) for part in f.split("/"))
    assert not any(".staging-" in f for f in _files(home))

    code, out, _ = sync_cli("sync", "status")
    assert code == 0
    assert "[dags] ok (3 key(s) skipped)" in out
    assert f"env1/dags/{LONG_NAME}: a file or folder name in it is 303 bytes long; the limit is 255" in out
    assert f"env1/dags/team/{LONG_UTF8}: a file or folder name in it is 263 bytes long" in out
    assert "env1/dags/clash.py/inner.py: a folder on its path is also a file key" in out

    put("dags/second.py", "# later\n")  # the bad keys do not block later updates
    code, out, _ = sync_cli("sync", "once", "--only", "dags")
    assert code == 0 and out.startswith("dags: 1 added") and (home / "dags" / "second.py").exists()


def test_a_local_write_failure_marks_the_dags_part_failed(sync_cli: Any, put: Any,  # noqa: F811
                                                         env: dict[str, str]) -> None:  # noqa: F811
    """A folder dag_sync must create is a file: one error line, exit 1, and status says failed (not ok)."""
    put("dags/good.py", "# good\n")
    home = Path(env["WINDSOCK_HOME"])
    (home / "sync").mkdir(parents=True)
    (home / "sync" / "dags").write_text("in the way")
    code, out, err = sync_cli("sync", "once", "--only", "dags")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("windsock: error: cannot write the DAG folder:")
    code, out, _ = sync_cli("sync", "status")
    assert code == 1 and "[dags] failed" in out


# --- requirements.txt options -------------------------------------------------------------------


def test_refused_requirement_lines_are_reported_by_number_and_nothing_installs(sync_cli: Any,  # noqa: F811
                                                                            put: Any, env: dict[str, str]) -> None:  # noqa: F811
    """``-e git+http://...`` is no longer "empty": it and the other refused lines are named; pip never runs."""
    put("requirements.txt", "# tools\n-e git+http://example.invalid/repo.git#egg=repo\nrequests==2.31\n"
        "-r /etc/passwd\n--global-option=--evil\nfile:///etc/hosts\n")
    code, out, _ = sync_cli("sync", "once", "--only", "requirements")
    assert code == 1
    assert out.startswith("requirements: FAILED, last good kept: requirements.txt not installed: line 2:")
    for number in (2, 4, 5, 6):
        assert f"line {number}:" in out
    assert "line 3:" not in out  # requests==2.31 is fine
    status = read_status(Path(env["WINDSOCK_HOME"]))["requirements"]
    assert status["state"] == "failed" and status["error"]["line"] == 2 and status["error"]["output"] == ""
    assert not (Path(env["WINDSOCK_HOME"]) / "sync" / "requirements" / "current").exists()


def test_allowed_source_options_are_obeyed_and_shown_with_secrets_masked(sync_cli: Any, put: Any,  # noqa: F811
                                                                        env: dict[str, str],  # noqa: F811
                                                                        tmp_path: Path) -> None:
    """--no-index/--find-links install from the local wheel folder; status lists each source, no password."""
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "wshostile", "1.0", "VERSION = '1.0'\n")
    put("requirements.txt", f"--no-index\n--find-links {wheels}\n"
        "--extra-index-url https://deploy:hunter2@packages.example.invalid/simple\nwshostile==1.0\n")
    code, out, err = sync_cli("sync", "once", "--only", "requirements")
    assert code == 0, out + err
    site = Path(env["WINDSOCK_HOME"]) / "sync" / "requirements" / "current"
    assert (site / "wshostile" / "__init__.py").read_text() == "VERSION = '1.0'\n"
    code, out, _ = sync_cli("sync", "status")
    assert code == 0
    assert f"    - line 1: --no-index\n    - line 2: --find-links {wheels}\n" in out
    assert "    - line 3: --extra-index-url https://deploy:***@packages.example.invalid/simple" in out
    raw = json.dumps(read_status(Path(env["WINDSOCK_HOME"])))
    assert "hunter2" not in raw and "hunter2" not in out


def test_a_file_of_only_options_is_empty_and_says_where_it_would_look(sync_cli: Any, put: Any,  # noqa: F811
                                                                     env: dict[str, str]) -> None:  # noqa: F811
    """Only an --index-url: nothing to install (empty), and the index still shows in the status."""
    put("requirements.txt", "--index-url http://elsewhere.invalid/simple\n")
    code, out, _ = sync_cli("sync", "once", "--only", "requirements")
    assert code == 0 and out.startswith("requirements: empty")
    status = read_status(Path(env["WINDSOCK_HOME"]))["requirements"]
    assert status["sources"] == ["line 1: --index-url http://elsewhere.invalid/simple"]
    assert os.path.realpath(Path(env["WINDSOCK_HOME"]) / "sync" / "requirements" / "current").endswith(
        status["active"])
