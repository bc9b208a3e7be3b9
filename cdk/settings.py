"""Deployment settings read from CDK context (``cdk deploy -c env_name=prod -c max_workers=10``).

Every key, its default and its meaning is listed in ``docs/deployment.md``. Values arrive as
strings from ``-c`` and as JSON values from ``cdk.json``; both are accepted. An environment
class (``-c environment_class=mw1.medium``) fills in sizes first; explicit keys win over it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

from cdk.classes import EnvironmentClass, fargate_size_error, preset


class SettingsError(ValueError):
    """A context value Windsock cannot use; the message names the key."""


class NetworkMode(StrEnum):
    """Where the tasks live and how they reach AWS APIs and the internet."""

    NAT_GATEWAY = "NAT_GATEWAY"  # private subnets + one managed NAT gateway (default)
    NAT_INSTANCE = "NAT_INSTANCE"  # private subnets + one t4g.nano NAT instance (CDK's provider)
    VPC_ENDPOINTS = "VPC_ENDPOINTS"  # private isolated subnets + interface/gateway endpoints
    PUBLIC_SUBNETS = "PUBLIC_SUBNETS"  # tasks in public subnets, public IP, no inbound rules


class WebAccessMode(StrEnum):
    """As in MWAA: an internet-facing or an internal load balancer."""

    PUBLIC_ONLY = "PUBLIC_ONLY"
    PRIVATE_ONLY = "PRIVATE_ONLY"


class LogLevel(StrEnum):
    """MWAA's log levels."""

    CRITICAL = "CRITICAL"
    ERROR = "ERROR"
    WARNING = "WARNING"
    INFO = "INFO"
    DEBUG = "DEBUG"


# MWAA's five log types: scheduler, worker and web server output, task logs, DAG processing logs.
LOG_KINDS = ("scheduler", "worker", "webserver", "task", "dag_processing")
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653)
ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,18}[a-z0-9]$")
IPV4_CIDR = re.compile(r"\d{1,3}(\.\d{1,3}){3}/\d{1,2}")
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
POLICY_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}|aws):policy/[\w+=,.@/-]{1,512}")
KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-zA-Z-]{1,128}")
SECRET_PREFIX = re.compile(r"[A-Za-z0-9/_+=.@-]{1,400}")


@dataclass(frozen=True, kw_only=True)
class RoleSize:
    """CPU units and memory (MiB) of one Fargate task."""

    cpu: int
    memory_mib: int


