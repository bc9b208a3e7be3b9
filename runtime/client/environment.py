"""A Windsock environment as the client sees it: its CloudFormation stack's outputs and status.

``cdk deploy`` (cdk/stack.py, cdk/signin/) and ``standalone --aws-local`` (runtime/cli/aws_local.py)
write the same outputs; ``get_environment`` turns them into MWAA's ``Environment`` shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from runtime.container.outputs import EnvironmentOutputs, outputs_of, stack_name
from runtime.web.auth.roles import Role

# Sign-in outputs (written by cdk/signin/infrastructure.py and runtime/cli/aws_local.py).
SERVER_ID, STS_ENDPOINT, CONFIG = "SignInServerId", "SignInStsEndpoint", "EnvironmentConfig"
ROLE_OUTPUT = "SignInRole"  # + Admin|Op|User|Viewer: the role ARN
POLICY_OUTPUT = "SignInPolicy"  # + Admin|Op|User|Viewer: the managed policy ARN
# CloudFormation stack status -> MWAA environment status.
STATUS = {
    "CREATE_IN_PROGRESS": "CREATING", "CREATE_FAILED": "CREATE_FAILED", "CREATE_COMPLETE": "AVAILABLE",
    "ROLLBACK_IN_PROGRESS": "ROLLING_BACK", "ROLLBACK_FAILED": "CREATE_FAILED", "ROLLBACK_COMPLETE": "CREATE_FAILED",
    "UPDATE_IN_PROGRESS": "UPDATING", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS": "UPDATING", "UPDATE_COMPLETE": "AVAILABLE",
    "UPDATE_ROLLBACK_IN_PROGRESS": "ROLLING_BACK", "UPDATE_ROLLBACK_FAILED": "UPDATE_FAILED",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS": "UPDATE_FAILED", "UPDATE_ROLLBACK_COMPLETE": "UPDATE_FAILED",
    "DELETE_IN_PROGRESS": "DELETING", "DELETE_FAILED": "UNAVAILABLE", "DELETE_COMPLETE": "DELETED",
    "IMPORT_COMPLETE": "AVAILABLE", "IMPORT_IN_PROGRESS": "UPDATING",
}


@dataclass(frozen=True)
class Environment:
    """One environment's stack: outputs, status, ARN, creation time, region and account."""

    name: str
    outputs: EnvironmentOutputs
    stack_status: str
    stack_id: str
    created_at: Any

    @classmethod
    def from_stack(cls, name: str, stack: dict[str, Any]) -> Environment:
        """From one ``describe_stacks`` entry (UserError when sign-in outputs are missing)."""
        from runtime.errors import UserError

        outputs = outputs_of(name, stack)
        missing = [key for key in (SERVER_ID, STS_ENDPOINT) if key not in outputs.extra]
        if missing:
            raise UserError(f"environment {name!r}: stack {stack_name(name)} has no IAM sign-in outputs "
                            f"({', '.join(missing)}); redeploy it with this version")
        return cls(name, outputs, str(stack.get("StackStatus", "")), str(stack.get("StackId", "")),
                   stack.get("CreationTime"))

    @property
    def region(self) -> str:
        """The stack's region (from its ARN)."""
        return self.stack_id.split(":")[3] if self.stack_id.count(":") >= 5 else "us-east-1"

    @property
    def web_url(self) -> str:
        """The web server's base URL, without a trailing slash."""
        return self.outputs.web_url.rstrip("/")

    @property
    def hostname(self) -> str:
        """MWAA's ``WebserverUrl``/``WebServerHostname``: host[:port], no scheme."""
        return urlsplit(self.web_url).netloc

    @property
    def server_id(self) -> str:
        """The value the proof's ``X-Windsock-Server-Id`` header must carry."""
        return self.outputs.extra[SERVER_ID]

    @property
    def sts_endpoint(self) -> str:
        """The STS endpoint the web server verifies proofs with (the proof is signed for its host)."""
        return self.outputs.extra[STS_ENDPOINT]

    def role_arns(self) -> dict[Role, str]:
        """The environment's sign-in role per Airflow role."""
        extra = self.outputs.extra
        return {role: extra[ROLE_OUTPUT + role.value] for role in Role if ROLE_OUTPUT + role.value in extra}

    def config(self) -> dict[str, Any]:
        """The settings the stack published (environment class, workers, web access mode)."""
        try:
            found = json.loads(self.outputs.extra.get(CONFIG, "{}"))
        except ValueError:
            return {}
        return found if isinstance(found, dict) else {}

    def document(self) -> dict[str, Any]:
        """MWAA's ``Environment`` structure for this stack."""
        from runtime.compat.api import __version__ as airflow_version

        config = self.config()
        doc: dict[str, Any] = {
            "Name": self.name, "Arn": self.stack_id, "Status": STATUS.get(self.stack_status, "UNAVAILABLE"),
            "WebserverUrl": self.hostname, "SourceBucketArn": f"arn:aws:s3:::{self.outputs.bucket}",
            "DagS3Path": "dags", "RequirementsS3Path": "requirements.txt", "PluginsS3Path": "plugins.zip",
            "StartupScriptS3Path": "startup.sh", "AirflowVersion": airflow_version,
        }
        if self.created_at is not None:
            doc["CreatedAt"] = self.created_at
        for key, typ in (("EnvironmentClass", str), ("WebserverAccessMode", str), ("MaxWorkers", int),
                         ("MinWorkers", int), ("Schedulers", int), ("MinWebservers", int), ("MaxWebservers", int)):
            if key in config:
                doc[key] = typ(config[key])
        if doc.get("MinWorkers") == 0:  # Windsock scales workers to zero; MWAA's shape has min 1, so leave it out
            del doc["MinWorkers"]
        return doc


def find(cloudformation: Any, name: str) -> dict[str, Any] | None:
    """The ``describe_stacks`` entry of environment ``name``, or None when there is no such stack."""
    from botocore.exceptions import ClientError

    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name(name))["Stacks"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationError":  # CloudFormation's "does not exist"
            return None
        raise
    return stacks[0] if stacks else None
