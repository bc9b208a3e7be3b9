"""Write parse outcomes to the store: serialized DAGs, dag rows, import errors, file stamps.

Session first, never commits: ``DagProcessor.run_once`` owns the one transaction per scan.

What happens to the DAGs of a file (Airflow 2.2+ behaviour, apache/airflow#17121 and #49769):
- parsed: its DAGs are upserted and active; DAGs it no longer defines are deactivated;
- import error: its DAGs are deactivated and flagged ``has_import_errors``; the last good
  serialization is kept (history and graph stay readable), and they come back when it parses;
- gone: its DAGs are deactivated, its import error and its ``dag_file`` row are deleted.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.processor.files import FileStamp
from runtime.processor.parse import ParseOutcome, mark_duplicates
from runtime.sdk.serialization import dag_hash
from runtime.store.import_errors import record_import_error
from runtime.store.models import DagFile, DagModel, ParseImportError, SerializedDagModel
from runtime.store.sql import rowcount

# A change in any of these makes the scheduler recompute next_dagrun* from scratch.
SCHEDULE_FIELDS = ("timetable", "timezone", "start_date", "end_date", "catchup")
_NEXT_DAGRUN = {
    "next_dagrun": None,
    "next_dagrun_data_interval_start": None,
    "next_dagrun_data_interval_end": None,
    "next_dagrun_create_after": None,
}


@dataclass
class SaveCounts:
    """How many DAGs one save wrote and deactivated."""

    updated: int = 0
    deactivated: int = 0


def load_stamps(session: Session) -> dict[str, FileStamp]:
    """The processor's stored view of every file (for a cold in-memory cache)."""
    errored = set(session.scalars(sa.select(ParseImportError.filename)))
    rows = session.execute(sa.select(DagFile.fileloc, DagFile.mtime, DagFile.size, DagFile.content_hash))
    return {f: FileStamp(mtime or 0.0, size or 0, digest, f in errored) for f, mtime, size, digest in rows}


def known_filelocs(session: Session) -> set[str]:
    """Every file the store thinks holds DAGs or errors (so that a vanished one can be cleaned up)."""
    files = set(session.scalars(sa.select(DagFile.fileloc)))
    files.update(session.scalars(sa.select(DagModel.fileloc).where(DagModel.is_active.is_(True))))
    files.update(session.scalars(sa.select(ParseImportError.filename)))
    files.discard(None)  # type: ignore[arg-type]
    return files


def save_outcomes(
    session: Session,
    outcomes: list[ParseOutcome],
    stamps: Mapping[str, FileStamp],
    *,
    now: dt.datetime,
    paused_at_creation: bool,
) -> SaveCounts:
    """Store parse outcomes (in file order); duplicate dag ids across files become import errors."""
    if not outcomes:
        return SaveCounts()
    _flag_duplicates(session, outcomes)
    parsed = sorted((o for o in outcomes if o.error is None), key=lambda o: o.fileloc)
    failed = sorted((o for o in outcomes if o.error is not None), key=lambda o: o.fileloc)
    counts = SaveCounts(updated=_save_dags(session, parsed, now, paused_at_creation))
    counts.deactivated += _deactivate(
        session, [o.fileloc for o in parsed], {d["dag_id"] for o in parsed for d in o.dags}, False
    )
    counts.deactivated += _deactivate(session, [o.fileloc for o in failed], set(), True)
    _set_import_errors(session, parsed, failed, now)
    _save_stamps(session, outcomes, stamps, now)
    return counts


def save_stamps(session: Session, stamps: Mapping[str, FileStamp]) -> None:
    """Record new stats of files whose content did not change (touched, or hard-linked by dag_sync)."""
    for fileloc, stamp in stamps.items():
        session.execute(
            sa.update(DagFile).where(DagFile.fileloc == fileloc).values(mtime=stamp.mtime, size=stamp.size)
        )


def forget_files(session: Session, filelocs: Collection[str]) -> int:
    """Files that are gone: deactivate their DAGs, drop their import errors and stamps."""
    if not filelocs:
        return 0
    files = list(filelocs)
    deactivated = _deactivate(session, files, set(), False)
    session.execute(sa.delete(ParseImportError).where(ParseImportError.filename.in_(files)))
    session.execute(sa.delete(DagFile).where(DagFile.fileloc.in_(files)))
    return deactivated


def _flag_duplicates(session: Session, outcomes: list[ParseOutcome]) -> None:
    """A dag_id already owned by another file (active in the store, or earlier in this scan) fails this file."""
    parsed = {o.fileloc for o in outcomes}
    wanted = {d["dag_id"] for o in outcomes for d in o.dags}
    owners: dict[str, str] = {}
    if wanted:
        stmt = sa.select(DagModel.dag_id, DagModel.fileloc).where(
            DagModel.dag_id.in_(wanted), DagModel.is_active.is_(True), DagModel.fileloc.not_in(parsed)
        )
        owners.update((dag_id, fileloc or "?") for dag_id, fileloc in session.execute(stmt))
    mark_duplicates(outcomes, owners)


