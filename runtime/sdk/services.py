"""What a running task needs from the outside world, behind one small interface.

``dags test`` uses an in-memory implementation; the worker uses the metadata database.
User code reaches these only through ``ti``, ``var``, ``conn`` and a few operators.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from runtime.sdk.connection import Connection


class RuntimeServices(Protocol):
    """Storage and cross-DAG actions available to a running task."""

    def xcom_set(self, dag_id: str, run_id: str, task_id: str, map_index: int, key: str, value: Any) -> None:
        """Store an XCom (value already checked to be JSON-serializable)."""

    def xcom_get(self, dag_id: str, run_id: str, task_id: str, key: str, map_index: int | None) -> list[tuple[int, Any]]:
        """(map_index, value) pairs of a task's XCom ``key``; all map indexes when ``map_index`` is None."""

    def get_variable(self, key: str) -> str:
        """A variable's raw value; KeyError-derived error when missing."""

    def get_connection(self, conn_id: str) -> Connection:
        """A connection; KeyError-derived error when missing."""

    def trigger_dag(self, dag_id: str, run_id: str | None, conf: dict[str, Any] | None, logical_date: datetime | None, replace: bool) -> str:
        """Create a run of another DAG; returns its run_id."""

    def dag_run_state(self, dag_id: str, run_id: str) -> str | None:
        """The state of a DAG run, None when it does not exist."""

    def task_states(self, dag_id: str, task_ids: Sequence[str] | None, logical_date: datetime) -> list[str | None]:
        """States of tasks (or of the run itself when ``task_ids`` is None) of the run at ``logical_date``."""

    def count_dag_runs(self, dag_id: str, logical_date: datetime, states: Sequence[str]) -> int:
        """How many runs of ``dag_id`` at ``logical_date`` are in ``states``."""
