"""Every trigger rule against combinations of upstream states, as Airflow 2 decides them."""

from __future__ import annotations

import pytest

from runtime.rules.trigger_rules import UpstreamCounts, Verdict, evaluate

S, F, K, U, N = "success", "failed", "skipped", "upstream_failed", None
RUN, WAIT, SKIP, UPF = Verdict.RUN, Verdict.WAIT, Verdict.SKIP, Verdict.UPSTREAM_FAILED

CASES = [
    # rule, upstream states, verdict
    ("all_success", [S, S], RUN),
    ("all_success", [S, N], WAIT),
    ("all_success", [S, F], UPF),
    ("all_success", [S, U], UPF),
    ("all_success", [S, K], SKIP),
    ("all_success", [N, F], UPF),  # decided as soon as one fails
    ("all_failed", [F, U], RUN),
    ("all_failed", [F, N], WAIT),
    ("all_failed", [F, S], SKIP),
    ("all_failed", [F, K], SKIP),
    ("all_done", [S, F, K, U], RUN),
    ("all_done", [S, N], WAIT),
    ("all_skipped", [K, K], RUN),
    ("all_skipped", [K, N], WAIT),
    ("all_skipped", [K, S], SKIP),
    ("all_skipped", [K, F], SKIP),
    ("one_success", [S, N], RUN),
    ("one_success", [F, N], WAIT),
    ("one_success", [F, F], UPF),
    ("one_success", [K, K], SKIP),
    ("one_success", [K, F], UPF),
    ("one_failed", [F, N], RUN),
    ("one_failed", [U, N], RUN),
    ("one_failed", [S, N], WAIT),
    ("one_failed", [S, K], SKIP),
    ("one_done", [S, N], RUN),
    ("one_done", [F, N], RUN),
    ("one_done", [K, N], WAIT),
    ("one_done", [K, K], SKIP),
    ("one_done", [K, U], SKIP),
    ("none_failed", [S, K], RUN),
    ("none_failed", [K, K], RUN),
    ("none_failed", [S, N], WAIT),
    ("none_failed", [S, F], UPF),
    ("none_failed", [U, S], UPF),
    ("none_failed_min_one_success", [S, K], RUN),
    ("none_failed_min_one_success", [K, K], SKIP),
    ("none_failed_min_one_success", [S, N], WAIT),
    ("none_failed_min_one_success", [S, F], UPF),
    ("none_failed_or_skipped", [S, K], RUN),  # legacy name
    ("none_skipped", [S, F, U], RUN),
    ("none_skipped", [S, N], WAIT),
    ("none_skipped", [S, K], SKIP),
    ("always", [N, N], RUN),
    ("always", [F, U], RUN),
    ("dummy", [N, F], RUN),  # legacy alias of always
]


@pytest.mark.parametrize(("rule", "states", "expected"), CASES, ids=[f"{r}-{'-'.join(str(s) for s in st)}" for r, st, _ in CASES])
def test_rule_verdict(rule: str, states: list[str | None], expected: Verdict) -> None:
    """Each rule gives Airflow's verdict for the given upstream states."""
    assert evaluate(rule, UpstreamCounts.of(states)) is expected


@pytest.mark.parametrize("rule", sorted({c[0] for c in CASES}))
def test_no_upstream_runs(rule: str) -> None:
    """A task without upstream tasks is always ready, whatever its rule."""
    assert evaluate(rule, UpstreamCounts.of([])) is RUN


def test_unknown_rule_is_rejected() -> None:
    """An unknown rule name is an error naming the rule."""
    with pytest.raises(ValueError, match="bogus"):
        evaluate("bogus", UpstreamCounts.of([S]))
