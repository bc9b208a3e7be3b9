"""Judge Airflow compatibility on DAG files nobody on the team wrote.

The corpus is Airflow's own example and tutorial DAGs: those of the ``apache-airflow`` 3.x wheel
(core and the standard / common-sql providers) and of the 2.10.5 wheel (Airflow 2 imports).
Every file is loaded and run (``dags test``) by Apache Airflow in a throwaway venv and by
Windsock, one process per file with a timeout, and the two are compared.

    python scripts/compat_corpus.py collect   # build the venv (once) and copy the corpus
    python scripts/compat_corpus.py airflow   # Airflow's results (slow: ~15 min), cached
    python scripts/compat_corpus.py windsock  # Windsock's results
    python scripts/compat_corpus.py report    # the figures for docs/compatibility.md
    python scripts/compat_corpus.py all

Everything lives under ``$COMPAT_ROOT`` (default /tmp/windsock-airflow). Run from the repo root
with ``PYTHONPATH=$PWD``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(os.environ.get("COMPAT_ROOT", "/tmp/windsock-airflow"))
VENV = ROOT / "venv"
AIRFLOW_VERSION = "3.3.2"
AIRFLOW2_VERSION = "2.10.5"
CORPUS = ROOT / "corpus"
HERE = Path(__file__).resolve().parent
TIMEOUT = 180.0
# Task-instance states both sides agree mean "ended"; everything else is compared verbatim.
SITE = "lib/python3.11/site-packages"


def ensure_venv() -> Path:
    """The throwaway Airflow venv (built once; never the project's environment)."""
    python = VENV / "bin" / "python"
    if not (VENV / "bin" / "airflow").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"apache-airflow=={AIRFLOW_VERSION}"], check=True)
    home = ROOT / "home"
    if not (home / "airflow.db").exists():
        home.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(VENV / "bin" / "airflow"), "db", "migrate"], check=True, env=airflow_env(str(home), str(home)),
                       stdout=subprocess.DEVNULL)
    return python


