"""Run one DAG file in Windsock (``dags test``, in-process) and print what happened as one JSON line.

The Windsock twin of ``compat_airflow_side.py``; same output format.

    PYTHONPATH=<repo> python scripts/compat_windsock_side.py FILE
"""

from __future__ import annotations

import contextlib
import io
import json
import sys


def _test(dag: object) -> dict:
    from runtime.inprocess import run_dag

    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink):
            record = run_dag(dag, quiet=True)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - the run's failure is the result we record
        return {"state": "error", "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300], "tis": {}}
    tis = {(t if mi < 0 else f"{t}[{mi}]"): ("None" if s in (None, "none") else s)
           for (t, mi), s in record.task_states.items()}
    return {"state": record.state, "tis": tis}


def main() -> None:
    from runtime.loader import load_file

    path = sys.argv[1]
    loaded = load_file(path)
    error = None if loaded.error is None else loaded.error.reason
    dags = {d.dag_id: d for d in loaded.dags}
    if error is None:  # a run that then times out still counts as imported
        print("@@IMPORTED " + json.dumps(sorted(dags)), flush=True)
    result = {"file": path, "error": error, "dags": {}}
    if error is None:
        result["dags"] = {dag_id: _test(dag) for dag_id, dag in sorted(dags.items())}
    print("@@RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
