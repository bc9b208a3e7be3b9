"""DAG files written by processor tests, and a processor on a test store."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from runtime.processor import DagProcessor
from runtime.store.models import DagModel, ParseImportError, SerializedDagModel

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def dag_source(
    dag_id: str, *, tasks: int = 2, schedule: str = "@daily", extra: str = "", dag_kwargs: str = ""
) -> str:
    """An Airflow-style DAG file with a chain of ``tasks`` Bash tasks."""
    lines = [
        "# an airflow DAG file",
        "import datetime",
        "from runtime.sdk import DAG",
        "from runtime.sdk.operators.bash import BashOperator",
        extra,
        f"with DAG({dag_id!r}, schedule={schedule!r}, start_date=datetime.datetime(2026, 1, 1){dag_kwargs}) as dag:",
        "    previous = None",
        f"    for i in range({tasks}):",
        "        task = BashOperator(task_id=f't{i}', bash_command='echo hi')",
        "        if previous is not None:",
        "            previous >> task",
        "        previous = task",
    ]
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def make_processor(store: Any, folder: Path, **overrides: Any) -> DagProcessor:
    """A processor of ``folder`` on the test store, without the bundled examples."""
    settings = store.settings.with_overrides(core__load_examples=False, **overrides)
    return DagProcessor(settings, store.session_factory, dags_folder=str(folder))


def dags(store: Any) -> dict[str, DagModel]:
    """Every dag row by id."""
    with store.session_factory() as session:
        return {row.dag_id: row for row in session.scalars(sa.select(DagModel))}


def serialized(store: Any) -> dict[str, dict[str, Any]]:
    """Every serialized DAG (decoded) by id."""
    with store.session_factory() as session:
        rows = session.execute(sa.select(SerializedDagModel.dag_id, SerializedDagModel.data))
        return {dag_id: json.loads(data) for dag_id, data in rows}


def import_errors(store: Any) -> dict[str, str]:
    """Import error text by file name."""
    with store.session_factory() as session:
        rows = session.execute(sa.select(ParseImportError.filename, ParseImportError.stacktrace))
        return {filename: text for filename, text in rows}


def active(store: Any) -> set[str]:
    """Ids of the active DAGs."""
    return {dag_id for dag_id, row in dags(store).items() if row.is_active}
