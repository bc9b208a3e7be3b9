"""``windsock scheduler`` and ``windsock standalone``: the DAG processor, scheduler and local executor."""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import subprocess
import sys
import threading
from typing import Any

from runtime import procs
from runtime.cli import common
from runtime.store.states import JobType

log = logging.getLogger(__name__)


def register(tree: Any) -> None:
    """Add ``scheduler`` and ``standalone``."""
    p = tree.command("scheduler", help="Run the DAG processor, the scheduler and the executor", func=cmd_scheduler)
    p.add_argument("-n", "--num-runs", type=int, default=-1, help="stop after this many scheduler loops")
    p = tree.command("standalone", help="Set up the database and run everything in one process tree",
                     func=cmd_standalone)
    p.add_argument("--examples", action="store_true", help="also load the bundled example DAGs")
    p.add_argument("--aws-local", action="store_true",
                   help="the cloud topology on this machine: moto's S3/SQS/Logs, dag_sync, SQS executor, workers")
    p.add_argument("--workers", type=int, default=2, help="with --aws-local: worker processes (default 2)")
    p.add_argument("-c", "--concurrency", type=int, default=8, help="with --aws-local: tries per worker (default 8)")
    p = tree.command("dag-processor", help="Run the DAG processor alone (scheduler and standalone start one)",
                     func=cmd_dag_processor)
    p.add_argument("--examples", action="store_true", help="also load the bundled example DAGs")
    p.add_argument("-n", "--num-runs", type=int, default=-1, help="stop after this many scans of the DAG folder")


def _stop_on_signals(*, abort: bool = False) -> threading.Event:
    """An event set by SIGTERM or SIGINT (a clean stop: the executor hands over its tries).

    ``abort``: also leave whatever is in progress at once (the DAG processor drops a scan: its
    parse children are killed and the next processor parses again).
    """
    stop = procs.StopEvent()  # a sleeping scheduler wakes on it at once (signals interrupt its select)

    def handler(signum: int, frame: Any) -> None:
        stop.set()
        if abort:
            raise SystemExit(0)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
    return stop


def _run(settings: Any, *, include_examples: bool | None, num_runs: int, companions: list[Any] | None = None) -> int:
    from runtime.executors import make_executor
    from runtime.scheduler import Scheduler
    from runtime.sdk import timezone
    from runtime.store.session import open_store

    _, factory = open_store(settings)
    executor = make_executor(settings, factory)
    # Parsing runs in children of its own, as Airflow's dag-processor: a DAG file that hangs at
    # import then delays only its own parse, never the scheduling of the other DAGs. The scheduler
    # forks a scan only when the folder changed (runtime.processor.ondemand).
    processor = _scans(settings, factory, include_examples)
    scheduler = Scheduler(settings, factory, executor, processor=processor, say=say)
    scheduler.companions = companions or []
    stop = _stop_on_signals()
    if num_runs >= 0:  # a bounded run (tests, one-off checks): parse first, deterministically
        processor.scan_and_wait(timezone.utcnow())
    if executor.runs_threads or scheduler.metrics is not None:  # no fork once they run: a resident one
        processor.start_resident()
    gc.enable()  # after the forks (see _hold_gc); later collections never walk the frozen objects
    triggerer = _Triggerer(settings)
    scheduler.on_triggers = triggerer.ensure
    say(f"scheduler: executor {settings.get('core', 'executor')}, parallelism {executor.parallelism}; " + (
        f"DAG processor pid {processor.resident.pid}" if processor.resident is not None
        else f"DAG processor forked per change of {processor.dags_folder}"))
    from runtime.store.crypto import key_source_problem  # a shared database needs one configured key

    if (problem := key_source_problem(settings)) is not None:
        say(f"warning: {problem}")
    try:
        scheduler.run_forever(stop, timezone.utcnow, num_runs=num_runs)
    finally:
        processor.stop()
        triggerer.stop()
    say("scheduler: stopped")
    return 0


class _Triggerer:
    """The scheduler's triggerer child: started when a try defers, exits by itself once idle."""

    def __init__(self, settings: Any) -> None:
        self.idle_exit = float(settings.get("triggerer", "idle_exit"))
        self.proc: subprocess.Popen[bytes] | None = None

    def ensure(self) -> None:
        """Start it unless it runs."""
        if self.proc is not None and self.proc.poll() is None:
            return
        self.proc = procs.start_child(procs.python_module("runtime.cli.main", "triggerer", "--idle-exit", str(self.idle_exit)))
        say(f"scheduler: triggerer started (pid {self.proc.pid}) for deferred tasks")

    def stop(self) -> None:
        """Stop it (its triggers go back to whichever triggerer runs next)."""
        if self.proc is not None:
            procs.stop_child(self.proc)


def _processor_cmd(include_examples: bool | None) -> list[str]:
    return procs.python_module("runtime.cli.main", "dag-processor", *(["--examples"] if include_examples else []))


