"""Fixtures: a scheduler environment (fork-server executor) and a real Triggerer on a thread of its own."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.triggerer.triggerer import Triggerer
from tests.scheduler.helpers import Env, make_env

TRIGGERS = '''\
"""Triggers of the tests' DAGs (a module on the DAG folder's path, as Airflow requires)."""
import asyncio
from airflow.triggers.base import BaseTrigger, TriggerEvent, TaskFailedEvent


class Echo(BaseTrigger):
    def __init__(self, value, delay=0.2):
        super().__init__()
        self.value, self.delay = value, delay

    def serialize(self):
        return ("test_triggers.Echo", {"value": self.value, "delay": self.delay})

    async def run(self):
        await asyncio.sleep(self.delay)
        yield TriggerEvent(self.value)


class Broken(BaseTrigger):
    def serialize(self):
        return ("test_triggers.Broken", {})

    async def run(self):
        await asyncio.sleep(0.1)
        raise ValueError("the remote job vanished")
        yield  # an async generator


class Never(BaseTrigger):
    def serialize(self):
        return ("test_triggers.Never", {})

    async def run(self):
        await asyncio.Event().wait()
        yield


class FailTask(BaseTrigger):
    def serialize(self):
        return ("test_triggers.FailTask", {})

    async def run(self):
        yield TaskFailedEvent(xcoms={"why": "remote failure"})
'''


@pytest.fixture
def denv(store: Any, tmp_path: Path) -> Iterator[Env]:
    """A scheduler with the local executor, parallelism 2, and ``test_triggers`` in its DAG folder."""
    env = make_env(store, tmp_path, "local", core__parallelism=2, scheduler__reconcile_interval=0.2)
    (env.dags / "test_triggers.py").write_text(TRIGGERS)
    yield env
    env.executor.end()
    env.scheduler.stop()


@pytest.fixture
def triggerer(denv: Env) -> Iterator[Callable[[], Triggerer]]:
    """Start the real Triggerer (its loop on a thread); stopped after the test."""
    started: list[tuple[Triggerer, threading.Event, threading.Thread]] = []

    def start() -> Triggerer:
        t = Triggerer(denv.settings.with_overrides(triggerer__poll_interval=0.1), denv.factory)
        stop = threading.Event()
        thread = threading.Thread(target=t.run_forever, args=(stop,), daemon=True)
        thread.start()
        started.append((t, stop, thread))
        return t

    yield start
    for _, stop, thread in started:
        stop.set()
        thread.join(10)
