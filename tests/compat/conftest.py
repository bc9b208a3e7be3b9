"""Fixtures: a scheduler environment (sequential executor) for the asset and setup/teardown end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.scheduler.helpers import Env, make_env


@pytest.fixture
def seq_env(store: Any, tmp_path: Path) -> Iterator[Env]:
    """A scheduler over a clean store with the in-process sequential executor."""
    env = make_env(store, tmp_path, "sequential")
    yield env
    env.executor.end()
    env.scheduler.stop()
