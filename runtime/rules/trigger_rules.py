"""Is a task ready? Trigger rules evaluated over its direct upstream states, as Airflow does.

The verdict depends only on counts of upstream states, so the scheduler, ``dags test`` and
backfill call the same function.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from runtime.sdk.trigger_rule import normalize
from runtime.store.states import TI

SUCCESS, FAILED, SKIPPED, UPSTREAM_FAILED, REMOVED = TI.SUCCESS, TI.FAILED, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.REMOVED
DONE_STATES = frozenset({SUCCESS, FAILED, SKIPPED, UPSTREAM_FAILED, REMOVED})


class Verdict(str, Enum):
    """What the trigger rule says about a task whose upstreams are in some states."""

    WAIT = "wait"  # not decidable yet
    RUN = "run"
    SKIP = TI.SKIPPED.value
    UPSTREAM_FAILED = TI.UPSTREAM_FAILED.value


@dataclass(frozen=True)
class UpstreamCounts:
    """How many direct upstream task instances are in each state (``total`` counts all)."""

    total: int
    success: int = 0
    failed: int = 0
    skipped: int = 0
    upstream_failed: int = 0
    removed: int = 0

    @property
    def done(self) -> int:
        """Upstreams that reached a final state."""
        return self.success + self.failed + self.skipped + self.upstream_failed + self.removed

    @property
    def all_failed(self) -> int:
        """failed + upstream_failed, which several rules treat alike."""
        return self.failed + self.upstream_failed

    @classmethod
    def of(cls, states: Iterable[str | None]) -> UpstreamCounts:
        """Count a list of upstream states (``None`` for not-yet-run)."""
        seen = list(states)
        return cls(
            total=len(seen),
            success=seen.count(SUCCESS),
            failed=seen.count(FAILED),
            skipped=seen.count(SKIPPED),
            upstream_failed=seen.count(UPSTREAM_FAILED),
            removed=seen.count(REMOVED),
        )


def evaluate(rule: str, up: UpstreamCounts) -> Verdict:
    """The verdict of ``rule`` for a task with upstream counts ``up``.

    Mirrors Airflow 2's TriggerRuleDep with ``flag_upstream_failed``: rules that can no
    longer be met resolve to SKIP or UPSTREAM_FAILED as Airflow sets them.
    """
    rule = normalize(rule)
    if rule == "always" or up.total == 0:
        return Verdict.RUN
    handler = _RULES.get(rule)
    if handler is None:
        raise ValueError(f"unknown trigger rule {rule!r}")
    return handler(up)


def _all_success(up: UpstreamCounts) -> Verdict:
    if up.all_failed:
        return Verdict.UPSTREAM_FAILED
    if up.skipped:
        return Verdict.SKIP
    return Verdict.RUN if up.success + up.removed == up.total else Verdict.WAIT


def _all_failed(up: UpstreamCounts) -> Verdict:
    if up.success or up.skipped:
        return Verdict.SKIP
    return Verdict.RUN if up.done == up.total else Verdict.WAIT


def _all_done(up: UpstreamCounts) -> Verdict:
    return Verdict.RUN if up.done == up.total else Verdict.WAIT


def _all_skipped(up: UpstreamCounts) -> Verdict:
    if up.success or up.all_failed:
        return Verdict.SKIP
    return Verdict.RUN if up.done == up.total else Verdict.WAIT


def _one_success(up: UpstreamCounts) -> Verdict:
    if up.success:
        return Verdict.RUN
    if up.done < up.total:
        return Verdict.WAIT
    # Everything finished and nothing succeeded: all skipped -> skipped, else upstream_failed.
    return Verdict.SKIP if up.skipped == up.done else Verdict.UPSTREAM_FAILED


def _one_failed(up: UpstreamCounts) -> Verdict:
    if up.all_failed:
        return Verdict.RUN
    return Verdict.SKIP if up.done == up.total else Verdict.WAIT


def _one_done(up: UpstreamCounts) -> Verdict:
    # Airflow counts success and failed here, not upstream_failed.
    if up.success or up.failed:
        return Verdict.RUN
    return Verdict.SKIP if up.done == up.total else Verdict.WAIT


def _none_failed(up: UpstreamCounts) -> Verdict:
    if up.all_failed:
        return Verdict.UPSTREAM_FAILED
    return Verdict.RUN if up.done == up.total else Verdict.WAIT


def _none_failed_min_one_success(up: UpstreamCounts) -> Verdict:
    if up.all_failed:
        return Verdict.UPSTREAM_FAILED
    if up.done < up.total:
        return Verdict.WAIT
    return Verdict.RUN if up.success else Verdict.SKIP


def _none_skipped(up: UpstreamCounts) -> Verdict:
    if up.skipped:
        return Verdict.SKIP
    return Verdict.RUN if up.done == up.total else Verdict.WAIT


_RULES = {
    "all_success": _all_success,
    "all_failed": _all_failed,
    "all_done": _all_done,
    "all_done_setup_success": _all_done,
    "all_skipped": _all_skipped,
    "one_success": _one_success,
    "one_failed": _one_failed,
    "one_done": _one_done,
    "none_failed": _none_failed,
    "none_failed_min_one_success": _none_failed_min_one_success,
    "none_skipped": _none_skipped,
}
