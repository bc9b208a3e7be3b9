"""Helpers for authoring tests: build DAGs in code and run them in-process."""

from __future__ import annotations

import pendulum
import pytest

START = pendulum.datetime(2024, 1, 1, tz="UTC")


@pytest.fixture
def start() -> pendulum.DateTime:
    """A fixed start date."""
    return START
