"""SyncConfig: every knob of dag_sync, parsed once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from runtime.errors import ConfigError
from runtime.settings import Settings

# Tunables that are not part of the MWAA-shaped contract; documented in docs/dag_sync.md.
_FLOATS = {
    "reconcile_seconds": ("WINDSOCK_SYNC_RECONCILE_SECONDS", 60.0),
    "debounce_seconds": ("WINDSOCK_SYNC_DEBOUNCE_SECONDS", 0.1),
    "max_debounce_seconds": ("WINDSOCK_SYNC_MAX_DEBOUNCE_SECONDS", 2.0),
    "poll_seconds": ("WINDSOCK_SYNC_POLL_SECONDS", 10.0),
    "startup_timeout": ("WINDSOCK_STARTUP_SCRIPT_TIMEOUT", 300.0),
    "pip_timeout": ("WINDSOCK_SYNC_PIP_TIMEOUT", 900.0),
}
_INTS = {
    "max_plugins_bytes": ("WINDSOCK_PLUGINS_MAX_BYTES", 512 * 1024 * 1024),
    "download_workers": ("WINDSOCK_SYNC_DOWNLOAD_WORKERS", 16),
    "keep_generations": ("WINDSOCK_SYNC_KEEP_GENERATIONS", 2),
}


@dataclass(frozen=True)
class SyncConfig:
    """Where to sync from (bucket, prefix, MWAA-style paths) and where to, plus tunables."""

    bucket: str
    home: Path
    dags_folder: Path
    prefix: str = ""
    dags_path: str = "dags"
    requirements_path: str = "requirements.txt"
    plugins_path: str = "plugins.zip"
    startup_path: str = "startup.sh"
    requirements_version: str | None = None
    plugins_version: str | None = None
    startup_version: str | None = None
    queue_url: str | None = None
    topic_arn: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    reconcile_seconds: float = 60.0
    debounce_seconds: float = 0.1
    max_debounce_seconds: float = 2.0
    poll_seconds: float = 10.0
    startup_timeout: float = 300.0
    pip_timeout: float = 900.0
    max_plugins_bytes: int = 512 * 1024 * 1024
    download_workers: int = 16
    keep_generations: int = 2

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SyncConfig:
        """Parse the WINDSOCK_* variables (see docs/dag_sync.md); ConfigError names a bad one."""
        env = dict(os.environ if environ is None else environ)
        bucket = env.get("WINDSOCK_S3_BUCKET", "").strip()
        if not bucket:
            raise ConfigError("WINDSOCK_S3_BUCKET is not set: dag_sync needs the bucket to sync from")
        settings = Settings.load(env)
        return cls(
            bucket=bucket,
            home=settings.home,
            dags_folder=Path(settings.get("core", "dags_folder")).expanduser(),
            prefix=_clean_prefix(env.get("WINDSOCK_S3_PREFIX", "")),
            dags_path=_clean_prefix(env.get("WINDSOCK_DAGS_S3_PATH", "dags")),
            requirements_path=env.get("WINDSOCK_REQUIREMENTS_S3_PATH", "requirements.txt").strip("/"),
            plugins_path=env.get("WINDSOCK_PLUGINS_S3_PATH", "plugins.zip").strip("/"),
            startup_path=env.get("WINDSOCK_STARTUP_SCRIPT_S3_PATH", "startup.sh").strip("/"),
            requirements_version=env.get("WINDSOCK_REQUIREMENTS_S3_OBJECT_VERSION") or None,
            plugins_version=env.get("WINDSOCK_PLUGINS_S3_OBJECT_VERSION") or None,
            startup_version=env.get("WINDSOCK_STARTUP_SCRIPT_S3_OBJECT_VERSION") or None,
            queue_url=env.get("WINDSOCK_SYNC_QUEUE_URL") or None,
            topic_arn=env.get("WINDSOCK_SYNC_TOPIC_ARN") or None,
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            **_tunables(env),
        )

    def with_changes(self, **changes: object) -> SyncConfig:
        """A copy with some fields replaced (CLI flags, tests)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def key(self, path: str) -> str:
        """The S3 key of ``path`` under the prefix."""
        return f"{self.prefix}/{path}" if self.prefix else path

    @property
    def dags_key_prefix(self) -> str:
        """The S3 key prefix of the DAG folder, ending in '/' (or '' for the bucket root)."""
        joined = self.key(self.dags_path) if self.dags_path else self.prefix
        return f"{joined}/" if joined else ""

    @property
    def wheelhouse_prefix(self) -> str:
        """Where shared wheels live in the bucket, keyed below by the requirements hash."""
        return self.key(".windsock/wheelhouse") + "/"

    @property
    def state_dir(self) -> Path:
        """dag_sync's own folder under $WINDSOCK_HOME (generations, site dirs, status)."""
        return self.home / "sync"

    @property
    def plugins_folder(self) -> Path:
        """Stable path of the plugins folder (a symlink to the active extraction)."""
        return self.home / "plugins"

    @property
    def site_dir(self) -> Path:
        """Stable path of the active requirements site directory (a symlink)."""
        return self.state_dir / "requirements" / "current"

    def describe(self) -> str:
        """s3://bucket/prefix, for messages."""
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")


def _clean_prefix(value: str) -> str:
    """A key prefix without surrounding blanks and slashes."""
    return value.strip().strip("/")


def _tunables(env: Mapping[str, str]) -> dict[str, Any]:
    """The numeric WINDSOCK_SYNC_* knobs, parsed and typed."""
    floats = {name: _number(env, var, default, float) for name, (var, default) in _FLOATS.items()}
    ints = {name: int(_number(env, var, default, int)) for name, (var, default) in _INTS.items()}
    return {**floats, **ints}


def _number(env: Mapping[str, str], var: str, default: float, typ: type[float] | type[int]) -> float:
    """One non-negative number from the environment; ConfigError names the variable."""
    raw = env.get(var)
    if raw is None or raw.strip() == "":
        return default
    try:
        value: float = typ(raw)
    except ValueError:
        raise ConfigError(f"{var}: {raw!r} is not a valid {typ.__name__}") from None
    if value < 0:
        raise ConfigError(f"{var}: {raw!r} must not be negative")
    return value
