"""Deployment settings read from CDK context (``cdk deploy -c env_name=prod -c max_workers=10``).

Every key, its default and its meaning is listed in ``docs/deployment.md``. Values arrive as
strings from ``-c`` and as JSON values from ``cdk.json``; both are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from enum import Enum, StrEnum
from typing import Any


class SettingsError(ValueError):
    """A context value Windsock cannot use; the message names the key."""


class NetworkMode(StrEnum):
    """Where the tasks live and how they reach AWS APIs and the internet."""

    NAT_GATEWAY = "NAT_GATEWAY"  # private subnets + one NAT gateway (default)
    VPC_ENDPOINTS = "VPC_ENDPOINTS"  # private isolated subnets + interface/gateway endpoints
    PUBLIC_SUBNETS = "PUBLIC_SUBNETS"  # tasks in public subnets, public IP, no inbound rules


class WebAccessMode(StrEnum):
    """As in MWAA: an internet-facing or an internal load balancer."""

    PUBLIC_ONLY = "PUBLIC_ONLY"
    PRIVATE_ONLY = "PRIVATE_ONLY"


LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653)
ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,18}[a-z0-9]$")


@dataclass(frozen=True, kw_only=True)
class RoleSize:
    """CPU units and memory (MiB) of one Fargate task."""

    cpu: int
    memory_mib: int


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a deployment can choose; defaults are the cheap-at-idle small environment."""

    env_name: str = "windsock"
    network_mode: NetworkMode = NetworkMode.NAT_GATEWAY
    vpc_cidr: str = "10.0.0.0/16"
    web_access_mode: WebAccessMode = WebAccessMode.PUBLIC_ONLY
    allowed_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    certificate_arn: str = ""
    min_workers: int = 0
    max_workers: int = 10
    worker_concurrency: int = 5
    worker_spot: bool = False
    scale_in_idle_minutes: int = 15
    schedulers: int = 1
    web_min: int = 1
    web_max: int = 2
    scheduler_cpu: int = 512
    scheduler_memory: int = 1024
    worker_cpu: int = 1024
    worker_memory: int = 2048
    webserver_cpu: int = 512
    webserver_memory: int = 1024
    db_instance_class: str = "t4g.micro"
    db_allocated_storage_gib: int = 20
    db_multi_az: bool = False
    db_deletion_protection: bool = True
    db_backup_retention_days: int = 7
    db_secret_rotation: bool = False
    log_retention_days: int = 30
    container_insights: bool = False
    task_queue_visibility_seconds: int = 120
    task_queue_max_receive_count: int = 5
    requirements_object_version: str = ""
    plugins_object_version: str = ""
    startup_script_object_version: str = ""

    def size(self, role: str) -> RoleSize:
        """CPU and memory of the tasks of ``role`` (scheduler, worker, webserver)."""
        return RoleSize(cpu=getattr(self, f"{role}_cpu"), memory_mib=getattr(self, f"{role}_memory"))

    @property
    def prefix(self) -> str:
        """Prefix of every physical name, so several environments share one account."""
        return self.env_name


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


def _as_cidrs(key: str, value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    cidrs = tuple(item.strip() for item in items if str(item).strip())
    for cidr in cidrs:
        if not re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}/\d{1,2}", cidr):
            raise SettingsError(f"context {key}: {cidr!r} is not an IPv4 CIDR")
    return cidrs


def _enum(kind: type[Enum]) -> Callable[[str, Any], Enum]:
    def parse(key: str, value: Any) -> Enum:
        try:
            return kind(str(value).strip().upper())
        except ValueError:
            choices = " | ".join(member.value for member in kind)
            raise SettingsError(f"context {key}={value!r}: expected {choices}") from None

    return parse


def _parser(name: str, default: Any) -> Callable[[str, Any], Any]:
    if isinstance(default, bool):
        return _as_bool
    if isinstance(default, int):
        return _as_int
    if isinstance(default, Enum):
        return _enum(type(default))
    if isinstance(default, tuple):
        return _as_cidrs
    if name.endswith("cidr"):
        return lambda key, value: _as_cidrs(key, [value])[0]
    return lambda key, value: str(value).strip()


def _check(settings: Settings) -> Settings:
    """Reject combinations AWS or Windsock cannot deploy."""
    if not ENV_NAME.match(settings.env_name):
        raise SettingsError(
            f"context env_name={settings.env_name!r}: 2-20 chars, lower-case letters, digits and '-', "
            "starting with a letter"
        )
    if not 0 <= settings.min_workers <= settings.max_workers or settings.max_workers < 1:
        raise SettingsError("context min_workers/max_workers: need 0 <= min_workers <= max_workers, max >= 1")
    if settings.schedulers not in (1, 2):
        raise SettingsError(f"context schedulers={settings.schedulers}: 1 or 2")
    if not 1 <= settings.web_min <= settings.web_max:
        raise SettingsError("context web_min/web_max: need 1 <= web_min <= web_max")
    if settings.scale_in_idle_minutes < 1 or settings.worker_concurrency < 1:
        raise SettingsError("context scale_in_idle_minutes and worker_concurrency must be >= 1")
    if settings.task_queue_visibility_seconds < 20 or settings.task_queue_max_receive_count < 1:
        raise SettingsError(
            "context task_queue_visibility_seconds >= 20 and task_queue_max_receive_count >= 1"
        )
    if settings.log_retention_days not in LOG_RETENTION_DAYS:
        raise SettingsError(
            f"context log_retention_days={settings.log_retention_days}: one of {LOG_RETENTION_DAYS}"
        )
    if not settings.allowed_cidrs:
        raise SettingsError("context allowed_cidrs: at least one CIDR")
    return settings


def settings_from_context(get: Callable[[str], Any]) -> Settings:
    """Build the settings from a context getter (``node.try_get_context``); missing keys keep defaults."""
    defaults = Settings()
    values: dict[str, Any] = {}
    for field in fields(Settings):
        raw = get(field.name)
        if raw is None:
            continue
        default = getattr(defaults, field.name)
        values[field.name] = _parser(field.name, default)(field.name, raw)
    return _check(Settings(**values))


def settings_from_mapping(context: Mapping[str, Any]) -> Settings:
    """Settings from a plain mapping (tests, scripts)."""
    return settings_from_context(context.get)
