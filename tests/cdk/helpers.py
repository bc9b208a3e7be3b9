"""Readers of a synthesized template shared by the CDK tests."""

from __future__ import annotations

import json
from typing import Any

from tests.cdk.conftest import Synth


def containers(synth: Synth) -> dict[str, dict[str, Any]]:
    """Role -> container definition, from every task definition."""
    out = {}
    for task in synth.resources("AWS::ECS::TaskDefinition").values():
        for container in task["Properties"]["ContainerDefinitions"]:
            out[container["Name"]] = container
    return out


def task_definitions(synth: Synth) -> dict[str, dict[str, Any]]:
    """Service construct id (Scheduler, Worker, Webserver) -> task definition properties."""
    return {
        name.split("TaskDefinition")[0]: task["Properties"]
        for name, task in synth.resources("AWS::ECS::TaskDefinition").items()
    }


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """Name -> value of a container's plain environment."""
    return {item["Name"]: item["Value"] for item in container.get("Environment", [])}


def statements(synth: Synth) -> list[dict[str, Any]]:
    """Every statement of every IAM policy in the stack."""
    return [
        s
        for p in synth.resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def as_list(value: Any) -> list[Any]:
    """A policy field that may be a scalar or a list."""
    return value if isinstance(value, list) else [value]


def policy_of_role(synth: Synth, role_fragment: str) -> list[dict[str, Any]]:
    """Statements of the policies attached to roles whose reference contains ``role_fragment``."""
    found = []
    for policy in synth.resources("AWS::IAM::Policy").values():
        roles = json.dumps(policy["Properties"].get("Roles", []))
        if role_fragment in roles:
            found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return found


def statements_with(synth: Synth, role_fragment: str, action: str) -> list[dict[str, Any]]:
    """The statements of a role's policies that allow ``action``."""
    return [s for s in policy_of_role(synth, role_fragment) if action in as_list(s["Action"])]


def one(synth: Synth, type_name: str) -> dict[str, Any]:
    """The properties of the only resource of a type."""
    found = list(synth.resources(type_name).values())
    assert len(found) == 1, (type_name, len(found))
    return dict(found[0]["Properties"])
