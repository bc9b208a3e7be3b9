"""LeanFork forks as os.fork() does where it matters to the child, without the hooks for other threads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).with_name("leanfork_probe.py")


@pytest.fixture(scope="module")
def probe() -> dict:
    done = subprocess.run([sys.executable, str(PROBE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11) or sys.platform != "linux",
                    reason="the lean fork is for CPython 3.11 on Linux; elsewhere os.fork() forks")
def test_the_interpreters_hook_lists_are_found(probe: dict) -> None:
    assert probe["usable"]


def test_each_child_draws_its_own_random_numbers(probe: dict) -> None:
    draws = [kid["random"] for kid in probe["kids"]] + [probe["parent_random"]]
    assert len(set(draws)) == len(draws)


def test_a_librarys_hooks_run_in_order_in_the_child_and_the_parent(probe: dict) -> None:
    for kid in probe["kids"]:
        assert kid["calls"][-1] == "child" and kid["calls"].count("child") == 1
    assert probe["parent_calls"] == ["before", "parent"] * 3


def test_the_child_is_a_sound_single_threaded_process(probe: dict) -> None:
    for kid in probe["kids"]:
        assert kid["exit"] == 0 and kid["pid_ok"]
        assert kid["main"] and kid["thread_ran"] and kid["threads"] == 1


def test_a_process_with_a_second_thread_forks_with_os_fork(probe: dict) -> None:
    assert probe["threaded_is_os_fork"]
    kid = probe["threaded_kid"]
    assert kid["exit"] == 0 and kid["threads"] == 1  # os.fork() dropped the other thread from threading's table
    assert kid["calls"] == ["before", "child"]
