"""What the container entrypoint calls: prepare before the component starts, then keep syncing.

Order, as MWAA does it: DAGs and plugins are synced, then startup.sh runs, then
requirements.txt is installed with the script's exported variables in pip's environment (so
the script can point pip at a private index); the component starts with those variables and a
PYTHONPATH holding the plugins folder and the active requirements site directory.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping

from dag_sync import s3 as s3io
from dag_sync.config import SyncConfig
from dag_sync.errors import PluginsError, RequirementsError
from dag_sync.events import QueueSource
from dag_sync.fanout import PrivateQueue
from dag_sync.loop import SyncLoop
from dag_sync.syncer import Syncer

log = logging.getLogger("dag_sync")


def prepare_container(environ: Mapping[str, str]) -> dict[str, str]:
    """First full sync, startup script, requirements; returns the component's environment.

    Raises SyncError subclasses: S3UnreachableError, StartupScriptError. A broken plugins.zip
    or requirements.txt does not stop the start: the last good (or an empty) one stays active
    and the error is in the status file, where the scheduler, CLI and UI show it.
    """
    cfg = SyncConfig.from_env(environ)
    log.info("dag_sync: preparing from %s into %s", cfg.describe(), cfg.dags_folder)
    syncer = Syncer(cfg)
    log.info("%s", syncer.sync_dags().summary())
    _tolerant(syncer.sync_plugins)
    exports = syncer.run_startup_script(environ)
    env = {**environ, **exports}
    syncer.installer.env = dict(env)
    _tolerant(syncer.sync_requirements)
    env["PYTHONPATH"] = component_pythonpath(cfg, env.get("PYTHONPATH", ""))
    return env


def component_pythonpath(cfg: SyncConfig, existing: str = "") -> str:
    """PYTHONPATH with the plugins folder and the active requirements site dir first."""
    ours = [str(cfg.plugins_folder), str(cfg.site_dir)]
    rest = [p for p in existing.split(os.pathsep) if p and p not in ours]
    return os.pathsep.join(ours + rest)


def _tolerant(step: Callable[[], str]) -> None:
    """Run a step whose failure is recorded in the status but must not stop the start."""
    try:
        log.info("%s", step())
    except (PluginsError, RequirementsError) as exc:
        log.error("%s (the component starts with the last good version)", exc)


def start_background_sync(environ: Mapping[str, str]) -> Callable[[], None]:
    """Start syncing in a daemon thread (SQS events + slow reconcile); returns ``stop()``."""
    cfg = SyncConfig.from_env(environ)
    syncer = Syncer(cfg, pip_env=environ)
    source = open_source(cfg)
    # A private queue misses what changed before it existed: reconcile once right away.
    loop = SyncLoop(syncer, source, reconcile_first=source is not None and source.private is not None)
    thread = threading.Thread(target=loop.run, name="dag-sync", daemon=True)
    thread.start()

    def stop() -> None:
        """Stop the loop, wait for the current step (at most one long poll), drop a private queue."""
        loop.stop()
        thread.join(timeout=cfg.poll_seconds + 30)
        if source is not None:
            source.close()

    return stop


def open_source(cfg: SyncConfig) -> QueueSource | None:
    """The event source: the shared queue, a private queue on the topic, or none (reconcile only)."""
    if cfg.queue_url:
        return QueueSource(cfg, s3io.client(cfg, "sqs"))
    if not cfg.topic_arn:
        return None
    private = PrivateQueue(s3io.client(cfg, "sqs"), s3io.client(cfg, "sns"), cfg.topic_arn)
    with s3io.translated(f"cannot set up a sync queue on {cfg.topic_arn}"):
        private.reap_orphans(max(3600.0, 10 * cfg.reconcile_seconds))
        url = private.create()
    return QueueSource(cfg, private.sqs, url, private)
