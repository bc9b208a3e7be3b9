"""requirements.txt: versioned site dirs, shared wheelhouse, protected runtime, broken files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dag_sync.config import SyncConfig
from dag_sync.errors import RequirementsError
from dag_sync.requirements import constraints_text, env_tag, error_line, requirements_hash
from dag_sync.status import read_status
from dag_sync.syncer import Syncer
from tests.dag_sync.conftest import build_wheel, make_env

pytestmark = pytest.mark.aws


def _requirements(wheels: Path, *lines: str) -> str:
    """A requirements.txt that only looks in the test's local wheel folder (no registry)."""
    return "\n".join(["--no-index", f"--find-links {wheels}", *lines]) + "\n"


def _import_version(site: Path, module: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = f"import {module}; print({module}.VERSION, {module}.__file__)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    """A local folder with two versions of a tiny package, built by the test."""
    folder = tmp_path / "wheels"
    build_wheel(folder, "wsdemo", "1.0", "VERSION = '1.0'\n")
    build_wheel(folder, "wsdemo", "2.0", "VERSION = '2.0'\n")
    return folder


def test_requirements_change_installs_into_a_new_site_dir(env: dict[str, str], put: Any, wheels: Path,
                                                          s3: Any, bucket: str) -> None:
    """Each requirements version gets its own site dir; ``current`` moves on success."""
    syncer = Syncer(SyncConfig.from_env(env))
    put("requirements.txt", _requirements(wheels, "wsdemo==1.0"))
    assert "built" in syncer.sync_requirements()
    first = os.path.realpath(syncer.cfg.site_dir)
    assert _import_version(syncer.cfg.site_dir, "wsdemo").startswith("1.0 " + str(syncer.cfg.site_dir))

    text = _requirements(wheels, "wsdemo==2.0")
    put("requirements.txt", text)
    syncer.sync_requirements()
    assert os.path.realpath(syncer.cfg.site_dir) != first
    assert _import_version(syncer.cfg.site_dir, "wsdemo").startswith("2.0")
    sha = requirements_hash(text.encode())
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"env1/.windsock/wheelhouse/{sha}/{env_tag()}/")
    assert {o["Key"].rsplit("/", 1)[1] for o in listed["Contents"]} == {"index.json", "wsdemo-2.0-py3-none-any.whl"}
    assert syncer.sync_requirements().startswith("requirements: unchanged")


def test_other_containers_install_from_the_shared_wheelhouse(aws: str, bucket: str, put: Any, wheels: Path,
                                                             tmp_path: Path) -> None:
    """Once one container built the wheels, another installs offline from S3 (local wheels gone)."""
    put("requirements.txt", _requirements(wheels, "wsdemo==1.0"))
    first = Syncer(SyncConfig.from_env(make_env(aws, bucket, tmp_path / "one")))
    assert "built" in first.sync_requirements()
    shutil.rmtree(wheels)  # the index the file points at is gone: only the S3 wheelhouse has it
    second = Syncer(SyncConfig.from_env(make_env(aws, bucket, tmp_path / "two")))
    assert "wheelhouse" in second.sync_requirements()
    assert _import_version(second.cfg.site_dir, "wsdemo").startswith("1.0")


def test_broken_requirements_keep_the_last_good_environment(env: dict[str, str], put: Any, wheels: Path,
                                                            cli: Any, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """An uninstallable line: RequirementsError with the line, status shows pip's output, env kept."""
    syncer = Syncer(SyncConfig.from_env(env))
    put("requirements.txt", _requirements(wheels, "wsdemo==1.0"))
    syncer.sync_requirements()
    good = os.path.realpath(syncer.cfg.site_dir)
    put("requirements.txt", _requirements(wheels, "# a comment", "wsdemo==9.9"))
    with pytest.raises(RequirementsError, match="line 4") as info:
        syncer.sync_requirements()
    assert info.value.line == 4 and "wsdemo==9.9" in info.value.output
    assert os.path.realpath(syncer.cfg.site_dir) == good
    assert _import_version(syncer.cfg.site_dir, "wsdemo").startswith("1.0")
    status = read_status(syncer.cfg.home)["requirements"]
    assert status["state"] == "failed" and status["error"]["line"] == 4
    assert syncer.sync_requirements().startswith("requirements: unchanged, still failing")

    monkeypatch.setenv("WINDSOCK_HOME", env["WINDSOCK_HOME"])
    assert cli(["sync", "status"]) == 1
    out = capsys.readouterr().out
    assert "[requirements] failed" in out and "line 4" in out and "wsdemo==9.9" in out


def test_a_requirement_cannot_replace_a_runtime_package(env: dict[str, str], put: Any, tmp_path: Path) -> None:
    """The constraints file pins what the runtime has installed: pytest==1.0 is refused."""
    import pytest as runtime_pytest

    folder = tmp_path / "shadow"
    build_wheel(folder, "pytest", "1.0", "VERSION = '1.0'\n")
    syncer = Syncer(SyncConfig.from_env(env))
    put("requirements.txt", _requirements(folder, "pytest==1.0"))
    with pytest.raises(RequirementsError, match="line 3.*conflicting") as info:
        syncer.sync_requirements()
    assert f"(constraint) pytest=={runtime_pytest.__version__}" in info.value.output
    assert f"pytest=={runtime_pytest.__version__}" in constraints_text().splitlines()


def test_empty_requirements_activate_an_empty_site_dir(env: dict[str, str], put: Any) -> None:
    """Comments only (or no requirements.txt at all) needs no pip run."""
    syncer = Syncer(SyncConfig.from_env(env))
    assert "empty" in syncer.sync_requirements()
    put("requirements.txt", "# nothing yet\n")
    assert "empty" in syncer.sync_requirements()
    assert syncer.cfg.site_dir.is_dir()


def test_pip_error_line_from_message_or_package_name() -> None:
    """pip's own '(line N)' wins; else the line naming the package in an ERROR is used."""
    text = b"--no-index\nfoo==1\nbar>=2\n"
    assert error_line("ERROR: Invalid requirement: 'x' (from line 7 of r.txt)", text) == 7
    assert error_line("ERROR: No matching distribution found for bar>=2", text) == 3
    assert error_line("something else", text) is None


def test_pinned_requirements_version_is_used(env: dict[str, str], put: Any) -> None:
    """WINDSOCK_REQUIREMENTS_S3_OBJECT_VERSION installs the pinned file, not the latest upload."""
    old = put("requirements.txt", "# pinned one\n")
    put("requirements.txt", "# latest one\n")
    syncer = Syncer(SyncConfig.from_env({**env, "WINDSOCK_REQUIREMENTS_S3_OBJECT_VERSION": str(old)}))
    syncer.sync_requirements()
    status = read_status(syncer.cfg.home)["requirements"]
    assert status["version_id"] == old and status["requested"] == requirements_hash(b"# pinned one\n")
    assert (syncer.cfg.site_dir / ".windsock_requirements.txt").read_text() == "# pinned one\n"