def _scans(settings: Any, factory: Any, include_examples: bool | None) -> Any:
    """The scheduler's DAG processor: a scan forked from this warm process (see :func:`warm_parent`)
    when the folder changed; a resident ``windsock dag-processor`` where forking is unsafe."""
    from runtime.processor.ondemand import ScansOnChange

    examples = True if include_examples else None

    def scan_main(last_realpath: str | None) -> int:
        from runtime import logsetup
        from runtime.processor import DagProcessor
        from runtime.sdk import timezone
        from runtime.store.session import open_store

        logsetup.configure(settings, logsetup.DAG_PROCESSOR_COMMAND)  # its own log level, as the command's
        processor = DagProcessor(settings, open_store(settings)[1], include_examples=examples,
                                 say=lambda line: say(f"dag-processor: {line}"), last_realpath=last_realpath)
        try:
            stats = processor.run_once(timezone.utcnow())
        except Exception:  # a database hiccup: the scheduler's next look scans again
            log.exception("DAG folder scan of %s failed", processor.dags_folder)
            return 1
        if stats.parsed or stats.dags_deactivated:
            log.info("DAG processor: %s", stats)
        return 0

    def resident() -> subprocess.Popen[bytes] | procs.ForkedChild:
        if procs.can_fork():
            def processor_main() -> int:
                from runtime import logsetup

                logsetup.configure(settings, logsetup.DAG_PROCESSOR_COMMAND)
                return run_dag_processor(settings, examples, -1)

            return procs.fork_child(processor_main, name="dag-processor")
        return procs.start_child(_processor_cmd(include_examples))

    return ScansOnChange(settings, factory, include_examples=examples, scan_main=scan_main, resident=resident)


# What uvicorn and anyio import only once they serve (h11 protocol, asyncio loop and backend,
# lifespan): loaded in the warm parent, the web server's first requests copy fewer shared pages.
_SERVING_MODULES = (
    "uvicorn.lifespan.on", "uvicorn.loops.auto", "uvicorn.loops.asyncio", "uvicorn.protocols.http.auto",
    "uvicorn.protocols.http.h11_impl", "uvicorn.protocols.websockets.auto", "anyio._backends._asyncio",
    "anyio.streams.memory", "anyio.streams.stapled", "encodings.idna",
)


def _hold_gc() -> None:
    """No collection until the components are forked: a collection frees objects between the ones
    that stay, and a child's new objects would then fill those holes, copying the shared pages they
    sit in (Python's advice for ``gc.freeze``). ``_run`` enables it again; forked children start with
    it enabled."""
    gc.disable()


def warm_parent(engine: Any, *, web: bool) -> None:
    """Make this process the warm parent of the components it forks (DAG processor, fork server, and
    with ``web`` the web server): import once what they use (SQLAlchemy's ORM, the models, the SDK,
    the modules parse and task children preload, the web app), close this process's database
    connections (a fork must not share a SQLite or PostgreSQL connection), and move every object so
    far into the garbage collector's permanent generation, so that no collection in a child writes
    to (and so copies) the shared pages.

    A module imported here costs its pages once for the whole tree; imported in a child after the
    fork, it would also copy the shared pages its import touches (measured: importing the web app
    in a fresh fork copied 17 MB of the parent's pages on top of its own 16 MB).
    """
    from runtime.processor import parse
    from runtime.worker import zygote

    # the airflow.* import hook first: `import airflow` without it finds the provider packages'
    # namespace package (airflow/providers/...) and every DAG parsed in a fork would fail
    parse.warm_up()
    web_modules = ("runtime.web.app", "uvicorn", *_SERVING_MODULES) if web else ()
    for name in (*zygote.WARM_MODULES, "runtime.processor.processor",
                 "runtime.scheduler", "runtime.executors.local", *web_modules):
        try:
            __import__(name)
        except ImportError:  # an optional module: only warmth is lost
            continue
    engine.dispose()
    gc.freeze()


def cmd_dag_processor(args: argparse.Namespace) -> int:
    from runtime.store import db
    from runtime.store.session import open_store

    settings = common.load_settings()
    db.check(open_store(settings)[0])
    return run_dag_processor(settings, True if args.examples else None, args.num_runs)


def run_dag_processor(settings: Any, include_examples: bool | None, num_runs: int) -> int:
    """The DAG processor's loop (``num_runs`` >= 0: that many scans, then return)."""
    from runtime.processor import DagProcessor
    from runtime.sdk import timezone
    from runtime.store.session import open_store

    _, factory = open_store(settings)
    processor = DagProcessor(settings, factory, include_examples=include_examples,
                             say=lambda line: say(f"dag-processor: {line}"))
    if num_runs >= 0:
        for _ in range(num_runs):
            say(f"dag-processor: {processor.run_once(timezone.utcnow())}")
        return 0
    stop = _stop_on_signals(abort=True)
    # needs_scan is a realpath() and a clock read: polling it twice a second keeps a dag_sync
    # flip visible to the scheduler within half a second without keeping a core awake.
    processor.run_forever(stop, poll=0.5, job=JobType.DAG_PROCESSOR)
    return 0


