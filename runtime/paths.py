"""The one place where ids (dag, run, task, map index, try) become file paths.

Every path built from an id goes through :func:`safe_join`, which refuses a component that
could leave its root (``..``, a separator, NUL, empty) and checks the joined path is still
under the root. Run ids are validated when a run is created (:func:`check_run_id`), as
Airflow restricts them with ``[scheduler] allowed_run_id_pattern``.
"""

from __future__ import annotations

import os
import re

from runtime.errors import UserError

# Airflow's default [scheduler] allowed_run_id_pattern; generated ids (manual__2024-...) match it.
DEFAULT_RUN_ID_PATTERN = r"^[A-Za-z0-9_.~:+-]+$"
MAX_ID_LENGTH = 250


class UnsafePathError(UserError):
    """An id would make a path outside its root (or an invalid file name)."""


def check_run_id(run_id: str, pattern: str = DEFAULT_RUN_ID_PATTERN) -> str:
    """``run_id`` if it is allowed; UserError naming the rule otherwise."""
    if not isinstance(run_id, str) or not run_id:
        raise UserError("run_id must be a non-empty string")
    if len(run_id) > MAX_ID_LENGTH:
        raise UserError(f"run_id is {len(run_id)} characters long; at most {MAX_ID_LENGTH} are allowed")
    if not re.match(pattern, run_id) or run_id in (".", ".."):
        raise UserError(f"run_id {run_id!r} is not allowed: it must match {pattern} "
                        "([scheduler] allowed_run_id_pattern)")
    return run_id


def _check_part(part: str) -> str:
    bad = (not part or part in (".", "..") or "\x00" in part or "/" in part
           or (os.altsep is not None and os.altsep in part) or os.sep in part)
    if bad:
        raise UnsafePathError(f"{part!r} cannot be used in a file path")
    return part


def safe_join(root: str, *parts: str) -> str:
    """``root/part/...``; UnsafePathError if a part is not one plain name or the result leaves ``root``."""
    base = os.path.abspath(root)
    path = os.path.join(base, *(_check_part(p) for p in parts))
    # each part is one plain name, so this holds by construction; checked anyway, cheaply
    if parts and not (path.startswith(base.rstrip(os.sep) + os.sep) and os.path.normpath(path) == path):
        raise UnsafePathError(f"{path!r} is outside {base!r}")
    return path


def safe_relative(root: str, relative: str, suffix: str = "") -> str:
    """``root/relative+suffix`` for a relative path of several components, each checked."""
    parts = [p for p in relative.replace(os.altsep or os.sep, os.sep).split(os.sep) if p]
    if not parts:
        raise UnsafePathError(f"{relative!r} cannot be used in a file path")
    parts[-1] += suffix
    return safe_join(root, *parts)


def task_log_path(base: str, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> str:
    """Airflow's layout: ``dag_id=D/run_id=R/task_id=T/[map_index=M/]attempt=N.log``, guarded."""
    parts = [f"dag_id={dag_id}", f"run_id={run_id}", f"task_id={task_id}"]
    if int(map_index) >= 0:
        parts.append(f"map_index={int(map_index)}")
    return safe_join(base, *parts, f"attempt={int(try_number)}.log")


def dag_callback_log_path(base: str, dag_id: str, run_id: str) -> str:
    """The log of a run's DAG-level callback."""
    return safe_join(base, f"dag_id={dag_id}", f"run_id={run_id}", "dag_callback.log")
