"""``windsock providers list|install``: real pip runs, the import hook left on, user mistakes in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from runtime.compat.provider_deps import supported
from tests.providers.conftest import base_env, windsock


def test_list_says_which_supported_providers_are_installed(providers_site: Path, tmp_path: Path) -> None:
    pins = supported()
    seen = {r["provider"]: r for r in json.loads(windsock(base_env(tmp_path, providers_site), "providers", "list",
                                                          "-o", "json").stdout)}
    assert set(seen) == set(pins)
    assert seen["apache-airflow-providers-amazon"]["state"] == "installed"
    assert seen["apache-airflow-providers-amazon"]["installed"] == pins["apache-airflow-providers-amazon"]
    bare = {r["provider"]: r["state"] for r in json.loads(windsock(base_env(tmp_path, tmp_path / "empty"), "providers",
                                                                   "list", "-o", "json").stdout)}
    assert bare["apache-airflow-providers-http"] == "missing"


def test_install_an_unsupported_provider_is_one_line(tmp_path: Path) -> None:
    done = windsock(base_env(tmp_path, tmp_path), "providers", "install", "google")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "provider 'google' is not supported" in done.stderr
    assert "amazon" in done.stderr


def test_install_puts_a_provider_beside_windsock_without_airflow(providers_site: Path, tmp_path: Path) -> None:
    """The dependencies from the lock (already there in CI: a no-op), then the provider with --no-deps into DIR;
    a DAG-side import then loads the real provider under Windsock's hook, and Apache Airflow is not installed."""
    target = tmp_path / "site"
    env = base_env(tmp_path / "home", target)
    done = windsock(env, "providers", "install", "http", "--target", str(target), timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "installed 2 provider package(s)" in done.stdout  # http requires common-compat
    assert (target / "airflow" / "providers" / "common" / "compat").is_dir()
    assert (target / "airflow" / "providers" / "http" / "operators" / "http.py").exists()
    assert not (target / "airflow" / "__init__.py").exists()  # a namespace folder: the hook stays on
    assert not list(target.glob("apache_airflow-*.dist-info"))
    listed = {r["provider"]: r["state"] for r in json.loads(windsock(env, "providers", "list", "-o", "json").stdout)}
    assert listed["apache-airflow-providers-http"] == "installed"
    probe = ("import runtime.compat as c; c.install_import_hook(); import airflow.providers.http.operators.http as m; "
             "print(m.__file__)")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().startswith(str(target)), out.stderr[-3000:]


def test_dry_run_prints_the_two_pip_commands(tmp_path: Path) -> None:
    done = windsock(base_env(tmp_path, tmp_path), "providers", "install", "amazon", "--dry-run")
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and len(lines) == 2, done.stderr
    assert "--require-hashes" in lines[0] and "providers-deps.lock" in lines[0]
    assert "--no-deps" in lines[1] and f"apache-airflow-providers-amazon=={supported()['apache-airflow-providers-amazon']}" in lines[1]
