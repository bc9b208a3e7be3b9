"""Task children are forked by a zygote that holds no store; their calls to the store go through the
fork server (runtime.worker.calls), and a zygote that dies takes only its running tries with it."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import pytest

from runtime.sdk.connection import Connection
from runtime.store.connections import set_connection
from runtime.store.crypto import get_fernet
from runtime.store.session import transaction
from runtime.store.variables import set_variable


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])


CALLS = """
import sys, threading
from airflow.models import Variable
from airflow.hooks.base import BaseHook

def produce(**ctx):
    ctx["ti"].xcom_push(key="when", value=datetime(2024, 5, 6, 7, 8, 9))
    return {"n": 3, "items": ["a", "b"]}

def consume(**ctx):
    ti = ctx["ti"]
    errors = []
    try:
        Variable.get("absent")
    except KeyError as exc:  # the store's VariableNotFound crossed as a KeyError
        errors.append(type(exc).__name__)
    try:
        BaseHook.get_connection("absent")
    except Exception as exc:
        errors.append(type(exc).__name__)

    def pull_push(i):
        ti.xcom_push(key=f"k{i}", value=i)
        return ti.xcom_pull(task_ids="consume", key=f"k{i}")
    seen = []
    threads = [threading.Thread(target=lambda i=i: seen.append(pull_push(i))) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pid = os.fork()  # a process of the task's own cannot share the channel: it reaches the store itself
    if pid == 0:
        ti.xcom_push(key="from_fork", value="forked")
        os._exit(0)
    os.waitpid(pid, 0)
    mark("consume", pulled=ti.xcom_pull(task_ids="produce"), when=str(ti.xcom_pull(task_ids="produce", key="when")),
         var=Variable.get("color"), default=Variable.get("absent", default_var="dflt"),
         conn=BaseHook.get_connection("warehouse").host, errors=errors, threads=sorted(seen),
         forked=ti.xcom_pull(task_ids="consume", key="from_fork"),
         sqlalchemy="sqlalchemy" in sys.modules, pid=os.getpid(), ppid=os.getppid())

with DAG("calls", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="produce", python_callable=produce) >> PythonOperator(task_id="consume", python_callable=consume)
"""


def test_a_task_child_reaches_the_store_through_its_fork_server(env: Any) -> None:
    """XCom, variables and connections work from a task child that never imports SQLAlchemy; errors
    keep their types; threads of a task share its channel; a process the task forks reaches the
    store on its own; the child is the zygote's, the zygote the fork server's."""
    with transaction(env.factory) as session:
        set_variable(session, "color", "blue")
        set_connection(session, Connection(conn_id="warehouse", conn_type="postgres", host="wh.internal"),
                       fernet=get_fernet(env.settings))
    env.write_dag("calls", CALLS)
    env.sync()
    env.trigger("calls")
    env.drive(env.finished("calls"))
    assert env.run_states("calls") == ["success"]
    (got,) = env.marks("consume")
    assert got["pulled"] == {"n": 3, "items": ["a", "b"]}
    assert got["when"].startswith("2024-05-06") and "07:08:09" in got["when"]
    assert (got["var"], got["default"], got["conn"]) == ("blue", "dflt", "wh.internal")
    assert got["errors"] == ["KeyError", "AirflowNotFoundException"]  # as Airflow raises them
    assert got["threads"] == list(range(8)) and got["forked"] == "forked"
    assert got["sqlalchemy"] is False  # the child holds no store of its own
    assert got["ppid"] != env.executor.pid  # type: ignore[attr-defined]
    if os.path.exists(f"/proc/{got['ppid']}"):
        assert _ppid(got["ppid"]) == env.executor.pid  # type: ignore[attr-defined]


KILLED = """
def slow(**ctx):
    mark("slow", pid=os.getpid(), zygote=os.getppid(), try_number=ctx["ti"].try_number)
    if ctx["ti"].try_number == 1:
        time.sleep(60)

with DAG("zk", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="slow", python_callable=slow, retries=1, retry_delay=timedelta(seconds=0))
"""


def test_a_zygote_killed_mid_try_ends_that_try_as_a_crash_and_a_new_zygote_runs_the_retry(env: Any) -> None:
    env.write_dag("zk", KILLED)
    env.sync()
    env.trigger("zk")
    env.drive(lambda: bool(env.marks("slow")), timeout=30)
    first = env.marks("slow")[0]
    os.kill(first["zygote"], signal.SIGKILL)
    env.drive(env.finished("zk"), timeout=40)
    assert env.run_states("zk") == ["success"]
    crashed, retried = env.history("zk", "slow")
    assert (crashed.state, retried.state) == ("up_for_retry", "success")
    assert "zygote" in (crashed.executor_message or ""), crashed.executor_message
    second = env.marks("slow")[1]
    assert second["try_number"] == 2 and second["zygote"] != first["zygote"]
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{first['pid']}") and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        with open(f"/proc/{first['pid']}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        state = "gone"
    assert state in ("gone", "Z", "X")  # the first try's process died with its zygote


STUCK = """
def quick(**ctx):
    mark("quick", zygote=os.getppid(), try_number=ctx["ti"].try_number)

with DAG("zs", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="quick", python_callable=quick, retries=1, retry_delay=timedelta(seconds=0))
"""


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _zygote_of(fork_server: int, timeout: float = 20.0) -> int:
    """The fork server's zygote once it is one: a fresh interpreter running ``runtime.worker.zygote``
    (stopped before its exec, it would hold its fork server in ``Popen``, which waits for the exec), or
    the fork forked at boot by a fork server that is itself a fresh ``runtime.worker``."""
    deadline = time.monotonic() + timeout
    server = _cmdline(fork_server)
    while time.monotonic() < deadline:
        with open(f"/proc/{fork_server}/task/{fork_server}/children") as handle:
            kids = [int(k) for k in handle.read().split()]
        for kid in kids:
            cmd = _cmdline(kid)
            if b"runtime.worker.zygote" in cmd or (b"runtime.worker" in server and cmd == server):
                return kid
        time.sleep(0.05)
    raise AssertionError("the fork server started no zygote")


def test_a_stopped_zygote_is_replaced_and_the_try_it_never_started_ends_as_a_crash(make: Any) -> None:
    """A zygote that forks nothing for the parse timeout + 10 s (here SIGSTOP) is killed; the try it
    held never ran, is recorded as a crash (its retry follows) and a new zygote runs the retry."""
    env = make("local", core__fork_server_idle_exit=0, core__dag_file_processor_timeout=1)
    stuck = _zygote_of(env.executor.pid)
    os.kill(stuck, signal.SIGSTOP)
    assert env.run_dag("zs", STUCK) == ["success"]
    lost, retried = env.history("zs", "quick")
    assert (lost.state, retried.state) == ("up_for_retry", "success")
    assert "never started" in (lost.executor_message or ""), lost.executor_message
    (ran,) = env.marks("quick")  # only the retry ran
    assert ran["try_number"] == 2 and ran["zygote"] != stuck
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{stuck}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{stuck}")  # killed and reaped by its fork server


BIG_CONF = """
def sizes(**ctx):
    mark("sizes", task=ctx["ti"].task_id, n=len(ctx["dag_run"].conf["blob"]), ppid=os.getppid())

with DAG("zc", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    for i in range(3):
        PythonOperator(task_id=f"t{i}", python_callable=sizes)
"""


def test_fork_requests_larger_than_the_socket_buffer_keep_their_order(env: Any) -> None:
    """Three tries of a run whose conf is 600 kB each: every request is sent in parts, and each child
    still gets its own socket (the passed descriptors stay matched to their requests)."""
    env.write_dag("zc", BIG_CONF)
    env.sync()
    env.trigger("zc", conf={"blob": "x" * 600_000})
    env.drive(env.finished("zc"), timeout=60)
    assert env.run_states("zc") == ["success"]
    got = env.marks("sizes")
    assert sorted(m["task"] for m in got) == ["t0", "t1", "t2"] and {m["n"] for m in got} == {600_000}


LOGS = """
def work(**ctx):
    mark("work", task=ctx["ti"].task_id, pid=os.getpid())

with DAG("zl", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="good", python_callable=work)
    PythonOperator(task_id="bad", python_callable=work)
"""


def test_the_fork_server_opens_each_log_and_a_log_it_cannot_open_fails_only_that_try(env: Any) -> None:
    """The fork server opens each try's log and composes its header before the fork (the child adds its
    pid); a try whose log cannot be opened (here a file stands where its folder goes) never runs and
    fails as a crash would, naming the cause; the other try of the run runs and logs."""
    from runtime.paths import task_log_path

    env.write_dag("zl", LOGS)
    env.sync()
    run_id = env.trigger("zl")
    folder = str(env.settings.get("logging", "base_log_folder"))
    blocked = os.path.dirname(task_log_path(folder, "zl", run_id, "bad", -1, 1))
    os.makedirs(os.path.dirname(blocked), exist_ok=True)
    with open(blocked, "w") as handle:
        handle.write("not a folder")
    env.drive(env.finished("zl"), timeout=30)
    assert env.run_states("zl") == ["failed"]
    (ran,) = env.marks("work")
    assert ran["task"] == "good"
    (bad,) = env.history("zl", "bad")
    assert bad.state == "failed" and "cannot open its log" in (bad.executor_message or ""), bad.executor_message
    with open(task_log_path(folder, "zl", run_id, "good", -1, 1)) as handle:
        text = handle.read()
    assert f"pid={ran['pid']} executor=" in text and "\0" not in text
    assert "Starting attempt: 1 of 1" in text and "Marking task as SUCCESS" in text


EXECS = """
def spawn(**ctx):
    listing = os.path.join(OUT, "fds.txt")
    os.system(f"ls /proc/self/fd > {listing}")  # system(3): a shell that inherits what is not close-on-exec
    with open(listing) as handle:
        mark("spawn", fds=sorted(handle.read().split()))

with DAG("ze", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="spawn", python_callable=spawn)
"""


def test_a_program_a_task_runs_inherits_its_output_but_not_its_channel(env: Any) -> None:
    """A task's socket to its fork server and the descriptors the zygote received for other tries are
    close-on-exec: a program the task runs holds stdin, stdout and stderr (and what it opens itself)."""
    assert env.run_dag("ze", EXECS) == ["success"]
    (got,) = env.marks("spawn")
    assert got["fds"] == ["0", "1", "2", "3"]  # 3: ls's own listing of the folder


OWN_FDS = """
def held(**ctx):
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[name] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # the listing's own descriptor, closed by now
            pass
    mark("held", task=ctx["ti"].task_id, fds=fds)

with DAG("zd", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    for i in range(4):
        PythonOperator(task_id=f"t{i}", python_callable=held)
"""


def test_a_task_holds_its_log_and_its_channel_and_none_of_the_zygotes_or_its_siblings_descriptors(env: Any) -> None:
    """The zygote points fds 1 and 2 at each child's log right before its fork (and keeps copies of its own
    to take back); a child closes the rest of what the zygote held: its siblings' sockets and logs, the
    zygote's socket and those copies. Four tries of one run share a batch."""
    from runtime.paths import task_log_path

    env.write_dag("zd", OWN_FDS)
    env.sync()
    run_id = env.trigger("zd")
    env.drive(env.finished("zd"), timeout=60)
    assert env.run_states("zd") == ["success"]
    got = env.marks("held")
    assert sorted(m["task"] for m in got) == ["t0", "t1", "t2", "t3"]
    folder = str(env.settings.get("logging", "base_log_folder"))
    for m in got:
        fds = m["fds"]
        own_log = os.path.realpath(task_log_path(folder, "zd", run_id, m["task"], -1, 1))
        assert fds["1"] == fds["2"] == own_log, fds
        others = {fd: target for fd, target in fds.items() if fd not in ("0", "1", "2")}
        assert [t for t in others.values() if t.startswith("socket:")] and len(others) == 1, fds  # its channel only
        assert not [t for t in fds.values() if "attempt=" in t and t != own_log], fds  # no sibling's log


BROKEN_LATER = """
with DAG("zb", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="t", python_callable=lambda: None)
"""


def test_the_zygotes_own_output_after_a_batch_stays_out_of_the_last_childs_log(env: Any) -> None:
    """While it forks a batch the zygote's fds 1 and 2 are each child's log in turn; after the batch they are
    its own again: what it prints next (a DAG file it cannot load for the next try) is not in a try's log."""
    from runtime.paths import task_log_path

    env.write_dag("zl2", LOGS.replace('"zl"', '"zl2"'))
    env.write_dag("zb", BROKEN_LATER)
    env.sync()
    first = env.trigger("zl2")
    env.drive(env.finished("zl2"), timeout=60)
    assert env.run_states("zl2") == ["success"]
    env.write_dag("zb", BROKEN_LATER + "\nraise RuntimeError('broken after parsing')\n")  # the zygote loads it now
    env.trigger("zb")
    env.drive(env.finished("zb"), timeout=60)
    assert env.run_states("zb") == ["failed"]
    folder = str(env.settings.get("logging", "base_log_folder"))
    for task in ("good", "bad"):
        with open(task_log_path(folder, "zl2", first, task, -1, 1)) as handle:
            text = handle.read()
        assert "cannot load" not in text and "broken after parsing" not in text, text
        assert "Marking task as SUCCESS" in text


STARTS = """
def where(**ctx):
    mark("where", zygote=os.getppid())

with DAG("zw", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="where", python_callable=where)
"""


# A whole test session has threads (servers of session fixtures): the forked case runs in a pytest
# process of its own, started by tests/faults/test_fork_child_runner.py.
SINGLE_THREADED = os.environ.get("WINDSOCK_FORK_CHILD_TESTS") == "1"


@pytest.mark.parametrize("threaded", [
    pytest.param(False, id="forked", marks=pytest.mark.skipif(
        not SINGLE_THREADED, reason="forks: run in a single-threaded process of their own by "
                                    "tests/faults/test_fork_child_runner.py")),
    pytest.param(True, id="fresh")])
def test_the_fork_server_is_a_fork_of_a_single_threaded_scheduler_and_a_fresh_interpreter_otherwise(
        make: Any, threaded: bool) -> None:
    """A scheduler with no other thread forks its fork server (it serves without importing anything
    again) and that starts a fresh zygote at once; with another thread running (a fork would copy only
    the calling one) the fork server is a fresh ``runtime.worker``. Either way the try runs in a child
    of a zygote that is a fresh interpreter's."""
    assert threaded or threading.active_count() == 1, "the forked case needs a process with no other thread"
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait, daemon=True) if threaded else None
    if helper is not None:
        helper.start()
    try:
        env = make("local", core__fork_server_idle_exit=0)
    finally:
        stop.set()
    server = env.executor.pid
    assert server is not None
    assert (b"\0runtime.worker\0" in _cmdline(server)) is threaded  # a fork keeps this process's command line
    zygote = _zygote_of(server)
    assert (b"runtime.worker.zygote" in _cmdline(zygote)) is (not threaded)  # fresh, or forked at boot
    assert env.run_dag("zw", STARTS) == ["success"]
    (ran,) = env.marks("where")
    assert ran["zygote"] == zygote