def airflow_env(dags_folder: str, home: str | None = None) -> dict[str, str]:
    """Environment of an Airflow process: its home, no examples, this DAG folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "WINDSOCK", "PYTHONPATH"))}
    env.update(AIRFLOW_HOME=home or str(ROOT / "home"), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__CORE__DAGS_FOLDER=dags_folder, AIRFLOW__CORE__UNIT_TEST_MODE="False")
    return env


def _airflow_file_env(dags: str) -> dict[str, str]:
    """Each file gets a fresh copy of the migrated metadata DB: no asset or run of another file leaks in."""
    home = Path(dags).parent / "airflow-home"
    home.mkdir()
    shutil.copy(ROOT / "home" / "airflow.db", home / "airflow.db")
    return airflow_env(dags, str(home))


def collect() -> list[Path]:
    """Copy the corpus (one folder per source) under ``$COMPAT_ROOT/corpus``."""
    ensure_venv()
    site = VENV / SITE / "airflow"
    sources = {
        "a3-core": site / "example_dags",
        "a3-standard": site / "providers" / "standard" / "example_dags",
        "a3-common-sql": site / "providers" / "common" / "sql" / "example_dags",
        "a2-core": _airflow2_examples(),
    }
    for name, folder in sources.items():
        target = CORPUS / name
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for path in sorted(folder.glob("*.py")):
            if path.name != "__init__.py":
                shutil.copy(path, target / path.name)
    return files()


def _airflow2_examples() -> Path:
    """The example DAGs of the Airflow 2 wheel (downloaded with pip, not installed)."""
    out = ROOT / "a2"
    wheels = glob.glob(str(out / f"apache_airflow-{AIRFLOW2_VERSION}-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"apache-airflow=={AIRFLOW2_VERSION}",
                        "-d", str(out)], check=True)
        wheels = glob.glob(str(out / f"apache_airflow-{AIRFLOW2_VERSION}-*.whl"))
    folder = out / "airflow" / "example_dags"
    if not folder.exists():
        with zipfile.ZipFile(wheels[0]) as whl:
            whl.extractall(out, [n for n in whl.namelist() if n.startswith("airflow/example_dags/")])
    return folder


def files() -> list[Path]:
    """Every corpus file, by source then name."""
    return sorted(CORPUS.glob("*/*.py"))


def _run_isolated(cmd: list[str], path: Path, env_for: Any) -> dict[str, Any]:
    """Run ``cmd`` on a private copy of ``path`` (alone in its folder), killed after TIMEOUT."""
    with tempfile.TemporaryDirectory(prefix="corpus-") as tmp:
        dags = Path(tmp) / "dags"
        dags.mkdir()
        copy = dags / path.name
        shutil.copy(path, copy)
        proc = subprocess.Popen([*cmd, str(copy)], env=env_for(str(dags)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True, cwd=tmp)
        try:
            out, _ = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out = proc.communicate()[0] or ""
            return _timed_out(out)
    for line in reversed(out.splitlines()):
        if line.startswith("@@RESULT "):
            result = json.loads(line[len("@@RESULT "):])
            result.pop("file", None)
            return result
    return {"error": "no result: " + " | ".join(out.strip().splitlines()[-3:])[:400], "dags": {}}


def _timed_out(out: str) -> dict[str, Any]:
    """A file whose run passed TIMEOUT: imported (its DAGs listed, runs not compared) or not."""
    for line in out.splitlines():
        if line.startswith("@@IMPORTED "):
            dags = {dag_id: {"state": "timeout", "tis": {}} for dag_id in json.loads(line[len("@@IMPORTED "):])}
            return {"error": None, "dags": dags, "timeout": True}
    return {"error": f"timeout after {TIMEOUT:.0f}s", "dags": {}, "timeout": True}


def _results_path(side: str) -> Path:
    return ROOT / f"results-{side}.json"


def run_side(side: str, only: list[str] | None = None) -> dict[str, Any]:
    """Results of one side for every corpus file (kept in ``$COMPAT_ROOT/results-<side>.json``)."""
    path = _results_path(side)
    results: dict[str, Any] = json.loads(path.read_text()) if path.exists() and only else {}
    if side == "airflow":
        cmd, env_for = [str(ensure_venv()), str(HERE / "compat_airflow_side.py")], _airflow_file_env
    else:
        cmd, env_for = [sys.executable, str(HERE / "compat_windsock_side.py")], _windsock_env
    for file in files():
        key = f"{file.parent.name}/{file.name}"
        if only and not any(o in key for o in only):
            continue
        results[key] = _run_isolated(cmd, file, env_for)
        print(f"{side}: {key}: {_summary(results[key])}", flush=True)
        path.write_text(json.dumps(results, indent=1, sort_keys=True))
    return results


def _windsock_env(dags: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "WINDSOCK__"))}
    env.update(WINDSOCK_HOME=str(Path(dags).parent / "home"), WINDSOCK__CORE__LOAD_EXAMPLES="False",
               PYTHONPATH=str(HERE.parent), WINDSOCK__CORE__DAGS_FOLDER=dags)
    return env


def _summary(result: dict[str, Any]) -> str:
    if result.get("error"):
        return f"ERROR {result['error'][:150]}"
    return ", ".join(f"{d}={r.get('state')}" for d, r in result["dags"].items()) or "no DAG"


def compare(airflow: dict[str, Any], windsock: dict[str, Any]) -> dict[str, Any]:
    """Import counts and equal-outcome counts over the files both sides have results for."""
    table: dict[str, Any] = {"files": 0, "airflow_imports": 0, "windsock_imports": 0, "both_import": 0,
                             "runs_both": 0, "runs_equal": 0, "import_gaps": [], "outcome_gaps": []}
    for key in sorted(airflow):
        a, w = airflow[key], windsock.get(key)
        if w is None:
            continue
        table["files"] += 1
        a_ok, w_ok = not a.get("error"), not w.get("error")
        table["airflow_imports"] += a_ok
        table["windsock_imports"] += w_ok
        if a_ok and not w_ok:
            table["import_gaps"].append(f"{key}: {w['error'][:200]}")
        if not (a_ok and w_ok):
            continue
        table["both_import"] += 1
        for dag_id, a_run in a["dags"].items():
            w_run = w["dags"].get(dag_id)
            if not a_run or a_run.get("state") in ("error", "timeout") or not w_run or w_run.get("state") == "timeout":
                continue
            table["runs_both"] += 1
            if w_run.get("state") == a_run["state"] and w_run.get("tis") == a_run["tis"]:
                table["runs_equal"] += 1
            else:
                table["outcome_gaps"].append(f"{key} {dag_id}: airflow {a_run['state']} / windsock {w_run.get('state')}: "
                                             + _diff(a_run["tis"], w_run.get("tis") or {}))
    return table


def _diff(a: dict[str, str], w: dict[str, str]) -> str:
    keys = sorted(set(a) | set(w))
    return ", ".join(f"{k} {a.get(k)}/{w.get(k)}" for k in keys if a.get(k) != w.get(k))[:400]


def report() -> dict[str, Any]:
    """Print the comparison of the two cached result sets."""
    airflow = json.loads(_results_path("airflow").read_text())
    windsock = json.loads(_results_path("windsock").read_text())
    table = compare(airflow, windsock)
    print(f"files: {table['files']}; Airflow {AIRFLOW_VERSION} imports {table['airflow_imports']}, Windsock imports "
          f"{table['windsock_imports']} ({table['both_import']} of Airflow's); runs in both: {table['runs_both']}, "
          f"same end states: {table['runs_equal']}")
    for line in table["import_gaps"]:
        print(f"  import gap  {line}")
    for line in table["outcome_gaps"]:
        print(f"  outcome gap {line}")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["collect", "airflow", "windsock", "report", "all"])
    parser.add_argument("--only", nargs="*", help="substrings of corpus keys to (re)run")
    args = parser.parse_args(argv)
    if args.step in ("collect", "all"):
        print(f"corpus: {len(collect())} files under {CORPUS}")
    for side in ("airflow", "windsock"):
        if args.step in (side, "all"):
            run_side(side, args.only)
    if args.step in ("report", "all"):
        report()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
