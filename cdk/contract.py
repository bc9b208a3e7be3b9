"""The environment of every container: the contract between the stack and ``runtime/container``.

``docs/deployment.md`` lists each variable. Only names and non-secret values go here; the DB
password and the fernet material are ECS secrets (``WindsockStack.container_secrets``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aws_cdk import Aws

from cdk.database.infrastructure import DATABASE_NAME, MASTER_USER
from cdk.queues.infrastructure import WORKER_VISIBILITY_EXTEND_EVERY_SECONDS
from cdk.service.infrastructure import WINDSOCK_HOME
from cdk.web.infrastructure import WEB_PORT

if TYPE_CHECKING:
    from cdk.stack import WindsockStack

# MWAA's secrets backend (Airflow's AWS provider class path), read by roles that run DAG code.
SECRETS_BACKEND = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
SECRETS_ROLES = ("scheduler", "worker")


def environment(stack: WindsockStack, role: str, service: str) -> dict[str, str]:
    """Non-secret environment of the ``role`` container in the ``service`` task."""
    s = stack.settings
    env = {
        "WINDSOCK_ENV_NAME": s.env_name,
        "WINDSOCK_ROLE": role,
        "WINDSOCK_HOME": WINDSOCK_HOME,
        "AWS_DEFAULT_REGION": Aws.REGION,
        "WINDSOCK_S3_BUCKET": stack.storage.bucket.bucket_name,
        "WINDSOCK_S3_PREFIX": "",
        "WINDSOCK_DAGS_S3_PATH": "dags",
        "WINDSOCK_REQUIREMENTS_S3_PATH": "requirements.txt",
        "WINDSOCK_PLUGINS_S3_PATH": "plugins.zip",
        "WINDSOCK_STARTUP_SCRIPT_S3_PATH": "startup.sh",
        "WINDSOCK_SYNC_QUEUE_URL": stack.sync.queues[service].queue_url,
        "WINDSOCK_TASK_QUEUE_URL": stack.tasks.queue.queue_url,
        "WINDSOCK_DEAD_LETTER_QUEUE_URL": stack.tasks.dead_letter_queue.queue_url,
        "WINDSOCK_TASK_VISIBILITY_SECONDS": str(s.task_queue_visibility_seconds),
        "WINDSOCK_TASK_VISIBILITY_EXTEND_SECONDS": str(
            min(WORKER_VISIBILITY_EXTEND_EVERY_SECONDS, s.task_queue_visibility_seconds // 4)
        ),
        "WINDSOCK_DB_HOST": stack.database.instance.db_instance_endpoint_address,
        "WINDSOCK_DB_PORT": stack.database.instance.db_instance_endpoint_port,
        "WINDSOCK_DB_NAME": DATABASE_NAME,
        "WINDSOCK_DB_USER": MASTER_USER,
        "WINDSOCK_WEB_PORT": str(WEB_PORT),
        "WINDSOCK__CORE__EXECUTOR": "SqsExecutor",
        "WINDSOCK__CORE__LOAD_EXAMPLES": "false",
        "WINDSOCK__LOGGING__LOGGING_LEVEL": s.logs(role).level.value,
    }
    env.update(_log_destinations(stack))
    env.update(_role_specific(stack, role))
    env.update(_object_versions(stack))
    return env


def _log_destinations(stack: WindsockStack) -> dict[str, str]:
    """Task and DAG-processing log groups and levels, only for the log types switched on."""
    env: dict[str, str] = {}
    for kind, name in (("task", "TASK"), ("dag_processing", "DAG_PROCESSING")):
        group = stack.log_groups.get(kind)
        if group is not None:
            env[f"WINDSOCK_{name}_LOG_GROUP"] = group.log_group_name
            env[f"WINDSOCK__LOGGING__{name}_LOG_LEVEL"] = stack.settings.logs(kind).level.value
    return env


def _role_specific(stack: WindsockStack, role: str) -> dict[str, str]:
    """Worker concurrency; IAM sign-in for the web server; the secrets backend for the roles that run DAG code."""
    s = stack.settings
    env: dict[str, str] = {}
    if role == "worker":
        env["WINDSOCK_WORKER_CONCURRENCY"] = str(s.worker_concurrency)
    if role == "webserver":
        env.update(stack.sign_in.web_environment())
    if role in SECRETS_ROLES:
        env["AIRFLOW__SECRETS__BACKEND"] = SECRETS_BACKEND
        env["AIRFLOW__SECRETS__BACKEND_KWARGS"] = json.dumps(
            {"connections_prefix": s.connections_prefix, "variables_prefix": s.variables_prefix}
        )
    return env


def _object_versions(stack: WindsockStack) -> dict[str, str]:
    """S3 object versions pinning requirements/plugins/startup script, only those that are set."""
    s = stack.settings
    versions = {
        "WINDSOCK_REQUIREMENTS_S3_OBJECT_VERSION": s.requirements_object_version,
        "WINDSOCK_PLUGINS_S3_OBJECT_VERSION": s.plugins_object_version,
        "WINDSOCK_STARTUP_SCRIPT_S3_OBJECT_VERSION": s.startup_script_object_version,
    }
    return {key: value for key, value in versions.items() if value}
