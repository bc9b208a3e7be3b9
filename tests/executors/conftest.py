"""Fixtures: the scheduler tests' environments (a scheduler with a local or sequential executor)."""

from tests.scheduler.conftest import env, make, seq_env

__all__ = ["env", "make", "seq_env"]
