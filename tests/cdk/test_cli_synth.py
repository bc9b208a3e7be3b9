"""`npx cdk synth` works offline with the pinned CLI (the CI step that proves cdk.json and package.json)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import services

pytestmark = pytest.mark.cdk

REPO = Path(__file__).resolve().parents[2]


def test_npx_cdk_synth_writes_the_stack_template(tmp_path: Path) -> None:
    """The pinned aws-cdk CLI reads cdk.json, runs the Python app and writes Windsock.template.json."""
    if shutil.which("npx") is None or not (REPO / "node_modules" / ".bin" / "cdk").exists():
        services.unavailable("the CDK CLI is not installed: run `npm ci` (scripts/test does)")
    env = {
        **os.environ,
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    result = subprocess.run(
        ["npx", "--no-install", "cdk", "synth", "--no-notices", "-q", "-o", str(tmp_path / "cdk.out")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    template = json.loads((tmp_path / "cdk.out" / "Windsock.template.json").read_text())
    assert template["Outputs"]["EnvironmentName"]["Value"] == "windsock"
    assert "dockerImages" in json.loads((tmp_path / "cdk.out" / "Windsock.assets.json").read_text())


def test_pinned_cli_is_a_2x_release() -> None:
    """package.json pins aws-cdk 2.x: the npm `latest` 3.x cannot read aws-cdk-lib 2.x assemblies."""
    spec = json.loads((REPO / "package.json").read_text())["devDependencies"]["aws-cdk"]
    assert spec.startswith("^2.")
    assert json.loads((REPO / "cdk.json").read_text())["cli-telemetry"] is False


def test_python_m_synth_works_without_the_cli(tmp_path: Path) -> None:
    """`python -m cdk.app` synthesizes too (CDK_OUTDIR), with cdk.json's feature flags applied."""
    env = {**os.environ, "CDK_OUTDIR": str(tmp_path), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    env.pop("CDK_CONTEXT_JSON", None)
    result = subprocess.run(
        [sys.executable, "-m", "cdk.app"], cwd=REPO, env=env, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stderr[-3000:]
    template = json.loads((tmp_path / "Windsock.template.json").read_text())
    assert template["Outputs"]["EnvironmentName"]["Value"] == "windsock"
    types = {r["Type"] for r in template["Resources"].values()}
    assert (
        "Custom::VpcRestrictDefaultSG" in types
    )  # the cdk.json flag @aws-cdk/aws-ec2:restrictDefaultSecurityGroup
