"""Windsock against Apache Airflow 3.3.2 in one sitting: chain_50 gap and (optionally) fanout_500,
the idle tree's CPU and memory and the CLI's start-up.

    python bench/versus_airflow.py [--fanout] [--idle] [--cli] [--all] [--reps 3] [--build-airflow]
                                   [--airflow-root /tmp/airflow-bench]

Airflow runs through the shared harness in ``../shared/airflow-bench/`` (its README): a
throwaway venv under ``--airflow-root`` (``--build-airflow`` makes it when missing: ``pip
install apache-airflow==3.3.2``), SQLite, LocalExecutor, defaults, the stack api-server +
dag-processor + scheduler; ``bench.py sched`` triggers each DAG with ``airflow dags trigger``
and reads the task instances' timestamps. Windsock runs ``bench/chain.py`` and
``bench/fanout.py`` ``--reps`` times each on the same box, half of them before Airflow's run and
half after (right after Airflow's stack stops the box is slower for a while), and reports the
median run. The harness's fanout DAG keeps Airflow's default ``max_active_tasks`` (16 at once, of
parallelism 32) while ``bench/fanout.py``'s DAG lets parallelism decide (32 at once): the fanout is
also run with ``--max-active-tasks 16``, the like-for-like row. Prints the figures and the ratios.

With ``--fanout`` the fan-out is also timed as a user sees it: ``bench/fanout_cli.py`` (``windsock
standalone`` running, ``windsock dags trigger`` started -> the run's ``end_date``) once before Airflow,
against the harness's ``observed_wall_s`` of its fanout run (``airflow dags trigger`` started -> the
harness saw the run done, polling every 0.25 s).

``--idle``: the harness measures its stack's CPU and PSS over 30 s after a 15 s settle, before its
runs (it has parsed the harness's DAG folder), and ``bench/idle.py --dags`` that same folder measures
an idle ``windsock standalone`` the same way, before Airflow starts. ``--cli``: ``bench/cli.py``
times ``--help`` and ``dags list-runs`` on both (it makes its own homes). ``--all`` is all three.

Airflow's fanout_500 takes minutes (137 s on the 2-core box), so it runs only with
``--fanout``. Nothing here is a test; every process started is stopped before it returns
(the harness stops its services by process group).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HARNESS = Path(os.environ.get("WINDSOCK_AIRFLOW_BENCH", REPO.parent / "shared" / "airflow-bench"))
if not HARNESS.exists():
    HARNESS = Path("/work/shared/airflow-bench")
AIRFLOW_VERSION = "3.3.2"
TAG = "-versus"


def build_venv(root: Path) -> None:
    """The throwaway Airflow venv (as the harness's run.sh makes it, SQLite only)."""
    venv = root / "venv"
    if (venv / "bin" / "airflow").exists():
        return
    print(f"building {venv} with apache-airflow=={AIRFLOW_VERSION} (a few minutes)", flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["python3.11", "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-U", "pip"], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"apache-airflow[postgres]=={AIRFLOW_VERSION}"],
                   check=True)


def harness_dags(root: Path) -> Path:
    """The harness's DAG files (``gen_dags.py``: fanout_500_*, chain_50, mem_probe) in ``root/dags``."""
    subprocess.run([str(root / "venv" / "bin" / "python"), str(HARNESS / "gen_dags.py"), str(root / "dags"),
                    str(root / "dags_many"), "200", "10"], check=True, capture_output=True)
    return root / "dags"


