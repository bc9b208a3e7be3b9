"""Figure: what a forked task child costs, step by step, forked one at a time from a zygote-like process.

A process holding what the zygote holds (``zygote.warm_up`` and a 500-task DAG, frozen) forks
``--count`` children one after another; each child goes as far as ``--level`` and exits:

    0  fork, then exit at once (Python's after-fork work, the kernel's fork and exit)
    1  + the child's set-up (parent-death signal, own process group, SIGTERM handler)
    2  + its log (opened by the parent, as the fork server does: fds 1 and 2, Python's streams)
    3  + the log header (composed by the parent; the child adds its pid)
    4  + the try itself (``tries.run_work`` of a no-op PythonOperator, its run built by the parent)
    5  + its result sent and its socket closed (what a real child does)

Prints the CPU per child (and of the forking parent per fork) and the page faults per child.
``--ballast MIB`` makes the forking process that much bigger: the kernel copies its page tables at each
fork and tears the child's down at its exit.
Run: ``python bench/child_cost.py [--level 0-5] [--count 200]``; compare levels to see where a
child's time goes (bench/README.md, Rounds 5 and 6). As in a real child, the log is opened and
its header composed by the parent (the fork server does it) and the run built once by the parent
(the zygote does it).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import signal
import socket
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runtime import procs  # noqa: E402
from runtime.executors.messages import TaskWork, iso  # noqa: E402
from runtime.sdk import timezone  # noqa: E402
from runtime.sdk.context import run_entries  # noqa: E402
from runtime.worker import logs, tries, zygote  # noqa: E402
from runtime.worker.calls import RemoteServices  # noqa: E402
from runtime.worker.leanfork import LeanFork  # noqa: E402

DAG = """
from datetime import datetime
from airflow import DAG
from airflow.operators.python import PythonOperator
def noop():
    pass
with DAG("fan", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    for i in range(500):
        PythonOperator(task_id=f"t{i:04d}", python_callable=noop)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--level", type=int, default=5, choices=range(6))
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--ballast", type=int, default=0, metavar="MIB",
                    help="MiB of written memory more in the forking process (what a bigger zygote costs a child)")
    args = ap.parse_args()
    forker = LeanFork()  # as the zygote forks
    zygote.warm_up()
    ballast = bytearray(args.ballast << 20)
    for page in range(0, len(ballast), 4096):  # written, so mapped: an untouched allocation maps nothing
        ballast[page] = 1
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "fan.py")
        Path(src).write_text(DAG)
        files = tries.DagFiles()
        files.get(src, "fan").get_template_env()
        gc.collect()
        gc.freeze()
        redirect = logs.Redirect()
        run = {"dag_id": "fan", "run_id": "r1", "logical_date": iso(timezone.utcnow()), "run_type": "manual"}

        run_info = tries.dag_run_info(run)
        run_entries(files.get(src, "fan"), run_info)  # as the zygote builds a run once for its children
        zygote._learn_callables(files.get(src, "fan"))

        def child(i: int, fd: int, log_fd: int, head: str) -> None:  # pragma: no cover - a child
            gc.disable()
            if args.level >= 1:
                procs.die_with_parent()
                os.setpgid(0, 0)
                from runtime.worker.runner import on_sigterm

                procs.set_handler(signal.SIGTERM, on_sigterm)
            if args.level >= 2:
                redirect.install_fd(log_fd)
            if args.level >= 3:
                logs.write_header(head)
            if args.level >= 4:
                chan = socket.socket(fileno=fd)
                event = tries.run_work(work_of(i), files.get(src, "fan"), RemoteServices(chan, None), hostname="h",
                                       private_copy=False, run=run_info)
                if args.level >= 5:
                    chan.sendall(event.encode())
                    chan.shutdown(socket.SHUT_WR)
                    chan.close()
            os._exit(0)

        def work_of(i: int) -> TaskWork:
            return TaskWork(ti_id=i, dag_id="fan", task_id=f"t{i:04d}", run_id="r1", map_index=-1, try_number=1,
                            max_tries=0, fileloc=src, run=run)

        fork = forker.prepared()  # once, as the zygote prepares it per batch of forks
        c0, r0 = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
        for i in range(args.count):
            ours, theirs = socket.socketpair()
            log_fd = logs.open_log(os.path.join(tmp, "logs", f"dag_id=fan/run_id=r1/task_id=t{i % 500:04d}/attempt=1.log"))
            head = logs.header(work_of(i % 500), hostname="h", executor="local", job_id=1, pid=logs.PID_MARK)
            pid = fork()
            if pid == 0:  # pragma: no cover - the child never returns
                ours.close()
                child(i % 500, theirs.detach(), log_fd, head)
            theirs.close()
            os.close(log_fd)
            while ours.recv(65536):
                pass
            ours.close()
            os.waitpid(pid, 0)
        c1, r1 = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    n = args.count
    parent = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) / n * 1000
    kid = (c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime) / n * 1000
    print(f"child_cost level {args.level}: parent {parent:.2f} ms per fork (and its loop; "
          f"{(r1.ru_minflt - r0.ru_minflt) / n:.0f} page faults), child {kid:.2f} ms "
          f"(user {(c1.ru_utime - c0.ru_utime) / n * 1000:.2f}), page faults per child {(c1.ru_minflt - c0.ru_minflt) / n:.0f}")


if __name__ == "__main__":
    main()
