"""CLI start-up: wall time of ``windsock --help`` and ``windsock dags list-runs X``, median of N runs.

Also ``windsock dags list`` (the DAG files parsed in child processes, issue 14 item 7).

    python bench/cli.py [-n 15] [--airflow-venv /tmp/airflow-bench/venv] [--build-airflow]

Each figure is one fresh process, as a user types it, on a throwaway SQLite home with the
example DAG parsed and three runs. With an Apache Airflow venv (``--airflow-venv``, default
``/tmp/airflow-bench/venv``; ``--build-airflow`` makes one in a throwaway folder) the same two
commands run on Airflow in the same sitting, so the ratio holds on any box. Prints only; times
nothing in the tests. Every process it starts ends before it returns.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_VERSION = "3.3.2"
EXAMPLE = REPO / "runtime" / "example_dags" / "example_windsock.py"


def windsock_cmd() -> list[str]:
    """The ``windsock`` console script beside this interpreter (not a pyenv shim), else ``-m``.

    Either way it runs this checkout's ``runtime`` (PYTHONPATH puts it before an editable install
    of another clone); the first line printed names the folder it ran.
    """
    script = Path(sys.executable).parent / "windsock"
    return [str(script)] if script.exists() else [sys.executable, "-m", "runtime.cli.main"]


def wall(cmd: list[str], env: dict[str, str], n: int) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + sys) seconds of ``n`` runs of ``cmd``, after one warm-up run (page cache)."""
    walls, cpus = [], []
    for i in range(n + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        took = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
        if i:
            walls.append(took)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return walls, cpus


def figure(name: str, measured: tuple[list[float], list[float]]) -> float:
    """Print ``name: wall median (min-max), CPU median`` and return the wall median."""
    walls, cpus = measured
    median = statistics.median(walls)
    print(f"{name:<44} wall median {median * 1000:6.0f} ms (min {min(walls) * 1000:.0f}, max "
          f"{max(walls) * 1000:.0f}), CPU median {statistics.median(cpus) * 1000:.0f} ms, n={len(walls)}", flush=True)
    return median


def windsock_home(root: Path) -> dict[str, str]:
    """A fresh home: database, the example DAG parsed, three manual runs; its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WINDSOCK", "AIRFLOW"))}
    env.update(WINDSOCK_HOME=str(root), PYTHONPATH=f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}".rstrip(os.pathsep))
    cmd = windsock_cmd()
    for args in (["db", "init"], ["dag-processor", "-n", "1"], *[["dags", "trigger", "example_windsock", "-r", f"r{i}"]
                                                                 for i in range(3)]):
        subprocess.run([*cmd, *args], env=env, check=True, capture_output=True, timeout=300)
    return env


def build_airflow(root: Path) -> Path:
    """A throwaway venv with apache-airflow (same pin as ../shared/airflow-bench); its path."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"apache-airflow=={AIRFLOW_VERSION}"], check=True)
    return venv


def airflow_home(venv: Path, root: Path) -> dict[str, str]:
    """A fresh Airflow home on SQLite with the same example DAG serialized and three runs."""
    dags = root / "dags"
    dags.mkdir(parents=True)
    shutil.copy(EXAMPLE, dags)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WINDSOCK", "AIRFLOW", "PYTHONPATH"))}
    env.update(AIRFLOW_HOME=str(root), AIRFLOW__CORE__DAGS_FOLDER=str(dags), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}")
    airflow = str(venv / "bin" / "airflow")
    for args in (["db", "migrate"], ["dags", "reserialize"],
                 *[["dags", "trigger", "example_windsock", "-r", f"r{i}"] for i in range(3)]):
        subprocess.run([airflow, *args], env=env, check=True, capture_output=True, timeout=600)
    return env


def main() -> int:
    """Print the figures (and the Airflow ratio when a venv is there)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=15, help="runs per figure (median)")
    parser.add_argument("--airflow-venv", type=Path, default=Path("/tmp/airflow-bench/venv"))
    parser.add_argument("--build-airflow", action="store_true", help="make a throwaway Airflow venv if missing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ws-bench-cli-") as tmp:
        env = windsock_home(Path(tmp) / "home")
        cmd = windsock_cmd()
        code = subprocess.run([sys.executable, "-c", "import runtime; print(runtime.__file__)"], env=env, check=True,
                              capture_output=True, text=True).stdout.strip()  # this checkout's code, not another clone's
        print(f"windsock: {' '.join(cmd)} running {Path(code).parents[1]} (Python {sys.version.split()[0]}), "
              f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
        ours = (figure("windsock --help", wall([*cmd, "--help"], env, args.n)),
                figure("windsock dags list-runs example_windsock", wall([*cmd, "dags", "list-runs", "example_windsock"],
                                                                        env, args.n)))
        figure("windsock dags list (example parsed in a child)", wall([*cmd, "dags", "list"], env, args.n))
        venv = args.airflow_venv
        if not (venv / "bin" / "airflow").exists() and args.build_airflow:
            venv = build_airflow(Path(tmp) / "airflow")
        if not (venv / "bin" / "airflow").exists():
            print(f"airflow: no venv at {venv} (pass --build-airflow, or build ../shared/airflow-bench): no ratio")
            return 0
        aenv = airflow_home(venv, Path(tmp) / "airflow-home")
        airflow = str(venv / "bin" / "airflow")
        theirs = (figure("airflow --help", wall([airflow, "--help"], aenv, max(3, args.n // 3))),
                  figure("airflow dags list-runs example_windsock",
                         wall([airflow, "dags", "list-runs", "example_windsock"], aenv, max(3, args.n // 3))))
        for what, a, w in zip(("--help", "dags list-runs"), theirs, ours, strict=True):
            print(f"ratio {what:<16} Airflow / Windsock = {a / w:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