def _save_dags(
    session: Session, parsed: list[ParseOutcome], now: dt.datetime, paused_at_creation: bool
) -> int:
    """Upsert the serialized DAG and the dag row of every DAG of the parsed files."""
    found = [(o.fileloc, d) for o in parsed for d in o.dags]
    if not found:
        return 0
    ids = [d["dag_id"] for _, d in found]
    rows = {r.dag_id: r for r in _in_chunks(session, sa.select(DagModel), DagModel.dag_id, ids)}
    old = {
        r.dag_id: r
        for r in _in_chunks(session, sa.select(SerializedDagModel), SerializedDagModel.dag_id, ids)
    }
    inserts = []
    for fileloc, data in found:
        digest = dag_hash(data)
        stored = old.get(data["dag_id"])
        if stored is None:
            inserts.append(_serialized_values(data, digest, fileloc, now))
        row = rows.get(data["dag_id"])
        if row is None:
            row = DagModel(dag_id=data["dag_id"], is_paused=_initially_paused(data, paused_at_creation))
            session.add(row)
        if stored is not None and (stored.dag_hash != digest or stored.fileloc != fileloc):
            _update_serialized(stored, row, data, digest, fileloc, now)
        _fill_dag_row(row, data, fileloc, now)
    if inserts:
        session.execute(sa.insert(SerializedDagModel), inserts)
    session.flush()
    return len(found)


def _serialized_values(data: dict[str, Any], digest: str, fileloc: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "dag_id": data["dag_id"],
        "fileloc": fileloc,
        "data": json.dumps(data),
        "dag_hash": digest,
        "last_updated": now,
    }


def _update_serialized(
    stored: SerializedDagModel,
    row: DagModel,
    data: dict[str, Any],
    digest: str,
    fileloc: str,
    now: dt.datetime,
) -> None:
    """Replace a changed serialization; a schedule change makes the scheduler recompute the next run."""
    if _schedule_changed(json.loads(stored.data), data):
        for name, value in _NEXT_DAGRUN.items():
            setattr(row, name, value)
    stored.fileloc, stored.data, stored.dag_hash, stored.last_updated = fileloc, json.dumps(data), digest, now


def _in_chunks(session: Session, stmt: Any, column: Any, values: list[str], size: int = 500) -> list[Any]:
    """Rows of ``stmt`` whose ``column`` is in ``values``, a few hundred bound values at a time."""
    out: list[Any] = []
    for start in range(0, len(values), size):
        out.extend(session.scalars(stmt.where(column.in_(values[start : start + size]))))
    return out


def _initially_paused(data: dict[str, Any], paused_at_creation: bool) -> bool:
    """A new DAG's pause flag: its ``is_paused_upon_creation``, else ``core.dags_are_paused_at_creation``."""
    flag = data.get("is_paused_upon_creation")
    return paused_at_creation if flag is None else bool(flag)


def _fill_dag_row(row: DagModel, data: dict[str, Any], fileloc: str, now: dt.datetime) -> None:
    row.fileloc = fileloc
    row.is_active = True
    row.has_import_errors = False
    row.owners = _owners(data)
    row.tags = list(data.get("tags") or [])
    row.description = data.get("description")
    row.timetable_description = data.get("timetable_summary")
    row.max_active_runs = data.get("max_active_runs")
    row.max_active_tasks = data.get("max_active_tasks")
    row.last_parsed_time = now


def _owners(data: dict[str, Any]) -> str | None:
    """Airflow's DagModel.owners: the distinct task owners, comma separated."""
    owners = sorted({t.get("owner") for t in data.get("tasks", []) if t.get("owner")})
    return ", ".join(owners) if owners else data.get("owner")


def _schedule_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return any(old.get(name) != new.get(name) for name in SCHEDULE_FIELDS)


def _deactivate(session: Session, filelocs: list[str], keep: set[str], import_error: bool) -> int:
    """Deactivate the active DAGs of ``filelocs`` not in ``keep``; flag them when the file failed."""
    if not filelocs:
        return 0
    stmt = sa.update(DagModel).where(DagModel.fileloc.in_(filelocs), DagModel.is_active.is_(True))
    if keep:
        stmt = stmt.where(DagModel.dag_id.not_in(keep))
    values: dict[str, Any] = {"is_active": False}
    if import_error:
        values["has_import_errors"] = True
    return rowcount(session, stmt.values(**values).execution_options(synchronize_session="fetch"))


def _set_import_errors(
    session: Session, parsed: list[ParseOutcome], failed: list[ParseOutcome], now: dt.datetime
) -> None:
    """Clear the import errors of files that parsed; record those of files that failed."""
    ok = [o.fileloc for o in parsed]
    for start in range(0, len(ok), 500):
        session.execute(
            sa.delete(ParseImportError).where(ParseImportError.filename.in_(ok[start : start + 500]))
        )
    for outcome in failed:
        record_import_error(session, outcome.fileloc, str(outcome.error), timestamp=now)


def _save_stamps(
    session: Session, outcomes: list[ParseOutcome], stamps: Mapping[str, FileStamp], now: dt.datetime
) -> None:
    """The ``dag_file`` row of every parsed file: its stat, hash, parse time and DAG ids."""
    files = [o.fileloc for o in outcomes]
    rows = {r.fileloc: r for r in _in_chunks(session, sa.select(DagFile), DagFile.fileloc, files)}
    for outcome in outcomes:
        row = rows.get(outcome.fileloc) or DagFile(fileloc=outcome.fileloc)
        stamp = stamps[outcome.fileloc]
        row.content_hash, row.mtime, row.size = stamp.content_hash, stamp.mtime, stamp.size
        row.last_parsed, row.parse_duration = now, outcome.duration
        row.dag_ids = sorted(d["dag_id"] for d in outcome.dags)
        row.source_code = _source(outcome.fileloc)
        session.add(row)
    session.flush()


MAX_SOURCE_BYTES = 1_000_000


def _source(fileloc: str) -> str | None:
    """The file's text as parsed, for the web UI's code view (which never reads user files itself)."""
    try:
        with open(fileloc, "rb") as handle:
            return handle.read(MAX_SOURCE_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None
