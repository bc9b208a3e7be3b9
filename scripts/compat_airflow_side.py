"""Run one DAG file in Apache Airflow and print what happened as one JSON line.

Executed by the Python of the throwaway Airflow venv (``scripts/compat_corpus.py`` starts it),
never by Windsock's environment: it imports only Airflow and the standard library.

    <venv>/bin/python scripts/compat_airflow_side.py FILE [--no-run]

Output: ``{"file", "error", "dags": {dag_id: {"state", "tis": {"task[map]": state}}}}``.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import traceback


def _load(path: str) -> tuple[dict, str | None]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=path, safe_mode=False)
    errors = bag.import_errors
    error = next(iter(errors.values())).strip().splitlines()[-1] if errors else None
    return bag.dags, error


def _states(dag_run: object) -> dict[str, str]:
    out = {}
    for ti in dag_run.get_task_instances():  # type: ignore[attr-defined]
        key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        out[key] = str(getattr(ti.state, "value", ti.state))
    return out


def _test(path: str, dag_id: str) -> dict:
    from airflow.utils import timezone
    from airflow.utils.cli import get_bagged_dag

    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink):
            dag = get_bagged_dag(None, dag_id, dagfile_path=path)  # serializes it, as `airflow dags test`
            run = dag.test(logical_date=timezone.utcnow())
        return {"state": str(getattr(run.state, "value", run.state)), "tis": _states(run)}
    except Exception as exc:  # noqa: BLE001 - the run's failure is the result we record
        return {"state": "error", "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300], "tis": {}}


def main() -> None:
    path = sys.argv[1]
    run = "--no-run" not in sys.argv
    try:
        dags, error = _load(path)
    except Exception:  # noqa: BLE001
        dags, error = {}, traceback.format_exc().strip().splitlines()[-1]
    if error is None:  # a run that then times out still counts as imported
        print("@@IMPORTED " + json.dumps(sorted(dags)), flush=True)
    result = {"file": path, "error": error, "dags": {}}
    if error is None and run:
        result["dags"] = {dag_id: _test(path, dag_id) for dag_id in sorted(dags)}
    elif error is None:
        result["dags"] = {dag_id: {} for dag_id in sorted(dags)}
    print("@@RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