@dataclass(frozen=True, kw_only=True)
class LogConfig:
    """One MWAA log type: on or off, and its level."""

    enabled: bool
    level: LogLevel


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a deployment can choose; defaults are the cheap-at-idle small environment."""

    env_name: str = "windsock"
    environment_class: EnvironmentClass = EnvironmentClass.SMALL
    network_mode: NetworkMode = NetworkMode.NAT_GATEWAY
    nat_instance_type: str = "t4g.nano"
    vpc_cidr: str = "10.0.0.0/16"
    web_access_mode: WebAccessMode = WebAccessMode.PUBLIC_ONLY
    allowed_cidrs: tuple[str, ...] = ()
    certificate_arn: str = ""
    min_workers: int = 0
    max_workers: int = 10
    worker_concurrency: int = 5
    worker_spot: bool = False
    scheduler_spot: bool = False
    webserver_spot: bool = False
    scale_in_idle_minutes: int = 15
    schedulers: int = 1
    web_in_scheduler_task: bool = False
    web_min: int = 1
    web_max: int = 2
    scheduler_cpu: int = 256
    scheduler_memory: int = 1024
    worker_cpu: int = 1024
    worker_memory: int = 2048
    webserver_cpu: int = 256
    webserver_memory: int = 512
    task_role_arn: str = ""
    task_policy_arns: tuple[str, ...] = ()
    task_policy: str = ""  # a normalized JSON policy document
    kms_key_arn: str = ""
    create_kms_key: bool = False
    connections_prefix: str = "airflow/connections"
    variables_prefix: str = "airflow/variables"
    db_instance_class: str = "t4g.micro"
    db_allocated_storage_gib: int = 20
    db_multi_az: bool = False
    db_deletion_protection: bool = True
    db_backup_retention_days: int = 7
    db_secret_rotation: bool = False
    log_retention_days: int = 30
    scheduler_logs: bool = True
    scheduler_log_level: LogLevel = LogLevel.INFO
    worker_logs: bool = True
    worker_log_level: LogLevel = LogLevel.INFO
    webserver_logs: bool = True
    webserver_log_level: LogLevel = LogLevel.INFO
    task_logs: bool = True
    task_log_level: LogLevel = LogLevel.INFO
    dag_processing_logs: bool = True
    dag_processing_log_level: LogLevel = LogLevel.INFO
    container_insights: bool = False
    task_queue_visibility_seconds: int = 120
    task_queue_max_receive_count: int = 5
    requirements_object_version: str = ""
    plugins_object_version: str = ""
    startup_script_object_version: str = ""
    iam_role_mapping: tuple[tuple[str, str], ...] = ()  # (ARN, ARN pattern or role name; Airflow role)

    def size(self, role: str) -> RoleSize:
        """CPU and memory of the tasks of ``role`` (scheduler, worker, webserver)."""
        return RoleSize(cpu=getattr(self, f"{role}_cpu"), memory_mib=getattr(self, f"{role}_memory"))

    def logs(self, kind: str) -> LogConfig:
        """Whether log type ``kind`` (one of LOG_KINDS) is on, and at which level."""
        return LogConfig(enabled=getattr(self, f"{kind}_logs"), level=getattr(self, f"{kind}_log_level"))

    def spot(self, role: str) -> bool:
        """Whether the service of ``role`` runs on Fargate Spot."""
        return bool(getattr(self, f"{role}_spot"))

    @property
    def prefix(self) -> str:
        """Prefix of every physical name, so several environments share one account."""
        return self.env_name

    @property
    def uses_kms_key(self) -> bool:
        """A customer-managed key encrypts the bucket, queues, secrets, logs and DB."""
        return bool(self.kms_key_arn) or self.create_kms_key


# --- parsing one value ----------------------------------------------------------------------


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    low = str(value).strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"context {key}={value!r}: expected true or false")


def _as_int(key: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SettingsError(f"context {key}={value!r}: expected an integer") from None


def _items(value: Any) -> tuple[str, ...]:
    """A list from cdk.json, or a comma-separated string from ``-c``."""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


def _as_cidrs(key: str, value: Any) -> tuple[str, ...]:
    cidrs = _items(value)
    for cidr in cidrs:
        if not IPV4_CIDR.fullmatch(cidr):
            raise SettingsError(f"context {key}: {cidr!r} is not an IPv4 CIDR")
    return cidrs


def _matching(pattern: re.Pattern[str], what: str) -> Callable[[str, Any], str]:
    def parse(key: str, value: Any) -> str:
        text = str(value).strip()
        if text and not pattern.fullmatch(text):
            raise SettingsError(f"context {key}={text!r}: not {what}")
        return text

    return parse


def _as_policy_arns(key: str, value: Any) -> tuple[str, ...]:
    arns = _items(value)
    for arn in arns:
        if not POLICY_ARN.fullmatch(arn):
            raise SettingsError(
                f"context {key}: {arn!r} is not an IAM policy ARN (arn:aws:iam::ACCOUNT|aws:policy/NAME)"
            )
    return arns


def _enum(kind: type[Enum]) -> Callable[[str, Any], Enum]:
    def parse(key: str, value: Any) -> Enum:
        wanted = str(value).strip()
        for member in kind:
            if str(member.value).lower() == wanted.lower():
                return member
        choices = " | ".join(str(member.value) for member in kind)
        raise SettingsError(f"context {key}={value!r}: expected {choices}")

    return parse


def _policy_from_text(key: str, text: str, source: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"context {key}: {source} line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(document, dict):
        raise SettingsError(f"context {key}: {source} is not a JSON object")
    return document


def _check_policy(key: str, document: dict[str, Any], source: str) -> None:
    """The shape IAM needs: a Statement list whose items have Effect and Action or NotAction."""
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise SettingsError(f"context {key}: {source} has no Statement list")
    for index, statement in enumerate(statements):
        where = f"{source} Statement[{index}]"
        if not isinstance(statement, dict):
            raise SettingsError(f"context {key}: {where} is not an object")
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise SettingsError(f"context {key}: {where} needs Effect Allow or Deny")
        if "Action" not in statement and "NotAction" not in statement:
            raise SettingsError(f"context {key}: {where} needs Action or NotAction")
        if "Principal" in statement or "NotPrincipal" in statement:
            raise SettingsError(f"context {key}: {where} has a Principal; an identity policy must not")


def _as_policy(key: str, value: Any) -> str:
    """A policy document: an object in cdk.json, JSON text, or the path of a JSON file."""
    if isinstance(value, dict):
        document, source = value, "the cdk.json value"
    else:
        text = str(value).strip()
        if not text:
            return ""
        if text.startswith("{"):
            document, source = _policy_from_text(key, text, "the given JSON"), "the given JSON"
        else:
            path = Path(text)
            try:
                content = path.read_text()
            except OSError as exc:
                raise SettingsError(f"context {key}: cannot read {path}: {exc.strerror}") from None
            document, source = _policy_from_text(key, content, str(path)), str(path)
    _check_policy(key, document, source)
    return json.dumps(document, sort_keys=True)


AIRFLOW_ROLES = ("Admin", "Op", "User", "Viewer")
MAPPING_KEY = re.compile(r"arn:aws[a-z-]*:(iam|sts)::[\d*?]{1,12}:\S{1,1000}|[\w+=,.@*?-]{1,64}")


def _as_role_mapping(key: str, value: Any) -> tuple[tuple[str, str], ...]:
    """``{"ARN, ARN pattern or role name": "Admin|Op|User|Viewer"}``: an object in cdk.json or JSON text."""
    mapping = value if isinstance(value, dict) else _policy_from_text(key, str(value), "the given JSON")
    checked: dict[str, str] = {}
    for name, role in mapping.items():
        if not MAPPING_KEY.fullmatch(str(name)):
            raise SettingsError(f"context {key}: {name!r} is neither an IAM/STS ARN (pattern) nor an IAM role name")
        wanted = next((r for r in AIRFLOW_ROLES if r.lower() == str(role).strip().lower()), None)
        if wanted is None:
            raise SettingsError(f"context {key}: {name!r}: role {role!r} is not one of {', '.join(AIRFLOW_ROLES)}")
        checked[str(name)] = wanted
    return tuple(checked.items())


SPECIAL_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "iam_role_mapping": _as_role_mapping,
    "allowed_cidrs": _as_cidrs,
    "vpc_cidr": lambda key, value: _as_cidrs(key, [value])[0],
    "task_role_arn": _matching(ROLE_ARN, "an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"),
    "task_policy_arns": _as_policy_arns,
    "task_policy": _as_policy,
    "kms_key_arn": _matching(KEY_ARN, "a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)"),
    "connections_prefix": _matching(SECRET_PREFIX, "a Secrets Manager name prefix"),
    "variables_prefix": _matching(SECRET_PREFIX, "a Secrets Manager name prefix"),
}


def _parser(name: str, default: Any) -> Callable[[str, Any], Any]:
    if name in SPECIAL_PARSERS:
        return SPECIAL_PARSERS[name]
    if isinstance(default, bool):
        return _as_bool
    if isinstance(default, int):
        return _as_int
    if isinstance(default, Enum):
        return _enum(type(default))
    return lambda key, value: str(value).strip()


# --- checking the whole -----------------------------------------------------------------------


def _check_names_and_counts(s: Settings) -> None:
    """Names, worker and scheduler counts, queue and log numbers."""
    if not ENV_NAME.match(s.env_name):
        raise SettingsError(
            f"context env_name={s.env_name!r}: 2-20 chars, lower-case letters, digits and '-', "
            "starting with a letter"
        )
    if not 0 <= s.min_workers <= s.max_workers or s.max_workers < 1:
        raise SettingsError("context min_workers/max_workers: need 0 <= min_workers <= max_workers, max >= 1")
    if not 1 <= s.schedulers <= 5:
        raise SettingsError(f"context schedulers={s.schedulers}: 1 to 5 (2 or more for failover)")
    if not 1 <= s.web_min <= s.web_max:
        raise SettingsError("context web_min/web_max: need 1 <= web_min <= web_max")
    if s.scale_in_idle_minutes < 1 or s.worker_concurrency < 1:
        raise SettingsError("context scale_in_idle_minutes and worker_concurrency must be >= 1")
    if s.task_queue_visibility_seconds < 20 or s.task_queue_max_receive_count < 1:
        raise SettingsError(
            "context task_queue_visibility_seconds >= 20 and task_queue_max_receive_count >= 1"
        )
    if s.log_retention_days not in LOG_RETENTION_DAYS:
        raise SettingsError(f"context log_retention_days={s.log_retention_days}: one of {LOG_RETENTION_DAYS}")


def _check_sizes(s: Settings) -> None:
    """Every role's (cpu, memory) is a Fargate size; micro's shared task fits both containers."""
    for role in ("scheduler", "worker", "webserver"):
        error = fargate_size_error(s.size(role).cpu, s.size(role).memory_mib)
        if error:
            raise SettingsError(f"context {role}_cpu/{role}_memory: {error}")
    if s.web_in_scheduler_task and s.webserver_spot and not s.scheduler_spot:
        raise SettingsError(
            "context webserver_spot: with web_in_scheduler_task the web server shares the "
            "scheduler's task; set scheduler_spot instead"
        )


def _check_security(s: Settings) -> None:
    """Role, policy and key options that exclude each other."""
    if s.task_role_arn and (s.task_policy_arns or s.task_policy):
        raise SettingsError(
            "context task_role_arn: task_policy_arns/task_policy attach to the worker role the stack "
            "creates; with your own role, attach them to that role instead"
        )
    if s.kms_key_arn and s.create_kms_key:
        raise SettingsError(
            "context kms_key_arn and create_kms_key: choose one (an existing key or a new one)"
        )


def _check(settings: Settings) -> Settings:
    """Reject combinations AWS or Windsock cannot deploy."""
    _check_names_and_counts(settings)
    _check_sizes(settings)
    _check_security(settings)
    return settings


def settings_from_context(get: Callable[[str], Any]) -> Settings:
    """Build the settings from a context getter (``node.try_get_context``); missing keys keep defaults.

    Order: built-in defaults < the environment class's preset < explicit context keys.
    """
    defaults = Settings()
    explicit: dict[str, Any] = {}
    for field in fields(Settings):
        raw = get(field.name)
        if raw is None:
            continue
        explicit[field.name] = _parser(field.name, getattr(defaults, field.name))(field.name, raw)
    environment_class = explicit.get("environment_class", defaults.environment_class)
    return _check(Settings(**{**preset(environment_class), **explicit}))


def settings_from_mapping(context: Mapping[str, Any]) -> Settings:
    """Settings from a plain mapping (tests, scripts)."""
    return settings_from_context(context.get)
