"""Figures: kill -9 the scheduler N times while tries run; runs lost, tries re-run needlessly, recovery.

Recovery is the time from a kill to the next try that starts (the restarted scheduler, or the
surviving one, queues and a fork server claims it). Run:
``python bench/faults.py [--kills 10] [--postgres URL] [--schedulers 2]``. Targets (issue 8): 0, 0, <= 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runtime.store import db  # noqa: E402
from runtime.store.engine import make_engine, make_session_factory  # noqa: E402
from tests.faults import chaos  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--width", type=int, default=30)
    parser.add_argument("--chain", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0, help="how long each task sleeps")
    parser.add_argument("--schedulers", type=int, default=1)
    parser.add_argument("--postgres", help="a PostgreSQL URL of an empty database (default: SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="windsock-faults-") as tmp:
        home = Path(tmp)
        url = args.postgres or f"sqlite:///{home / 'windsock.db'}"
        engine = make_engine(url)
        db.reset(engine) if args.postgres else db.init(engine)
        factory = make_session_factory(engine)
        marks = home / "marks.txt"
        chaos.write_dag(home / "dags", marks, width=args.width, chain=args.chain, runs=args.runs, seconds=args.seconds)
        env = chaos.environment(url, home / "home", home / "dags")
        loop = chaos.KillLoop(env, home / "logs", schedulers=args.schedulers, kills=args.kills)
        loop.start()
        try:
            loop.run(running=lambda: chaos.running_tries(factory) > 0,
                     done=lambda: chaos.runs_done(factory, args.runs), timeout=900)
        finally:
            loop.stop()
        left = chaos.wait_gone(env["WINDSOCK_CHAOS_MARK"], 15)
        verdict = chaos.judge(factory, marks)
        recovery = chaos.Executions.read(marks).recovery(loop.kill_times)
    lost = sum(1 for s in verdict.run_states if s != "success")
    print(f"kills: {loop.kills_done} ({args.schedulers} scheduler(s), {'PostgreSQL' if args.postgres else 'SQLite'}; "
          f"{args.runs} runs x ({args.width} parallel + {args.chain} chained) tasks of {args.seconds:g} s)")
    print(f"runs lost (not success): {lost}")
    print(f"tries whose command ran twice: {len(verdict.executed_twice)}")
    print(f"tries re-run needlessly (recorded failed/zombie/interrupted although their command completed): "
          f"{len(verdict.needless)}")
    print(f"tries interrupted by a kill and run again (no retry used): {verdict.interrupted}")
    print(f"recovery after a kill (kill -> next try starts): median {statistics.median(recovery):.2f} s, "
          f"max {max(recovery):.2f} s")
    print(f"processes left behind: {len(left)}")


if __name__ == "__main__":
    main()
