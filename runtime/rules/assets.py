"""Is an asset schedule satisfied? A pure decision over a JSON condition and the keys with new events."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any


def key_of(uri: str | None = None, alias: str | None = None) -> str:
    """The key an event counts under: ``asset:<uri>`` or ``alias:<name>``."""
    return f"alias:{alias}" if alias is not None else f"asset:{uri}"


def condition_met(condition: dict[str, Any], ready: Collection[str]) -> bool:
    """Whether ``condition`` (``{"asset"}``, ``{"alias"}``, ``{"all": [...]}``, ``{"any": [...]}``) holds
    when the assets/aliases in ``ready`` have had an event since the DAG's last asset-triggered run."""
    if "asset" in condition:
        return key_of(uri=condition["asset"]) in ready
    if "alias" in condition:
        return key_of(alias=condition["alias"]) in ready
    if "all" in condition:
        return all(condition_met(part, ready) for part in condition["all"])
    if "any" in condition:
        return any(condition_met(part, ready) for part in condition["any"])
    raise ValueError(f"not an asset condition: {condition!r}")


def event_keys(uri: str, alias: str | None) -> set[str]:
    """The keys one event makes ready: its asset, and its alias when it came through one."""
    return {key_of(uri=uri)} | ({key_of(alias=alias)} if alias else set())
