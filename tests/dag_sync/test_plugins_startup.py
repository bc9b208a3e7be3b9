"""plugins.zip (custom operator importable, unsafe archives refused) and startup.sh."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from dag_sync.config import SyncConfig
from dag_sync.entry import prepare_container
from dag_sync.errors import PluginsError, S3UnreachableError, StartupScriptError, SyncError
from dag_sync.plugins import check_archive
from dag_sync.status import read_status
from dag_sync.syncer import Syncer
from tests.dag_sync.conftest import zip_bytes

pytestmark = pytest.mark.aws

OPERATOR = '''
class HelloOperator:
    """A custom operator shipped in plugins.zip."""

    def __init__(self, name):
        self.name = name

    def execute(self, context=None):
        return f"hello {self.name}"
'''
DAG = '''
from windsock_test_plugins.operators import HelloOperator

RESULT = HelloOperator("plugins").execute()
'''


def _run_dag(env: dict[str, str], dag: Path) -> subprocess.CompletedProcess[str]:
    code = f"import runpy; print(runpy.run_path({str(dag)!r})['RESULT'])"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_custom_operator_from_plugins_is_importable_by_a_dag(env: dict[str, str], put: Any) -> None:
    """prepare_container puts the plugins folder on PYTHONPATH; a DAG file imports the operator."""
    put("plugins.zip", zip_bytes({"windsock_test_plugins/__init__.py": "",
                                  "windsock_test_plugins/operators.py": OPERATOR}))
    put("dags/uses_plugin.py", DAG)
    component_env = prepare_container(env)
    cfg = SyncConfig.from_env(env)
    assert str(cfg.plugins_folder) in component_env["PYTHONPATH"].split(os.pathsep)
    done = _run_dag(component_env, cfg.dags_folder / "uses_plugin.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hello plugins"


def test_plugins_change_flips_to_a_new_folder_at_the_same_path(env: dict[str, str], put: Any) -> None:
    """The stable plugins path points at a new versioned folder after a change."""
    syncer = Syncer(SyncConfig.from_env(env))
    put("plugins.zip", zip_bytes({"p.py": "V = 1\n"}))
    syncer.sync_plugins()
    first = os.path.realpath(syncer.cfg.plugins_folder)
    assert syncer.sync_plugins().startswith("plugins: unchanged")
    put("plugins.zip", zip_bytes({"p.py": "V = 2\n"}))
    syncer.sync_plugins()
    assert os.path.realpath(syncer.cfg.plugins_folder) != first
    assert (syncer.cfg.plugins_folder / "p.py").read_text() == "V = 2\n"


@pytest.mark.parametrize("entries,symlinks,reason", [
    ({"../escape.py": "x"}, (), "zip-slip"),
    ({"ok.py": "x", "sub/../../escape.py": "x"}, (), "zip-slip"),
    ({"/etc/evil.py": "x"}, (), "absolute"),
    ({"ok.py": "x"}, ("link_to_etc",), "symlink"),
])
def test_unsafe_plugins_zip_is_rejected_and_nothing_extracted(env: dict[str, str], put: Any, entries: dict[str, str],
                                                             symlinks: tuple[str, ...], reason: str) -> None:
    """Zip-slip, absolute paths and symlinks: clear error, last good plugins stay, nothing written."""
    syncer = Syncer(SyncConfig.from_env(env))
    put("plugins.zip", zip_bytes({"good.py": "G = 1\n"}))
    syncer.sync_plugins()
    good = os.path.realpath(syncer.cfg.plugins_folder)
    put("plugins.zip", zip_bytes(entries, symlinks))
    with pytest.raises(PluginsError, match=reason):
        syncer.sync_plugins()
    assert os.path.realpath(syncer.cfg.plugins_folder) == good
    root = syncer.cfg.state_dir / "plugins"
    assert not (root.parent / "escape.py").exists() and not (syncer.cfg.home / "escape.py").exists()
    assert sorted(p.name for p in root.iterdir()) == sorted(["empty", Path(good).name]) or \
        sorted(p.name for p in root.iterdir()) == [Path(good).name]
    assert read_status(syncer.cfg.home)["plugins"]["state"] == "failed"


def test_oversize_plugins_zip_is_rejected(env: dict[str, str], put: Any, tmp_path: Path) -> None:
    """Both a large archive and a small archive that unpacks past the limit are refused."""
    syncer = Syncer(SyncConfig.from_env({**env, "WINDSOCK_PLUGINS_MAX_BYTES": "10000"}))
    put("plugins.zip", zip_bytes({"big.txt": "0" * 50_000}))  # compresses to well under 10 kB
    with pytest.raises(PluginsError, match="unpacks to 50000 bytes"):
        syncer.sync_plugins()
    put("plugins.zip", os.urandom(20_000))
    with pytest.raises(PluginsError, match="20000 bytes, limit is 10000"):
        syncer.sync_plugins()
    path = tmp_path / "bomb.zip"
    path.write_bytes(zip_bytes({"a": "x" * 100}))
    with zipfile.ZipFile(path) as archive, pytest.raises(PluginsError, match="limit is 10"):
        check_archive(archive, 10)


def test_startup_script_output_is_logged_and_exports_reach_the_component(env: dict[str, str], put: Any) -> None:
    """Exported variables (also with an explicit ``exit 0``) are in the returned environment."""
    put("startup.sh", "echo preparing the worker\nexport TEAM_API_URL=https://api.example\n"
                      "export PYTHONPATH=/opt/team\nexport WINDSOCK_HOME=/hijack\nLOCAL_ONLY=1\nexit 0\n")
    component_env = prepare_container(env)
    cfg = SyncConfig.from_env(env)
    assert component_env["TEAM_API_URL"] == "https://api.example"
    assert "LOCAL_ONLY" not in component_env
    assert component_env["WINDSOCK_HOME"] == env["WINDSOCK_HOME"], "reserved names are not overridable"
    assert component_env["PYTHONPATH"].split(os.pathsep) == [str(cfg.plugins_folder), str(cfg.site_dir), "/opt/team"]
    assert "preparing the worker" in (cfg.state_dir / "startup.log").read_text()
    assert read_status(cfg.home)["startup"]["state"] == "ok"


def test_failing_startup_script_stops_the_start(env: dict[str, str], put: Any) -> None:
    """A non-zero exit raises StartupScriptError naming the exit code and the last output."""
    put("startup.sh", "echo about to fail\nset -e\nfalse_command_that_does_not_exist\necho never\n")
    with pytest.raises(StartupScriptError, match="exited with code 127.*about to fail") as info:
        prepare_container(env)
    assert info.value.exit_code == 127 and isinstance(info.value, SyncError)
    assert read_status(SyncConfig.from_env(env).home)["startup"]["exit_code"] == 127


def test_startup_script_that_hangs_is_stopped_by_the_timeout(env: dict[str, str], put: Any) -> None:
    """Past WINDSOCK_STARTUP_SCRIPT_TIMEOUT the script (and its children) is killed; the start fails."""
    put("startup.sh", "echo waiting\nsleep 30 &\nwait\n")
    with pytest.raises(StartupScriptError, match="timed out after 1 s") as info:
        prepare_container({**env, "WINDSOCK_STARTUP_SCRIPT_TIMEOUT": "1"})
    assert info.value.exit_code is None


def test_pinned_startup_script_version_is_used(env: dict[str, str], put: Any) -> None:
    """WINDSOCK_STARTUP_SCRIPT_S3_OBJECT_VERSION picks an older version of the script."""
    old = put("startup.sh", "export WHICH=old\n")
    put("startup.sh", "export WHICH=new\n")
    assert prepare_container(env)["WHICH"] == "new"
    pinned = prepare_container({**env, "WINDSOCK_STARTUP_SCRIPT_S3_OBJECT_VERSION": str(old)})
    assert pinned["WHICH"] == "old"


def test_pinned_plugins_version_is_used(env: dict[str, str], put: Any) -> None:
    """WINDSOCK_PLUGINS_S3_OBJECT_VERSION keeps the pinned plugins.zip despite newer uploads."""
    old = put("plugins.zip", zip_bytes({"p.py": "V = 'old'\n"}))
    put("plugins.zip", zip_bytes({"p.py": "V = 'new'\n"}))
    syncer = Syncer(SyncConfig.from_env({**env, "WINDSOCK_PLUGINS_S3_OBJECT_VERSION": str(old)}))
    syncer.sync_plugins()
    assert (syncer.cfg.plugins_folder / "p.py").read_text() == "V = 'old'\n"


def test_unreachable_s3_stops_the_start(env: dict[str, str]) -> None:
    """Nothing listening at the endpoint: a SyncError that says S3 cannot be reached."""
    from tests.services import free_port

    dead = {**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    with pytest.raises(S3UnreachableError, match="cannot list s3://"):
        prepare_container(dead)
