"""States are the enums of ``runtime/store/states.py``: no state string literal anywhere else in the code."""

from __future__ import annotations

import ast
from pathlib import Path

from runtime.store.states import DagRunState, JobState, TaskInstanceState

ROOT = Path(__file__).resolve().parents[2] / "runtime"
ALLOWED = {ROOT / "store" / "states.py"}
STATES = {s.value for s in (*TaskInstanceState, *DagRunState, *JobState)}


def _literals(path: Path) -> list[str]:
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source, filename=str(path))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [f"{path.relative_to(ROOT.parent)}:{node.lineno}: {node.value!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in STATES
            and id(node) not in docstrings and "not a task state" not in lines[node.lineno - 1]]


def test_no_state_string_literal_outside_the_states_module() -> None:
    """A state written as a string (``"queued"``) is a typo waiting to happen; use ``TI.QUEUED``. A string that
    merely equals a state's name (a container phase) says so on its line: ``not a task state``."""
    files = [p for p in ROOT.rglob("*.py") if p not in ALLOWED and "migrations" not in p.parts
             and "example_dags" not in p.parts]
    found = [hit for path in sorted(files) for hit in _literals(path)]
    assert found == []


def test_states_change_only_through_named_transitions() -> None:
    """Only ``transitions.py`` calls the compare-and-set layer or writes a state column; everything else
    (scheduler, executors, worker, CLI, web) goes through a named transition."""
    import re

    allowed = {ROOT / "store" / "transitions.py", ROOT / "store" / "cas.py", ROOT / "store" / "jobs.py"}
    pattern = re.compile(r"\bcas\.|import cas\b|\.values\([^)]*\bstate\s*=")
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        if path in allowed or "migrations" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path.relative_to(ROOT.parent)}:{number}: {line.strip()}")
    assert found == []
