"""requirements.txt naming provider packages, synced from S3 (moto) by dag_sync: the supported ones
install without Apache Airflow and leave Windsock's import hook on; an unsupported one, Apache
Airflow itself, a foreign version or a package that pulls Airflow is a clear error in
``windsock sync status`` and the last good environment stays."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dag_sync.config import SyncConfig
from dag_sync.errors import RequirementsError
from dag_sync.status import read_status
from dag_sync.syncer import Syncer
from tests import services
from tests.dag_sync.conftest import build_wheel, make_env
from tests.providers.conftest import REPO

pytestmark = pytest.mark.aws
WHEELS = Path(os.environ.get("WINDSOCK_PROVIDER_WHEELS", REPO / ".cache" / "provider-wheels"))


@pytest.fixture(scope="module")
def provider_wheels() -> Path:
    """The supported providers' wheels in a local folder, so that requirements.txt can say --no-index."""
    if not list(WHEELS.glob("apache_airflow_providers_amazon-*.whl")):
        done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--disable-pip-version-check",
                               "-d", str(WHEELS), "-r", str(REPO / "runtime" / "container" / "providers.in")],
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            services.unavailable(f"cannot download the provider wheels: {done.stderr[-500:]}")
    return WHEELS


@pytest.fixture
def env(aws: str, bucket: str, tmp_path: Path) -> dict[str, str]:
    """dag_sync's environment: the session's moto S3, a fresh bucket, WINDSOCK_HOME in tmp_path."""
    return make_env(aws, bucket, tmp_path / "home")


def _requirements(wheels: Path, *lines: str) -> str:
    return "\n".join(["--no-index", f"--find-links {wheels}", *lines]) + "\n"


def _hook_on_and_imports(site: Path) -> str:
    code = ("from runtime.compat import install_import_hook; assert install_import_hook()\n"
            "from airflow.providers.amazon.aws.operators.s3 import S3CreateObjectOperator\n"
            "import airflow.providers.amazon as a; print(S3CreateObjectOperator.__module__, a.__file__)")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{site}"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_amazon_installs_without_airflow_and_keeps_the_hook_on(env: dict[str, str], put: Any, provider_wheels: Path,
                                                                 tmp_path: Path, cli: Any,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    syncer = Syncer(SyncConfig.from_env(env))
    put("requirements.txt", _requirements(provider_wheels, "apache-airflow-providers-amazon"))
    assert "built" in syncer.sync_requirements()
    site = Path(os.path.realpath(syncer.cfg.site_dir))
    installed = {p.name for p in (site / "airflow" / "providers").iterdir()} | {
        "common." + p.name for p in (site / "airflow" / "providers" / "common").iterdir()}
    assert {"amazon", "http", "common.sql", "common.compat"} <= installed  # the providers amazon requires
    assert not (site / "airflow" / "__init__.py").exists() and not list(site.glob("apache_airflow-*"))
    assert f"airflow.providers.amazon.aws.operators.s3 {site}" in _hook_on_and_imports(site)
    monkeypatch.setenv("WINDSOCK_HOME", env["WINDSOCK_HOME"])
    assert cli(["sync", "status"]) == 0
    shown = capsys.readouterr().out
    assert "  providers:\n" in shown and "    - apache-airflow-providers-amazon==9.39.0" in shown
    assert "    - apache-airflow-providers-common-sql==" in shown

    # An unsupported provider: refused before pip, named in the status, the environment kept.
    put("requirements.txt", _requirements(provider_wheels, "apache-airflow-providers-amazon",
                                          "apache-airflow-providers-google==10.0.0"))
    with pytest.raises(RequirementsError, match="line 4.*apache-airflow-providers-google is not supported") as info:
        syncer.sync_requirements()
    assert info.value.line == 4
    assert Path(os.path.realpath(syncer.cfg.site_dir)) == site
    assert cli(["sync", "status"]) == 1
    out = capsys.readouterr().out
    assert "[requirements] failed" in out and "apache-airflow-providers-google is not supported" in out
    assert "airflow.providers.amazon" in _hook_on_and_imports(syncer.cfg.site_dir)  # the last good one


@pytest.mark.parametrize(("line", "why"), [
    ("apache-airflow==2.10.3", "Windsock replaces Apache Airflow"),
    ("apache-airflow-providers-amazon==8.16.0", "Windsock runs apache-airflow-providers-amazon==9.39.0"),
])
def test_airflow_itself_and_another_provider_version_are_refused(env: dict[str, str], put: Any, line: str,
                                                                why: str, tmp_path: Path) -> None:
    syncer = Syncer(SyncConfig.from_env(env))
    put("requirements.txt", _requirements(tmp_path, line))
    with pytest.raises(RequirementsError, match="line 3") as info:
        syncer.sync_requirements()
    assert why in str(info.value)
    assert read_status(syncer.cfg.home)["requirements"]["state"] == "failed"


def test_a_package_that_pulls_airflow_fails_with_the_reason(env: dict[str, str], put: Any, tmp_path: Path) -> None:
    folder = tmp_path / "wheels"
    build_wheel(folder, "wsplugin", "1.0", "VERSION = '1.0'\n", requires=["apache-airflow>=2.8"])
    build_wheel(folder, "apache_airflow", "2.10.3", "VERSION = '2.10.3'\n")
    syncer = Syncer(SyncConfig.from_env(env))
    put("requirements.txt", _requirements(folder, "wsplugin==1.0"))
    with pytest.raises(RequirementsError, match="needs Apache Airflow itself") as info:
        syncer.sync_requirements()
    assert info.value.line == 3
