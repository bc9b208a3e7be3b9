"""Idle cost of ``windsock standalone``: CPU and PSS of the whole process tree, no DAG running.

    python bench/idle.py [--seconds 30] [--settle 15] [--examples] [--dags DIR] [--web] [--postgres URL] [--repo DIR]

Starts ``windsock standalone`` on a throwaway home (SQLite unless ``--postgres``), waits until
its scheduler runs (with ``--web``: and the web server answered a request, which starts it) and
``--settle`` seconds more (first parse, job rows), then samples the
CPU time (``/proc/PID/schedstat``) and wake-ups (voluntary context switches) of every process in
the tree over ``--seconds`` and their PSS at the end. Prints one line per process (scheduler,
DAG processor, web, a fork server if one runs...) and the total CPU as % of one core. Bundled
examples are off unless ``--examples`` (the example DAG's start-up run is not idle); ``--dags DIR``
scans DIR instead of the home's empty DAG folder (``bench/versus_airflow.py --idle`` passes the Airflow
harness's folder, so both sides parse the same files).
Stops the tree before it returns.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from homes import bench_home  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc)."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parent_of[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = [pid], [pid]
    while frontier:
        kids = [p for p, pp in parent_of.items() if pp in frontier]
        tree += kids
        frontier = kids
    return tree


def cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` (itself, not its children): the scheduler's own count of its run time
    (``/proc/PID/schedstat``, nanoseconds) where there is one; else user + system time, which the
    kernel may count in whole clock ticks charged to whoever runs when the tick fires (on this box
    a process waking once a second shows 0.2 % that way and 0.06 % by schedstat)."""
    try:
        with open(f"/proc/{pid}/schedstat") as handle:
            return int(handle.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        times = psutil.Process(pid).cpu_times()
        return float(times.user + times.system)
    except ImportError:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK


def wakeups(pid: int) -> int:
    """Times ``pid`` went to sleep and was woken (voluntary context switches): an idle process's cost
    that does not depend on how expensive one wake-up is on this box."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("voluntary_ctxt_switches:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def pss_mib(pid: int) -> float:
    """Proportional set size of ``pid`` in MiB."""
    try:
        import psutil

        return float(psutil.Process(pid).memory_full_info().pss) / 2**20
    except ImportError:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    return 0.0


def name_of(pid: int) -> str:
    """A short name: the kernel name a forked component set (``/proc/PID/comm``), else the windsock
    verb or module of the process."""
    try:
        with open(f"/proc/{pid}/comm") as handle:
            comm = handle.read().strip()
        if comm and not comm.startswith("python"):
            return comm
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = [a.decode(errors="replace") for a in handle.read().split(b"\0") if a]
    except OSError:
        return "?"
    for marker in ("runtime.cli.main", "windsock"):
        for i, arg in enumerate(argv):
            if arg.endswith(marker) and i + 1 < len(argv):
                return " ".join(argv[i + 1:i + 2])
    for i, arg in enumerate(argv[:-1]):  # python -m MODULE, or runtime/launch.py MODULE (procs.python_module)
        if arg == "-m" or arg.endswith("launch.py"):
            return argv[i + 1].rsplit(".", 1)[-1]
    return os.path.basename(argv[0]) if argv else "?"


def wait_started(log: Path, timeout: float) -> None:
    """Until standalone says its scheduler runs (its banner and the web port are up before that)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and b"[windsock] scheduler: executor" in log.read_bytes():
            return
        time.sleep(0.2)
    raise SystemExit(f"standalone did not start within {timeout:.0f}s; see {log}")


def wait_web(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read()
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the web server did not answer on port {port} within {timeout:.0f}s")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def standalone_tree(cmd: list[str], env: dict[str, str], home: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``cmd`` (a ``windsock standalone``) in its own session, its output in ``home/standalone.log``;
    the whole tree is stopped (SIGTERM, then SIGKILL after 30 s) when the block ends, also when this
    script is stopped by SIGTERM (``timeout``, ``kill``): the tree is in a session of its own, so
    nothing else would end it."""
    def stopped(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stopped)
    with open(home / "standalone.log", "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(cmd, env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        signal.signal(signal.SIGTERM, previous)
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--settle", type=float, default=15.0)
    ap.add_argument("--examples", action="store_true", help="also load the bundled example DAGs")
    ap.add_argument("--dags", metavar="DIR", help="the DAG folder to scan (default: the home's own, empty)")
    ap.add_argument("--web", action="store_true",
                    help="send one request first: the web server (started by a connection) is then in the sample")
    ap.add_argument("--postgres", metavar="URL", help="run on this (empty, initialised or not) PostgreSQL database")
    ap.add_argument("--repo", default=str(REPO), help="the Windsock checkout to run (e.g. another worktree: before/after)")
    args = ap.parse_args()
    with bench_home("windsock-idle-") as tmp:  # removed at the end (kept in $BENCH_HOMES when that is set)
        measure(args, Path(tmp))


def measure(args: argparse.Namespace, home: Path) -> None:
    """Start the tree in ``home``, measure, print, stop it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WINDSOCK", "AIRFLOW"))}
    env.update(WINDSOCK_HOME=str(home), PYTHONPATH=args.repo, WINDSOCK__WEBSERVER__WEB_SERVER_PORT=str(port),
               WINDSOCK__CORE__LOAD_EXAMPLES=str(bool(args.examples)))
    if args.postgres:
        env["WINDSOCK__DATABASE__SQL_ALCHEMY_CONN"] = args.postgres
    if args.dags:
        env["WINDSOCK__CORE__DAGS_FOLDER"] = str(Path(args.dags).resolve())
    cmd = [sys.executable, "-m", "runtime.cli.main", "standalone"] + (["--examples"] if args.examples else [])
    with standalone_tree(cmd, env, home) as proc:
        wait_started(home / "standalone.log", 120)
        if args.web:
            asked = time.monotonic()
            wait_web(port, 120)  # a request forks the web server (it then stays for standalone_idle_exit)
            print(f"first web request answered in {time.monotonic() - asked:.2f} s")
        time.sleep(args.settle)
        pids = children(proc.pid)
        before = {p: cpu_seconds(p) for p in pids}
        woke = {p: wakeups(p) for p in pids}
        started = time.monotonic()
        time.sleep(args.seconds)
        took = time.monotonic() - started
        rows = []
        for pid in children(proc.pid):
            try:
                used = cpu_seconds(pid) - before.get(pid, 0.0)
                rows.append((name_of(pid), pid, used, pss_mib(pid), pid not in before, wakeups(pid) - woke.get(pid, 0)))
            except (OSError, ProcessLookupError):
                continue
        print(f"windsock standalone idle over {took:.0f} s ({'PostgreSQL' if args.postgres else 'SQLite'}"
              f"{', examples' if args.examples else ''}{', DAGs of ' + args.dags if args.dags else ''}; CPU from "
              f"{'schedstat' if os.path.exists('/proc/self/schedstat') else 'utime+stime'}):")
        for name, pid, used, pss, new, wakes in rows:
            print(f"  {name:<16} pid {pid:<7} CPU {100 * used / took:5.2f} % of a core   PSS {pss:6.1f} MiB   "
                  f"wake-ups {wakes / took:5.1f}/s" + ("   (started during the sample)" if new else ""))
        total_cpu = sum(r[2] for r in rows)
        print(f"  {'total':<16} {'':<11} CPU {100 * total_cpu / took:5.2f} % of a core   "
              f"PSS {sum(r[3] for r in rows):6.1f} MiB   wake-ups {sum(r[5] for r in rows) / took:5.1f}/s "
              f"({len(rows)} processes)")


if __name__ == "__main__":
    main()
