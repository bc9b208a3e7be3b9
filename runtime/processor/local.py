"""The DAG folder as the CLI sees it: every file parsed in a child with the processor's limits, no database.

``windsock dags list -S DIR`` and ``dags list-import-errors`` read only the serialized DAGs
the children send back, so a file that loops, segfaults, calls ``os._exit`` or allocates
without end costs its own child and shows up as that file's import error. Commands that run a
DAG (``dags test``, ``tasks test|render|list``, ``dags show``) then import only the one file
that defines it, in-process: a hostile neighbour in the folder cannot stop them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runtime.errors import DagFileError, UserError
from runtime.processor.files import list_files
from runtime.processor.parse import ParseJob, ParseLimits, mark_duplicates, parse_in_children, warm_up


@dataclass
class LocalDags:
    """Serialized DAGs by id and import errors of one parse of a folder (plus the examples)."""

    folder: str
    serialized: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[DagFileError] = field(default_factory=list)
    _loaded: dict[str, Any] = field(default_factory=dict)

    def get_dag(self, dag_id: str) -> Any:
        """The DAG object of ``dag_id``, importing only its file in this process; UserError if absent."""
        if dag_id not in self._loaded:
            self._loaded[dag_id] = self._load(dag_id)
        return self._loaded[dag_id]

    def lookup(self, dag_id: str) -> Any:
        """``get_dag`` that answers None for an unknown DAG (``dags test`` resolving another DAG)."""
        return self.get_dag(dag_id) if dag_id in self.serialized else None

    def _load(self, dag_id: str) -> Any:
        from runtime.loader import load_file

        data = self.serialized.get(dag_id)
        if data is None:
            hint = (f" ({len(self.errors)} file(s) failed to load: run 'windsock dags list-import-errors')"
                    if self.errors else "")
            raise UserError(f"DAG {dag_id!r} not found in {self.folder}{hint}")
        result = load_file(data["fileloc"])
        if result.error is not None:
            raise UserError(str(result.error))
        for dag in result.dags:
            if dag.dag_id == dag_id:
                return dag
        raise UserError(f"DAG {dag_id!r} was not defined by {data['fileloc']} when imported again")


def parse_folder(folder: str, *, examples_folder: str | None, limits: ParseLimits) -> LocalDags:
    """Parse every DAG file of ``folder`` (and ``examples_folder``) in children, as the DAG processor does."""
    warm_up()
    folders = [folder] + ([examples_folder] if examples_folder else [])
    outcomes = list(parse_in_children((ParseJob(f) for f in list_files(folders)), limits))
    mark_duplicates(outcomes, {})
    found = LocalDags(folder)
    for outcome in sorted(outcomes, key=lambda o: o.fileloc):
        if outcome.error is not None:
            found.errors.append(outcome.error)
        for data in outcome.dags:
            found.serialized[data["dag_id"]] = data
    return found
