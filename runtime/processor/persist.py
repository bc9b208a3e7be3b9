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
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.errors import DagFileError
from runtime.processor.files import FileStamp
from runtime.processor.parse import ParseOutcome
from runtime.sdk.serialization import dag_hash
from runtime.store.import_errors import clear_import_error, record_import_error
from runtime.store.models import DagFile, DagModel, ParseImportError, SerializedDagModel

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
    counts = SaveCounts()
    _flag_duplicates(session, outcomes)
    existing = _existing_dags(session, outcomes)
    for outcome in sorted(outcomes, key=lambda o: o.fileloc):
        if outcome.error is None:
            counts.updated += _save_dags(session, outcome, existing, now, paused_at_creation)
            clear_import_error(session, outcome.fileloc)
        else:
            record_import_error(session, outcome.fileloc, str(outcome.error), timestamp=now)
        keep = {d["dag_id"] for d in outcome.dags}
        counts.deactivated += _deactivate(session, [outcome.fileloc], keep, outcome.error is not None)
        _save_stamp(session, outcome, stamps[outcome.fileloc], now)
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
        owners.update((dag_id, fileloc) for dag_id, fileloc in session.execute(stmt))
    for outcome in sorted(outcomes, key=lambda o: o.fileloc):
        clash = next((d["dag_id"] for d in outcome.dags if d["dag_id"] in owners), None)
        if clash is not None:
            reason = f"AirflowDagDuplicatedIdException: DAG {clash!r} is already defined in {owners[clash]}"
            outcome.error, outcome.dags = DagFileError(outcome.fileloc, reason), []
            continue
        owners.update((d["dag_id"], outcome.fileloc) for d in outcome.dags)


def _existing_dags(
    session: Session, outcomes: Iterable[ParseOutcome]
) -> dict[str, tuple[DagModel, dict[str, Any] | None, str | None]]:
    """dag row, old serialization and old hash of every DAG about to be written."""
    ids = [d["dag_id"] for o in outcomes for d in o.dags]
    if not ids:
        return {}
    rows = {r.dag_id: r for r in session.scalars(sa.select(DagModel).where(DagModel.dag_id.in_(ids)))}
    serialized = {
        dag_id: (json.loads(data), digest)
        for dag_id, data, digest in session.execute(
            sa.select(SerializedDagModel.dag_id, SerializedDagModel.data, SerializedDagModel.dag_hash).where(
                SerializedDagModel.dag_id.in_(ids)
            )
        )
    }
    return {dag_id: (row, *serialized.get(dag_id, (None, None))) for dag_id, row in rows.items()}


def _save_dags(
    session: Session,
    outcome: ParseOutcome,
    existing: Mapping[str, tuple[DagModel, dict[str, Any] | None, str | None]],
    now: dt.datetime,
    paused_at_creation: bool,
) -> int:
    """Upsert the serialized DAG and the dag row of each DAG of a parsed file."""
    for data in outcome.dags:
        row, old_data, old_hash = existing.get(data["dag_id"], (None, None, None))
        digest = dag_hash(data)
        if digest != old_hash:
            _put_serialized(session, data, digest, outcome.fileloc, now, is_new=old_hash is None)
        if row is None:
            row = DagModel(dag_id=data["dag_id"], is_paused=_initially_paused(data, paused_at_creation))
            session.add(row)
        _fill_dag_row(row, data, outcome.fileloc, now)
        if old_data is not None and _schedule_changed(old_data, data):
            for name, value in _NEXT_DAGRUN.items():
                setattr(row, name, value)
    session.flush()
    return len(outcome.dags)


def _put_serialized(
    session: Session, data: dict[str, Any], digest: str, fileloc: str, now: dt.datetime, *, is_new: bool
) -> None:
    values = {"fileloc": fileloc, "data": json.dumps(data), "dag_hash": digest, "last_updated": now}
    if is_new:
        session.execute(sa.insert(SerializedDagModel).values(dag_id=data["dag_id"], **values))
    else:
        session.execute(
            sa.update(SerializedDagModel).where(SerializedDagModel.dag_id == data["dag_id"]).values(**values)
        )


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
    stmt = sa.update(DagModel).where(DagModel.fileloc.in_(filelocs), DagModel.is_active.is_(True))
    if keep:
        stmt = stmt.where(DagModel.dag_id.not_in(keep))
    values: dict[str, Any] = {"is_active": False}
    if import_error:
        values["has_import_errors"] = True
    result = session.execute(stmt.values(**values).execution_options(synchronize_session="fetch"))
    return int(result.rowcount)


def _save_stamp(session: Session, outcome: ParseOutcome, stamp: FileStamp, now: dt.datetime) -> None:
    row = session.get(DagFile, outcome.fileloc) or DagFile(fileloc=outcome.fileloc)
    row.content_hash = stamp.content_hash
    row.mtime = stamp.mtime
    row.size = stamp.size
    row.last_parsed = now
    row.parse_duration = outcome.duration
    row.dag_ids = sorted(d["dag_id"] for d in outcome.dags)
    session.add(row)
