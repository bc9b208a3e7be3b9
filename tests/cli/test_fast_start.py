"""The CLI starts fast: each command imports only what it uses (checked in sys.modules, never timed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("sqlalchemy", "jinja2", "runtime.sdk", "pendulum", "croniter", "boto3", "alembic", "cryptography")

# Runs a command in-process, then prints which heavy modules it imported.
PROBE = """
import json, sys
from runtime.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted({name for name in sys.modules for top in %r if name == top or name.startswith(top + ".")})
print("\\n" + json.dumps({"code": code, "heavy": heavy}))
"""


def imported(tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    """Exit code of ``windsock ARGS`` in a fresh interpreter and the heavy top-level modules it loaded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WINDSOCK", "AIRFLOW__"))}
    env.update(WINDSOCK_HOME=str(tmp_path), PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", PROBE % (HEAVY,), *args], capture_output=True, text=True,
                          env=env, timeout=60)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    tops = {name for name in report["heavy"] if name in HEAVY or name.split(".")[0] in HEAVY}
    return report["code"], {t if t in HEAVY else t.split(".")[0] for t in tops}


def test_help_imports_no_sqlalchemy_jinja2_or_sdk(tmp_path: Path) -> None:
    """``windsock --help`` builds the whole parser without loading SQLAlchemy, Jinja2, the SDK or boto3."""
    code, heavy = imported(tmp_path, "--help")
    assert code == 0
    assert heavy == set()


@pytest.mark.parametrize("args", [["version"], ["--version"], ["config", "list"], ["config", "get-value", "core", "executor"],
                                  ["dags", "--help"], ["sync", "status"]])
def test_commands_that_read_only_settings_load_nothing_heavy(tmp_path: Path, args: list[str]) -> None:
    """version, config and sync status need only the settings: no database library, no SDK."""
    code, heavy = imported(tmp_path, *args)
    assert code == 0
    assert heavy == set()


def test_db_verbs_load_the_store_but_not_the_sdk(tmp_path: Path) -> None:
    """``dags list-runs X`` loads SQLAlchemy for the store, never Jinja2, the SDK or pendulum."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WINDSOCK", "AIRFLOW__"))}
    env.update(WINDSOCK_HOME=str(tmp_path), PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-m", "runtime.cli.main", "db", "init"], env=env, check=True,
                   capture_output=True, timeout=60)
    code, heavy = imported(tmp_path, "dags", "list-runs", "no_such_dag")
    assert code == 1  # the DAG is not there: one line, exit 1
    assert heavy == {"sqlalchemy"}
