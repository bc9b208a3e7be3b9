"""docs/providers.md stays true: every module its table lists imports with the hook on, the
statuses match the supported list, and each "no" provider is refused by dag_sync."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dag_sync.errors import RequirementsError
from dag_sync.providers import plan
from dag_sync.reqfile import Line
from runtime.compat import provider_deps
from tests.providers.conftest import REPO

DOC = REPO / "docs" / "providers.md"


def rows() -> list[dict[str, str]]:
    found = []
    for line in DOC.read_text().splitlines():
        if line.startswith("| apache-airflow-providers-"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            found.append({"name": cells[0], "version": cells[1], "status": cells[2],
                          "modules": cells[3], "notes": cells[4]})
    return found


def test_the_table_matches_the_supported_providers() -> None:
    supported = provider_deps.supported()
    table = rows()
    assert {r["status"] for r in table} <= {"works", "partly", "no"}
    listed = {r["name"] for r in table if r["status"] != "no"}
    assert listed == set(supported), "every supported provider has a row, and only those are works/partly"
    for row in table:
        if row["status"] == "no":
            assert row["name"] not in supported and not row["modules"]
            with pytest.raises(RequirementsError, match="not supported"):
                plan([Line(1, row["name"])])
        else:
            assert row["version"] == supported[row["name"]] and row["modules"]


def test_every_listed_module_imports_with_the_hook_on(providers_site: Path) -> None:
    modules = [m for row in rows() for m in re.findall(r"`([a-z0-9_.]+)`", row["modules"])]
    assert len(modules) >= 30
    code = ("import importlib, sys\nfrom runtime.compat import install_import_hook\nassert install_import_hook()\n"
            "bad = []\nfor name in sys.argv[1:]:\n"
            "    try:\n        importlib.import_module(name)\n"
            "    except Exception as exc:\n        bad.append(f'{name}: {type(exc).__name__}: {exc}')\n"
            "print('\\n'.join(bad)); sys.exit(1 if bad else 0)\n")
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{providers_site}"}
    done = subprocess.run([sys.executable, "-c", code, *modules], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
