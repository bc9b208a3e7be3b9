"""Trigger rules: when a task may run, given the states of its direct upstream tasks."""

from __future__ import annotations

from enum import Enum


class TriggerRule(str, Enum):
    """Airflow's trigger rules; ``dummy`` is the legacy name of ``always``."""

    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ALL_DONE_SETUP_SUCCESS = "all_done_setup_success"
    ALL_SKIPPED = "all_skipped"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_FAILED_OR_SKIPPED = "none_failed_or_skipped"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    NONE_SKIPPED = "none_skipped"
    ALWAYS = "always"
    DUMMY = "dummy"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def is_valid(cls, value: str) -> bool:
        """Whether ``value`` names a trigger rule."""
        return value in cls._value2member_map_

    @classmethod
    def all_triggers(cls) -> set[str]:
        """Every trigger rule's name."""
        return set(cls._value2member_map_)


def normalize(rule: str | TriggerRule) -> str:
    """The canonical rule name: legacy aliases folded (``dummy`` -> ``always``)."""
    value = str(rule.value if isinstance(rule, TriggerRule) else rule)
    if value == "dummy":
        return "always"
    if value == "none_failed_or_skipped":
        return "none_failed_min_one_success"
    return value