def airflow(root: Path, dags: list[str], timeout: float, idle: bool = False) -> tuple[dict[str, dict], list[dict]]:
    """Run the harness's ``sched`` step on SQLite for ``dags`` (made by :func:`harness_dags`; with ``idle``,
    after its idle window); the last record per DAG, and the idle records (one per service: api-server,
    dag-processor, scheduler)."""
    results = root / "results" / f"sqlite{TAG}" / "sched_run.jsonl"
    idles = results.with_name("idle.jsonl")
    for old in (results, idles):
        if old.exists():
            old.unlink()
    window = "--settle 15 --idle-window 30" if idle else "--skip-idle --settle 5"
    script = (f'export BENCH_ROOT="{root}" BENCH_DB=sqlite BENCH_TAG="{TAG}"; . "{HARNESS}/env.sh"; '
              f'exec python "{HARNESS}/bench.py" sched {window} --pause 2 --timeout {int(timeout)} '
              f'--dags {" ".join(dags)}')
    started = time.monotonic()
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=timeout * len(dags) + 600)
    if done.returncode != 0:
        raise SystemExit(f"the Airflow harness failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    print(f"(Airflow harness took {time.monotonic() - started:.0f} s in all)", flush=True)
    out: dict[str, dict] = {}
    for line in results.read_text().splitlines():
        rec = json.loads(line)
        out[rec["dag"]] = rec
    idle_records = [json.loads(line) for line in idles.read_text().splitlines()] if idle else []
    return out, idle_records


def windsock(script: str, *args: str, homes: str, whole: bool = False) -> str:
    """One of our bench scripts in a fresh process, its home kept in ``homes`` until the sitting ends
    (``homes.bench_home``: a deletion just before a run slows its file creations); its last line (with
    ``whole``, all its output)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), BENCH_HOMES=homes)
    done = subprocess.run([sys.executable, str(REPO / "bench" / script), *args], env=env, capture_output=True,
                          text=True, timeout=900, cwd=str(REPO))
    if done.returncode != 0:
        raise SystemExit(f"bench/{script} failed: {done.stderr[-2000:]}")
    return done.stdout.strip() if whole else done.stdout.strip().splitlines()[-1]


def number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    if found is None:
        raise SystemExit(f"no {pattern!r} in {text!r}")
    return float(found.group(1))


def _median_line(lines: list[str], pattern: str) -> str:
    """The line whose figure is the median of ``lines`` (the lower middle one for an even count)."""
    ranked = sorted(lines, key=lambda line: number(pattern, line))
    return ranked[(len(ranked) - 1) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fanout", action="store_true", help="also fanout_500 on Airflow (minutes)")
    ap.add_argument("--idle", action="store_true", help="also the idle tree's CPU and PSS (about 2 minutes)")
    ap.add_argument("--cli", action="store_true", help="also the CLI's start-up (bench/cli.py, about 2 minutes)")
    ap.add_argument("--all", action="store_true", help="--fanout --idle --cli")
    ap.add_argument("--airflow-root", default=os.environ.get("BENCH_ROOT", "/tmp/airflow-bench"))
    ap.add_argument("--build-airflow", action="store_true", help="make the Airflow venv if it is missing")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds one Airflow run may take")
    ap.add_argument("--reps", type=int, default=3,
                    help="Windsock runs of each script, half before Airflow's and half after (median reported): "
                         "the minutes after Airflow's stack stops are not the minutes before it started")
    args = ap.parse_args()
    if args.all:
        args.fanout = args.idle = args.cli = True
    root = Path(args.airflow_root)
    if not (root / "venv" / "bin" / "airflow").exists():
        if not args.build_airflow:
            raise SystemExit(f"no Airflow venv in {root}/venv: pass --build-airflow (or run the harness's run.sh)")
        build_venv(root)
    dags = ["chain_50:1"] + (["fanout_500_python:1"] if args.fanout else [])
    reps = max(1, args.reps)
    chains: list[str] = []
    fans: list[str] = []

    capped: list[str] = []  # the harness's DAG keeps the default max_active_tasks (16): the same cap here

    homes = tempfile.mkdtemp(prefix="windsock-sitting-")

    def ours(count: int) -> None:
        for _ in range(count):
            chains.append(windsock("chain.py", homes=homes))
            if args.fanout:
                fans.append(windsock("fanout.py", homes=homes))
                capped.append(windsock("fanout.py", "--max-active-tasks", "16", homes=homes))

    print(f"Windsock (this checkout): bench/chain.py{', bench/fanout.py' if args.fanout else ''}, "
          f"{reps} runs each, {(reps + 1) // 2} before Airflow's and {reps // 2} after", flush=True)
    idle_ours = cli_out = fan_cli = ""
    folder = harness_dags(root)  # what Airflow's stack parses (and Windsock's idle tree, with --idle)
    try:
        if args.idle:
            print("Windsock: bench/idle.py --dags (the harness's DAG folder)", flush=True)
            idle_ours = windsock("idle.py", "--dags", str(folder), homes=homes, whole=True)
        ours((reps + 1) // 2)
        if args.fanout:
            fan_cli = windsock("fanout_cli.py", homes=homes)
        print(f"Airflow {AIRFLOW_VERSION} (SQLite, LocalExecutor, defaults): {', '.join(dags)}"
              f"{' after its idle window' if args.idle else ''}", flush=True)
        af, af_idle = airflow(root, dags, args.timeout, idle=args.idle)
        ours(reps // 2)
        if args.cli:
            print("both: bench/cli.py -n 7", flush=True)
            cli_out = windsock("cli.py", "-n", "7", "--airflow-venv", str(root / "venv"), homes=homes, whole=True)
    finally:
        shutil.rmtree(homes, ignore_errors=True)  # every run measured (or the sitting failed)
    chain = _median_line(chains, r"gap mean ([\d.]+) ms")
    fan = _median_line(fans, r"in ([\d.]+) s \(") if fans else None
    fan16 = _median_line(capped, r"in ([\d.]+) s \(") if capped else None

    rows = []
    a_chain = af.get("chain_50", {})
    a_gap = (a_chain.get("inter_task_gap") or {}).get("mean")
    w_gap = number(r"gap mean ([\d.]+) ms", chain) / 1000
    rows.append(("chain_50 end -> next start gap, mean", a_gap, w_gap, "ms"))
    if fan is not None:
        a_fan = af.get("fanout_500_python", {}).get("trigger_to_done_s")
        w_fan = number(r"in ([\d.]+) s \(", fan)
        rows.append(("fanout_500 no-op, trigger -> run done", a_fan, w_fan, "s"))
        if fan16 is not None:  # Airflow's run of the harness's DAG: the default max_active_tasks of 16
            rows.append(("  the same, max_active_tasks 16 here too", a_fan, number(r"in ([\d.]+) s \(", fan16), "s"))
        if fan_cli:
            rows.append(("  seen from the CLI (trigger started)", af.get("fanout_500_python", {}).get("observed_wall_s"),
                         number(r"end_date in ([\d.]+) s", fan_cli), "s"))
    if args.idle:
        line = next(x for x in idle_ours.splitlines() if x.strip().startswith("total"))
        rows.append(("idle tree CPU (% of a core, 30 s)", sum(r.get("idle_cpu_pct", 0.0) for r in af_idle),
                     number(r"CPU\s+([\d.]+) %", line), "%"))
        rows.append(("idle tree PSS", sum(r.get("tree_pss_mb", 0.0) for r in af_idle),
                     number(r"PSS\s+([\d.]+) MiB", line), "MiB"))
    if args.cli:
        for what in ("--help", "dags list-runs"):
            wall_ms = r" wall median\s+([\d.]+) ms"
            a_line = next(x for x in cli_out.splitlines() if x.startswith(f"airflow {what}"))
            w_line = next(x for x in cli_out.splitlines() if x.startswith(f"windsock {what}"))
            rows.append((f"CLI {what}, wall", number(wall_ms, a_line) / 1000, number(wall_ms, w_line) / 1000, "ms"))
    print()
    print(f"{'figure':<40} {'Airflow':>12} {'Windsock':>12} {'ratio':>8}")
    for name, a, w, unit in rows:
        ratio = f"{a / w:6.0f}x" if a and w else "-"
        scale = 1000 if unit == "ms" else 1
        a_text = f"{a * scale:9.1f} {unit}" if a else "-"
        w_text = f"{w * scale:9.2f} {unit}"
        print(f"{name:<40} {a_text:>12} {w_text:>12} {ratio:>8}")
    if idle_ours:
        print("\nWindsock idle (bench/idle.py):\n  " + idle_ours.replace("\n", "\n  "))
        print("Airflow idle (the harness, per service tree):")
        for rec in af_idle:
            print(f"  {rec.get('proc', '?'):<16} {rec.get('n_procs', 0):3d} processes   CPU "
                  f"{rec.get('idle_cpu_pct', 0.0):5.2f} % of a core   PSS {rec.get('tree_pss_mb', 0.0):6.1f} MiB")
    if cli_out:
        print("\nbench/cli.py:\n  " + cli_out.replace("\n", "\n  "))
    print("\nWindsock lines (the median run's; every run, in order, below):\n  " + chain + (f"\n  {fan}" if fan else "")
          + (f"\n  {fan16}" if fan16 else "") + (f"\n  {fan_cli}" if fan_cli else ""))
    for line in chains + fans + capped:
        print(f"    {line}")
    if a_chain:
        print(f"Airflow chain_50: trigger -> done {a_chain.get('trigger_to_done_s', 0):.1f} s")


if __name__ == "__main__":
    main()
