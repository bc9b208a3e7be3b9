"""Deployment settings from CDK context, and the worker step-scaling table (pure functions)."""

from __future__ import annotations

import pytest

pytest.importorskip("aws_cdk")

from cdk.service.scaling import MAX_STEPS, capacity_steps  # noqa: E402
from cdk.settings import NetworkMode, SettingsError, WebAccessMode, settings_from_mapping  # noqa: E402


def test_defaults_are_the_cheap_small_environment() -> None:
    """No context: NAT mode, public web, 0..10 workers, one scheduler, single-AZ protected DB."""
    s = settings_from_mapping({})
    assert (s.env_name, s.network_mode, s.web_access_mode) == (
        "windsock",
        NetworkMode.NAT_GATEWAY,
        WebAccessMode.PUBLIC_ONLY,
    )
    assert (s.min_workers, s.max_workers, s.schedulers, s.worker_spot) == (0, 10, 1, False)
    assert s.db_deletion_protection and not s.db_multi_az


def test_context_strings_are_parsed() -> None:
    """`-c` values arrive as strings: ints, booleans, enums (any case) and CIDR lists are converted."""
    s = settings_from_mapping(
        {
            "max_workers": "25",
            "worker_spot": "yes",
            "network_mode": "vpc_endpoints",
            "allowed_cidrs": "10.0.0.0/8, 1.2.3.4/32",
        }
    )
    assert s.max_workers == 25 and s.worker_spot is True
    assert s.network_mode is NetworkMode.VPC_ENDPOINTS
    assert s.allowed_cidrs == ("10.0.0.0/8", "1.2.3.4/32")
    assert s.size("worker").cpu == 1024


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"env_name": "Prod"}, "env_name"),
        ({"env_name": "a-very-long-environment-name"}, "env_name"),
        ({"max_workers": "ten"}, "max_workers"),
        ({"min_workers": "5", "max_workers": "2"}, "min_workers"),
        ({"schedulers": "3"}, "schedulers"),
        ({"network_mode": "MAGIC"}, "NAT_GATEWAY | VPC_ENDPOINTS | PUBLIC_SUBNETS"),
        ({"allowed_cidrs": "everyone"}, "allowed_cidrs"),
        ({"log_retention_days": "31"}, "log_retention_days"),
        ({"worker_spot": "maybe"}, "worker_spot"),
    ],
)
def test_bad_context_names_the_key(context: dict[str, str], message: str) -> None:
    """A value the stack cannot use fails synthesis with a message naming the key."""
    with pytest.raises(SettingsError, match=message):
        settings_from_mapping(context)


def test_capacity_steps_give_one_worker_per_concurrency_slots() -> None:
    """With 5 tries per worker: 1-5 queued+running -> 1 worker, 6-10 -> 2, ... up to max_workers."""
    steps = capacity_steps(max_workers=10, concurrency=5)
    assert steps[:3] == [(1, 1), (6, 2), (11, 3)]
    assert steps[-1] == (46, 10)


def test_capacity_steps_stay_within_the_api_limit_and_never_underprovision() -> None:
    """Large max_workers: at most 20 steps, starting at backlog 1, each count covering its whole range."""
    steps = capacity_steps(max_workers=200, concurrency=4)
    assert len(steps) <= MAX_STEPS + 1 and steps[0][0] == 1 and steps[-1][1] == 200
    for (lower, workers), (next_lower, _) in zip(steps, steps[1:], strict=False):
        assert workers * 4 >= next_lower - 1 >= lower