def say(line: str) -> None:
    """One line of progress on stderr."""
    print(f"[windsock] {line}", file=sys.stderr, flush=True)


def cmd_scheduler(args: argparse.Namespace) -> int:
    """``windsock scheduler``: needs an initialised database."""
    from runtime.store import db
    from runtime.store.session import open_store

    _hold_gc()
    settings = common.load_settings()
    engine = open_store(settings)[0]
    db.check(engine)
    warm_parent(engine, web=False)
    return _run(settings, include_examples=None, num_runs=args.num_runs)


def cmd_standalone(args: argparse.Namespace) -> int:
    """``windsock standalone``: init/upgrade the database, say what runs where, then run."""
    if args.aws_local:
        return _aws_local(args)
    from runtime.store import db
    from runtime.store.session import open_store

    _hold_gc()
    settings = common.load_settings()
    engine, _ = open_store(settings)
    db.init(engine)
    return _serve(settings, engine, args, [])


def _serve(settings: Any, engine: Any, args: argparse.Namespace, extra: list[str]) -> int:
    """The web server as a child (it dies with this process), the banner, then the scheduler here."""
    from runtime.cli import webserver_cmd
    from runtime.web.auth.roles import Principal, Role

    web = webserver_cmd.OnDemand(settings)  # binds the port now: a clash is one line and an exit
    # the web server is started by the first connection and retires when idle: the web app's
    # modules stay out of this process (and its idle PSS) unless the web server runs from the start
    warm_parent(engine, web=web.idle_exit <= 0)
    if web.idle_exit <= 0:
        web.start()
    link = webserver_cmd.login_link(settings, Principal("standalone:admin", Role.ADMIN),
                                    int(settings.get("webserver", "standalone_login_seconds")))
    for line in banner(settings, engine, args.examples) + extra + web_banner(link, settings):
        print(line, flush=True)
    try:
        return _run(settings, include_examples=True if args.examples else None, num_runs=-1, companions=[web])
    finally:
        web.stop()


def web_banner(link: str, settings: Any) -> list[str]:
    """The web UI's lines of the standalone banner: the one-time Admin login link."""
    minutes = max(1, int(settings.get("webserver", "standalone_login_seconds")) // 60)
    return [
        f"  web UI:     {link}",
        f"              (one-time Admin login link, valid {minutes} min; a fresh one: windsock webserver login-link)",
    ]


def _aws_local(args: argparse.Namespace) -> int:
    """``standalone --aws-local``: moto, resources, dag_sync, workers, then the scheduler in this process."""
    import os

    from runtime.cli.aws_local import LocalCloud, start_sync
    from runtime.errors import UserError
    from runtime.store import db
    from runtime.store.session import open_store

    if args.workers < 1 or args.concurrency < 1:
        raise UserError("--workers and --concurrency must be at least 1")
    cloud = LocalCloud(home=common.load_settings().home / "aws-local")
    stop_sync = None
    try:
        env = cloud.start()
        os.environ.update(env)  # this process and every child see the environment's resources
        settings = common.load_settings()
        engine, _ = open_store(settings)
        db.init(engine)
        stop_sync, component_env = start_sync(env, say)
        os.environ.update(component_env)
        cloud.env = dict(component_env)
        cloud.start_workers(args.workers, args.concurrency)
        from runtime.cli.webserver_cmd import base_url

        cloud.register_stack(base_url(settings), args.workers)  # what runtime.client.Client("local") reads
        return _serve(settings, engine, args, cloud.banner(args.workers))
    finally:
        cloud.stop()
        if stop_sync is not None:
            stop_sync()


def banner(settings: Any, engine: Any, examples: bool) -> list[str]:
    """What standalone runs, where things are, and how to get a DAG going."""
    paused = settings.get("core", "dags_are_paused_at_creation")
    return [
        f"windsock standalone: DAG processor + scheduler + {settings.get('core', 'executor')} + web server "
        "(one process tree; Ctrl-C stops it)",
        f"  home:       {settings.home}",
        f"  database:   {engine.url.render_as_string(hide_password=True)}",
        f"  DAG folder: {settings.get('core', 'dags_folder')}" + ("  (+ bundled examples)" if examples else ""),
        f"  task logs:  {settings.get('logging', 'base_log_folder')}/dag_id=.../run_id=.../task_id=.../attempt=N.log",
        f"  executor:   {settings.get('core', 'executor')} (parallelism {settings.get('core', 'parallelism')})",
        ("  New DAGs start paused (core.dags_are_paused_at_creation) unless the DAG sets "
         "is_paused_upon_creation=False, as the bundled example does:" if paused else "  New DAGs start unpaused."),
        "    windsock dags list                # what was parsed",
        "    windsock dags unpause DAG_ID      # let the scheduler create its runs",
        "    windsock dags trigger DAG_ID      # a manual run now",
        "    windsock dags list-runs DAG_ID    # how runs went",
    ]
