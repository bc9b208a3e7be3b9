"""Run by tests/worker/test_leanfork.py in a fresh interpreter (one thread, nothing frozen): forks with
``LeanFork`` and prints, as one JSON line, what the children and the parent saw."""

from __future__ import annotations

import json
import os
import random
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from runtime.worker.leanfork import LeanFork  # noqa: E402

forker = LeanFork()
calls: list[str] = []
os.register_at_fork(before=lambda: calls.append("before"), after_in_parent=lambda: calls.append("parent"),
                    after_in_child=lambda: calls.append("child"))


def child_report(fork: object) -> dict[str, object]:
    """Fork a child that reports what it sees over a pipe."""
    r, w = os.pipe()
    pid = fork()  # type: ignore[operator]
    if pid == 0:
        os.close(r)
        seen: list[int] = []
        worker = threading.Thread(target=lambda: seen.append(threading.get_ident()))
        worker.start()
        worker.join()
        report = {"random": random.random(), "calls": calls, "main": threading.current_thread() is threading.main_thread(),
                  "threads": threading.active_count(), "thread_ran": len(seen) == 1, "pid": os.getpid()}
        os.write(w, json.dumps(report).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        report = json.loads(f.read())
    _, status = os.waitpid(pid, 0)
    report["exit"] = os.waitstatus_to_exitcode(status)
    report["pid_ok"] = report["pid"] == pid
    return report


lean = forker.prepared()
kids = [child_report(lean) for _ in range(3)]
parent_calls = list(calls)
calls.clear()
stop = threading.Event()
other = threading.Thread(target=stop.wait)
other.start()
while_threaded = forker.prepared()  # a second thread runs: os.fork(), which resets threading's table in the child
threaded_kid = child_report(while_threaded)
stop.set()
other.join()
print(json.dumps({"usable": forker.usable, "kids": kids, "parent_calls": parent_calls, "parent_random": random.random(),
                  "threaded_kid": threaded_kid, "threaded_is_os_fork": while_threaded is os.fork}))
