"""Fixtures: a scheduler environment with a local executor (or the sequential one) per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.scheduler.helpers import Env, make_env


@pytest.fixture
def make(store: Any, tmp_path: Path) -> Iterator[Callable[..., Env]]:
    """Build an Env with settings overrides; its executor is stopped after the test."""
    made: list[Env] = []

    def build(executor: str = "local", **overrides: Any) -> Env:
        made.append(make_env(store, tmp_path, executor, **overrides))
        return made[-1]

    yield build
    for e in made:
        e.executor.end()
        e.scheduler.stop()


@pytest.fixture
def env(make: Callable[..., Env]) -> Env:
    """A scheduler over a clean store with the local (fork-server) executor."""
    return make("local")


@pytest.fixture
def seq_env(make: Callable[..., Env]) -> Env:
    """A scheduler over a clean store with the in-process sequential executor."""
    return make("sequential")
