"""``airflow.providers_manager``: which provider packages are installed, their hooks and connection types.

Read from each installed provider's ``apache_airflow_provider`` entry point (its
``get_provider_info()``), the same metadata Airflow reads. No hook is imported until asked for.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Iterator
from importlib import metadata
from typing import Any, NamedTuple

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "apache_airflow_provider"


class ProviderInfo(NamedTuple):
    """One installed provider distribution."""

    version: str
    data: dict[str, Any]


class HookInfo(NamedTuple):
    """What a provider says about the hook of one connection type."""

    hook_class_name: str
    connection_id_attribute_name: str
    package_name: str
    hook_name: str
    connection_type: str
    connection_testable: bool = True
    dialects: list[str] = []


class DialectInfo(NamedTuple):
    """A SQL dialect a provider registers (common-sql's ``Dialect`` subclasses)."""

    name: str
    dialect_class_name: str
    provider_name: str


@functools.cache
def _discover() -> dict[str, ProviderInfo]:
    found: dict[str, ProviderInfo] = {}
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            info = entry.load()()
            dist = entry.dist
            version = dist.version if dist is not None else str(info.get("versions", ["0"])[0])
        except Exception as exc:  # a broken provider must not hide the others
            log.warning("provider entry point %s could not be read: %s", entry.value, exc)
            continue
        found[str(info["package-name"])] = ProviderInfo(version, info)
    return dict(sorted(found.items()))


def installed_providers() -> dict[str, ProviderInfo]:
    """``{"apache-airflow-providers-amazon": ProviderInfo(version, data)}`` for every installed provider."""
    return _discover()


def refresh() -> None:
    """Forget what was discovered (after sys.path changed)."""
    _discover.cache_clear()


def _connection_types() -> Iterator[tuple[str, dict[str, Any]]]:
    for package, provider in installed_providers().items():
        for item in provider.data.get("connection-types", []):
            yield package, item


class _LazyHooks(dict):  # type: ignore[type-arg]
    """``manager.hooks[conn_type]`` -> HookInfo, importing the hook class on first use."""

    def __missing__(self, conn_type: str) -> HookInfo | None:
        return None


class ProvidersManager:
    """The parts of Airflow's ProvidersManager that providers and ``windsock connections`` read."""

    _instance: ProvidersManager | None = None

    def __new__(cls) -> ProvidersManager:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    @property
    def providers(self) -> dict[str, ProviderInfo]:
        return installed_providers()

    @property
    def hooks(self) -> dict[str, HookInfo | None]:
        hooks = _LazyHooks()
        for package, item in _connection_types():
            class_name = item["hook-class-name"]
            hooks[item["connection-type"]] = HookInfo(
                hook_class_name=class_name, connection_id_attribute_name=_conn_attr(class_name),
                package_name=package, hook_name=item.get("hook-name", ""), connection_type=item["connection-type"],
            )
        return hooks

    @property
    def connection_form_widgets(self) -> dict[str, Any]:
        return {}

    @property
    def field_behaviours(self) -> dict[str, Any]:
        return {item["connection-type"]: item.get("ui-field-behaviour", {}) for _, item in _connection_types()}

    @property
    def dialects(self) -> dict[str, DialectInfo]:
        found = {"default": DialectInfo("default", "airflow.providers.common.sql.dialects.dialect.Dialect",
                                        "apache-airflow-providers-common-sql")}
        for package, provider in installed_providers().items():
            for item in provider.data.get("dialects", []):
                for name in item.get("dialect-type", "").split(","):
                    if name:
                        found[name] = DialectInfo(name, item["dialect-class-name"], package)
        return found

    @property
    def notification(self) -> list[str]:
        return [n for p in installed_providers().values() for n in p.data.get("notifications", [])]

    @property
    def trigger(self) -> list[str]:
        return [c for p in installed_providers().values() for t in p.data.get("triggers", []) for c in t.get("python-modules", [])]

    def initialize_providers_list(self) -> None:
        installed_providers()

    def initialize_providers_hooks(self) -> None:
        installed_providers()


def _conn_attr(class_name: str) -> str:
    """The hook's ``conn_name_attr`` without importing the hook when the provider is not installed."""
    return "conn_id"


def hook_class(conn_type: str) -> type | None:
    """The hook class a provider registers for ``conn_type`` (imported), or None."""
    info = ProvidersManager().hooks.get(conn_type)
    if info is None:
        return None
    module, _, name = info.hook_class_name.rpartition(".")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


__all__ = ["ProvidersManager", "ProviderInfo", "HookInfo", "DialectInfo", "installed_providers", "hook_class", "refresh"]
