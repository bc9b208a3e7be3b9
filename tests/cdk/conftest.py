"""Synthesize the CDK app once per session per settings variant (jsii start-up costs seconds)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import services

# jsii's Node runtime starts at the first aws_cdk import; Node 20 is what this machine has.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_TASK_POLICY = REPO / "docs" / "examples" / "worker-task-policy.json"
IMPORTED_KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
IMPORTED_ROLE = "arn:aws:iam::123456789012:role/team/dag-runner"

# Variants cover every branch of the settings that changes resources; each network mode is one.
DEFAULT: dict[str, Any] = {}
LOCKED_DOWN = {
    "env_name": "prod",
    "environment_class": "mw1.large",
    "network_mode": "VPC_ENDPOINTS",
    "web_access_mode": "PRIVATE_ONLY",
    "allowed_cidrs": "10.0.0.0/8,192.168.0.0/16",
    "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000",
    "worker_spot": "true",
    "min_workers": "1",
    "max_workers": "30",
    "schedulers": "3",
    "db_multi_az": "true",
    "db_secret_rotation": "true",
    "container_insights": "true",
    "log_retention_days": "90",
    "requirements_object_version": "3sL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
    "create_kms_key": "true",
    "task_policy_arns": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess,arn:aws:iam::123456789012:policy/team-data",
    "task_policy": str(EXAMPLE_TASK_POLICY),
}
DEV = {
    "env_name": "dev",
    "network_mode": "PUBLIC_SUBNETS",
    "environment_class": "mw1.micro",
    "scheduler_spot": "true",
    "db_deletion_protection": "false",
}
TEAM = {
    "env_name": "team",
    "network_mode": "NAT_INSTANCE",
    "allowed_cidrs": "0.0.0.0/0",
    "kms_key_arn": IMPORTED_KEY,
    "task_role_arn": IMPORTED_ROLE,
    "connections_prefix": "team/connections",
    "variables_prefix": "team/variables",
    "webserver_logs": "false",
    "dag_processing_logs": "false",
    "scheduler_log_level": "warning",
    "task_log_level": "DEBUG",
}


@dataclass
class Synth:
    """One synthesized stack: the assertions view, the raw template and the cloud assembly folder."""

    template: Any  # aws_cdk.assertions.Template
    json: dict[str, Any]
    assembly_dir: Path
    artifact_id: str
    stack: Any  # cdk.stack.WindsockStack

    def resources(self, type_name: str) -> dict[str, dict[str, Any]]:
        """Logical id -> resource of one type."""
        return {k: v for k, v in self.json["Resources"].items() if v["Type"] == type_name}


def _synth(tmp: Path, overrides: dict[str, Any]) -> Synth:
    """Build the app with cdk.json's feature flags plus ``overrides``; synthesize with cdk-nag on."""
    try:
        from aws_cdk.assertions import Template

        from cdk.app import build_app, cdk_json_context
    except ImportError as exc:
        services.unavailable(f"CDK libraries not installed (pip install -e '.[cdk]'): {exc}")
    app, stack = build_app({**cdk_json_context(), **overrides}, outdir=str(tmp))
    assembly = app.synth()  # raises ValidationFailed if cdk-nag has unacknowledged findings
    artifact = assembly.get_stack_artifact(stack.artifact_id)
    template_json = json.loads((tmp / artifact.template_file).read_text())
    return Synth(Template.from_json(template_json), template_json, tmp, stack.artifact_id, stack)


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    """The stack with every default setting."""
    yield _synth(tmp_path_factory.mktemp("cdk-default"), DEFAULT)


@pytest.fixture(scope="session")
def locked_down_synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    """Private ALB with HTTPS, VPC endpoints, Spot workers, multi-AZ DB, rotation, insights."""
    yield _synth(tmp_path_factory.mktemp("cdk-locked"), LOCKED_DOWN)


@pytest.fixture(scope="session")
def dev_synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    """The cheapest mode: tasks in public subnets with no inbound rules."""
    yield _synth(tmp_path_factory.mktemp("cdk-dev"), DEV)


@pytest.fixture(scope="session")
def team_synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    """NAT instance, open web (explicitly), imported key and worker role, two log types off."""
    yield _synth(tmp_path_factory.mktemp("cdk-team"), TEAM)


@pytest.fixture(scope="session", params=["default", "locked_down", "dev", "team"])
def any_synth(request: pytest.FixtureRequest) -> Synth:
    """Each variant in turn, for checks that hold in every mode."""
    return request.getfixturevalue(f"{request.param}_synth")
