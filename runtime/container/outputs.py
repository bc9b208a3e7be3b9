"""Find a deployed environment's endpoints: the CloudFormation outputs of stack ``Windsock-<env>``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runtime.errors import UserError

# Output key -> EnvironmentOutputs field (keys are written by cdk/stack.py).
OUTPUT_FIELDS = {
    "EnvironmentName": "env_name",
    "WebUrl": "web_url",
    "BucketName": "bucket",
    "TaskQueueUrl": "task_queue_url",
    "DeadLetterQueueUrl": "dead_letter_queue_url",
    "DatabaseEndpoint": "database_endpoint",
    "ClusterName": "cluster_name",
}


@dataclass(frozen=True, kw_only=True)
class EnvironmentOutputs:
    """What a client needs to talk to one environment."""

    env_name: str
    web_url: str
    bucket: str
    task_queue_url: str
    dead_letter_queue_url: str
    database_endpoint: str
    cluster_name: str
    extra: dict[str, str]


def stack_name(env_name: str) -> str:
    """The CloudFormation stack of an environment (same rule as cdk/stack.py)."""
    return f"Windsock-{env_name}"


def read_stack_outputs(env_name: str, cloudformation: Any) -> EnvironmentOutputs:
    """Outputs of the environment's stack, read with a boto3 CloudFormation client."""
    name = stack_name(env_name)
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except cloudformation.exceptions.ClientError as exc:
        raise UserError(f"environment {env_name!r}: stack {name} not found ({exc})") from exc
    return outputs_of(env_name, stacks[0])


def outputs_of(env_name: str, stack: dict[str, Any]) -> EnvironmentOutputs:
    """The outputs of one ``describe_stacks`` entry; UserError naming the missing keys."""
    name = stack_name(env_name)
    raw = {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}
    missing = [key for key in OUTPUT_FIELDS if key not in raw]
    if missing:
        raise UserError(f"environment {env_name!r}: stack {name} lacks outputs {', '.join(missing)}")
    known = {field: raw[key] for key, field in OUTPUT_FIELDS.items()}
    return EnvironmentOutputs(**known, extra={k: v for k, v in raw.items() if k not in OUTPUT_FIELDS})
