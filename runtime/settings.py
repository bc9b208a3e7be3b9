"""One settings object: built-in defaults < config file < environment variables.

Environment keys are ``WINDSOCK__SECTION__KEY``; keys Windsock shares with Airflow are also
read from ``AIRFLOW__SECTION__KEY`` (the Windsock name wins when both are set). The config
file is ``$WINDSOCK_HOME/windsock.cfg`` (INI) or the path in ``WINDSOCK_CONFIG``.
Every key is documented in ``docs/configuration.md``.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.errors import ConfigError


@dataclass(frozen=True)
class Key:
    """A setting: its default, its type and whether Airflow's env name is honoured too."""

    default: Any
    type: type
    airflow: bool = False
    help: str = ""


def _k(default: Any, typ: type = str, airflow: bool = False, help: str = "") -> Key:
    return Key(default, typ, airflow, help)


# section -> key -> Key. A default of None means "derived" (see Settings.get).
SCHEMA: dict[str, dict[str, Key]] = {
    "core": {
        "dags_folder": _k(None, str, True, "Folder scanned for DAG files; default $WINDSOCK_HOME/dags."),
        "load_examples": _k(True, bool, True, "Also load the bundled example DAGs."),
        "default_timezone": _k("utc", str, True, "Timezone of naive datetimes in DAG files."),
        "parallelism": _k(32, int, True, "Task tries running at once, per executor."),
        "max_active_tasks_per_dag": _k(16, int, True, "Default of a DAG's max_active_tasks."),
        "max_active_runs_per_dag": _k(16, int, True, "Default of a DAG's max_active_runs."),
        "dag_file_processor_timeout": _k(50.0, float, True, "Seconds a DAG file may take to parse."),
        "dagbag_import_timeout": _k(30.0, float, True, "Alias kept for Airflow configs."),
        "dag_file_processor_memory_limit_mb": _k(
            1024, int, False, "Address space (MB) one DAG file parse may add before it is killed; 0 = no cap."
        ),
        "parsing_processes": _k(2, int, True, "DAG files parsed at once (one child process each)."),
        "dags_are_paused_at_creation": _k(True, bool, True, "New DAGs start paused unless is_paused_upon_creation says."),
        "fernet_key": _k("", str, True, "Key that encrypts connection passwords and secret variables."),
        "executor": _k("LocalExecutor", str, True, "SequentialExecutor | LocalExecutor | SqsExecutor."),
        "default_task_retries": _k(0, int, True, "Default retries of a task."),
        "fork_server_idle_exit": _k(
            60.0, float, False,
            "LocalExecutor: its fork server starts with the first try (a fork of the scheduler, which starts a fresh zygote) and "
            "exits after this many seconds without a try or callback, so an idle environment holds no fork server; "
            "0 = start it with the scheduler and keep it."),
    },
    "database": {
        "sql_alchemy_conn": _k(None, str, True, "Metadata DB URL; default sqlite in $WINDSOCK_HOME."),
    },
    "logging": {
        "base_log_folder": _k(None, str, True, "Task log folder; default $WINDSOCK_HOME/logs."),
        "remote_log_group": _k(None, str, False,
                               "CloudWatch Logs group of task logs (one stream per try); default $WINDSOCK_TASK_LOG_GROUP; "
                               "empty: local files only."),
        "logging_level": _k("", str, True, "Process log level (CRITICAL|ERROR|WARNING|INFO|DEBUG); empty keeps "
                            "Python's default (warnings only). Deployed containers set it per component."),
        "task_log_level": _k("", str, False, "Level of the airflow.task loggers of task code; empty follows "
                             "logging_level."),
        "dag_processing_log_level": _k("", str, False, "Level of windsock dag-processor; empty follows "
                                       "logging_level."),
        "dag_processor_log_max_bytes": _k(
            5 * 1024 * 1024, int, False,
            "Size at which logs/dag_processor/<file>.log (what a DAG file prints while parsed) rotates; 0 = no cap.",
        ),
        "dag_processor_log_backups": _k(
            1, int, False, "Rotated copies (<file>.log.1, ...) kept of a DAG file's parse log; older ones are dropped.",
        ),
    },
    "scheduler": {
        "loop_interval": _k(0.05, float, False,
                            "Least seconds between two looks for due and queued runs; also the SqsExecutor's poll of "
                            "tries in flight on a database without wake-ups (MySQL)."),
        "idle_poll": _k(5.0, float, False,
                        "Safety poll: most seconds an idle scheduler sleeps. It wakes earlier on its executor's "
                        "events, a DAG file change, a trigger/clear/mark (PostgreSQL LISTEN/NOTIFY; SQLite a unix "
                        "socket), the next due run or retry, and its heartbeat and sweep periods. With the SqsExecutor "
                        "workers wake it when they record try ends; this is then also its backstop read of them."),
        "dag_dir_list_interval": _k(5.0, float, True, "Seconds between DAG folder re-scans."),
        "schedule_after_task_execution": _k(
            True, bool, True,
            "Mini scheduler: the local executor that recorded a try's end queues and starts its ready downstream "
            "tasks in the same transaction (within pools, caps and the slots the ended tries freed)."),
        "zombie_threshold": _k(60.0, float, False,
                               "Seconds without a heartbeat of its executor (or worker) before a running try on "
                               "another host is a zombie; on the same host a dead executor is seen at once."),
        "task_queued_timeout": _k(600.0, float, True, "Seconds a try may stay queued before requeue."),
        "heartbeat_interval": _k(5.0, float, False, "Seconds between task heartbeats."),
        "job_heartbeat_sec": _k(2.0, float, True, "Seconds between heartbeats of the scheduler, executor and worker job rows."),
        "job_heartbeat_threshold": _k(
            10.0, float, False,
            "A scheduler job whose heartbeat is older than this is dead: its queued tries are queued again. "
            "On the same host a job whose process is gone is dead at once."),
        "task_kill_grace": _k(10.0, float, False, "Seconds past execution_timeout before the executor kills a try."),
        "max_dagruns_to_create_per_loop": _k(10, int, True, "DAGs whose due runs one scheduler loop creates."),
        "reconcile_interval": _k(1.0, float, False, "Seconds between full checks of active task instances."),
        "max_dagruns_per_loop_to_schedule": _k(20, int, True, "Runs one loop may evaluate in full (the rest wait a loop)."),
        "allowed_run_id_pattern": _k(r"^[A-Za-z0-9_.~:+-]+$", str, True,
                                     "Regular expression a user-given run_id must match (it becomes part of log paths)."),
    },
    "sqs": {
        "task_queue_url": _k(None, str, False, "SqsExecutor's task queue; default $WINDSOCK_TASK_QUEUE_URL (set by the CDK stack)."),
        "dead_letter_queue_url": _k(None, str, False,
                                    "Its dead-letter queue, watched by the scheduler; default $WINDSOCK_DEAD_LETTER_QUEUE_URL."),
        "queues": _k("{}", str, False,
                     "JSON object: an Airflow task `queue` -> its own SQS queue URL; other tasks use task_queue_url."),
        "visibility_timeout": _k(None, int, False,
                                 "Seconds a received task message stays invisible; default $WINDSOCK_TASK_VISIBILITY_SECONDS or 120."),
        "visibility_extend_every": _k(None, int, False,
                                      "Seconds between visibility extensions of a running try's message; default "
                                      "$WINDSOCK_TASK_VISIBILITY_EXTEND_SECONDS or 30."),
        "wait_time_seconds": _k(20, int, False, "Long-poll wait of an idle worker (SQS allows 0-20)."),
        "max_receive_count": _k(5, int, False, "Receives before a message goes to the DLQ (as the queue's redrive policy)."),
    },
    "worker": {
        "concurrency": _k(16, int, False, "Tries one `windsock worker` runs at once (-c/--concurrency)."),
        "stop_grace": _k(100.0, float, False,
                         "On SIGTERM a worker stops receiving and lets running tries finish this long; the rest "
                         "are interrupted and run again without using a retry."),
    },
    "triggerer": {
        "capacity": _k(1000, int, True, "Triggers one triggerer runs at once (`windsock triggerer --capacity`)."),
        "poll_interval": _k(1.0, float, False,
                            "Seconds between a busy triggerer's looks for new triggers (an idle one is not running: "
                            "the scheduler starts it when a try defers)."),
        "idle_exit": _k(60.0, float, False,
                        "Seconds without triggers after which the triggerer a scheduler started exits (so an idle "
                        "environment runs no triggerer loop); a `windsock triggerer` run by hand never exits."),
    },
    "secrets": {
        "backend": _k("", str, True, "Secrets backend looked up before the environment and the metastore: "
                                     "SecretsManagerBackend (or Airflow's class path for it); empty: none."),
        "backend_kwargs": _k("{}", str, True,
                             "JSON: connections_prefix, variables_prefix (MWAA: airflow/connections, airflow/variables), "
                             "sep, config_prefix."),
        "cache_ttl_seconds": _k(900, int, True, "Seconds a value read from the secrets backend is reused."),
    },
    "metrics": {
        "cloudwatch_namespace": _k(None, str, False,
                                   "CloudWatch namespace of the scheduler's metrics; default Windsock inside a deployed "
                                   "environment ($WINDSOCK_ENV_NAME set), else empty (no metrics)."),
        "publish_interval": _k(60.0, float, False, "Seconds between batches of metrics sent to CloudWatch."),
    },
    "webserver": {
        "secret_key": _k("", str, True, "Key that signs sessions and login/API tokens; empty = a key file in $WINDSOCK_HOME (one host only)."),
        "web_server_host": _k("127.0.0.1", str, True, "Address the web server binds (the container passes 0.0.0.0)."),
        "web_server_port": _k(8080, int, True, "Port of the web server."),
        "login_token_seconds": _k(60, int, False, "Lifetime of a one-time web login token (MWAA: 60 s)."),
        "standalone_login_seconds": _k(900, int, False, "Lifetime of the one-time login link standalone prints."),
        "standalone_idle_exit": _k(300.0, float, False,
                                   "`windsock standalone` binds the web port itself and forks the web server at the "
                                   "first connection; the server exits after this many seconds without a request "
                                   "(connections that arrive meanwhile wait in the port's backlog and start it again, "
                                   "~1 s), so an idle environment holds no web server; 0 = start it with standalone "
                                   "and keep it. `windsock webserver` always runs until stopped."),
        "session_lifetime_minutes": _k(720, int, True, "Minutes a web session lasts after sign-in."),
        "api_token_seconds": _k(3600, int, False, "Lifetime of a REST API bearer token."),
        "maximum_page_limit": _k(100, int, False, "Largest `limit` a REST API list accepts."),
        "fallback_page_limit": _k(50, int, False, "`limit` of a REST API list when none is given."),
        "log_fetch_interval": _k(2.0, float, False, "Seconds between polls of a running try's log in the UI."),
        "health_check_threshold": _k(30.0, float, False, "Seconds since a daemon's last heartbeat before it is unhealthy."),
        # IAM sign-in (docs/auth.md): a signed sts:GetCallerIdentity request, forwarded to this STS endpoint only.
        "iam_sts_endpoint": _k("", str, False, "STS endpoint that verifies IAM sign-in proofs (e.g. https://sts.us-east-1.amazonaws.com); empty = IAM sign-in off."),
        "iam_server_id": _k(None, str, False, "Value the signed X-Windsock-Server-Id header must carry; default $WINDSOCK_ENV_NAME."),
        "iam_role_mapping": _k("{}", str, False, "JSON object: IAM ARN, ARN pattern (* ?) or role name -> Admin, Op, User or Viewer."),
        "iam_account_id": _k("", str, False, "AWS account whose role names the mapping's bare role names mean (required for those)."),
        "iam_proof_max_age_seconds": _k(60, int, False, "How old (or how far ahead) a proof's signature time may be."),
        "cli_token_seconds": _k(60, int, False, "Lifetime of a CLI token from IAM sign-in (MWAA: 60 s); a bearer for /aws_mwaa/cli and /api/v2."),
        "cli_command_timeout": _k(300, int, False, "Seconds a command of the CLI endpoint (/aws_mwaa/cli) may run."),
    },
    "smtp": {
        "smtp_host": _k("localhost", str, True, "SMTP server for failure/retry e-mail."),
        "smtp_port": _k(25, int, True, "SMTP port."),
        "smtp_starttls": _k(False, bool, True, "Use STARTTLS."),
        "smtp_user": _k("", str, True, "SMTP user (password comes from the smtp_default connection)."),
        "smtp_mail_from": _k("windsock@localhost", str, True, "Sender address."),
        "smtp_timeout": _k(30, int, True, "SMTP timeout, seconds."),
    },
}


# Settings whose default comes from the variables the CDK stack gives every container (docs/deployment.md).
_FROM_CONTAINER: dict[tuple[str, str], tuple[str, str]] = {
    ("sqs", "task_queue_url"): ("WINDSOCK_TASK_QUEUE_URL", ""),
    ("sqs", "dead_letter_queue_url"): ("WINDSOCK_DEAD_LETTER_QUEUE_URL", ""),
    ("sqs", "visibility_timeout"): ("WINDSOCK_TASK_VISIBILITY_SECONDS", "120"),
    ("sqs", "visibility_extend_every"): ("WINDSOCK_TASK_VISIBILITY_EXTEND_SECONDS", "30"),
    ("logging", "remote_log_group"): ("WINDSOCK_TASK_LOG_GROUP", ""),
    ("webserver", "iam_server_id"): ("WINDSOCK_ENV_NAME", ""),
}


def _coerce(section: str, key: str, value: Any, typ: type) -> Any:
    if not isinstance(value, str) or typ is str:
        return value
    try:
        if typ is bool:
            low = value.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(value)
        return typ(value)
    except ValueError:
        raise ConfigError(f"setting [{section}] {key}: {value!r} is not a valid {typ.__name__}") from None


class Settings:
    """Resolved settings; read with ``settings.get("core", "parallelism")``."""

    def __init__(
        self,
        home: Path,
        file_values: Mapping[str, Mapping[str, str]] | None = None,
        environ: Mapping[str, str] | None = None,
        overrides: Mapping[tuple[str, str], Any] | None = None,
    ) -> None:
        self.home = home
        self._file = {s.lower(): {k.lower(): v for k, v in kv.items()} for s, kv in (file_values or {}).items()}
        self._env = dict(os.environ if environ is None else environ)
        self._overrides = dict(overrides or {})

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from the environment and the config file it points to."""
        env = dict(os.environ if environ is None else environ)
        home = Path(env.get("WINDSOCK_HOME") or env.get("AIRFLOW_HOME_WINDSOCK") or "~/windsock").expanduser()
        path = Path(env.get("WINDSOCK_CONFIG") or home / "windsock.cfg").expanduser()
        values: dict[str, dict[str, str]] = {}
        if path.is_file():
            parser = configparser.ConfigParser(interpolation=None)
            try:
                parser.read(path)
            except configparser.Error as exc:
                raise ConfigError(f"config file {path}: {exc}") from None
            values = {s: dict(parser.items(s)) for s in parser.sections()}
        return cls(home, values, env)

    def with_overrides(self, **pairs: Any) -> Settings:
        """A copy with ``section__key=value`` overrides (for CLI flags and tests)."""
        extra = dict(self._overrides)
        for name, value in pairs.items():
            section, key = name.split("__", 1)
            extra[(section, key)] = value
        return Settings(self.home, self._file, self._env, extra)

    def get(self, section: str, key: str) -> Any:
        """The value of a setting, typed; raises ConfigError for an unknown key."""
        spec = SCHEMA.get(section, {}).get(key)
        if spec is None:
            raise ConfigError(f"unknown setting [{section}] {key}")
        if (section, key) in self._overrides:
            return self._overrides[(section, key)]
        names = [f"WINDSOCK__{section.upper()}__{key.upper()}"]
        if spec.airflow:
            names.append(f"AIRFLOW__{section.upper()}__{key.upper()}")
        for name in names:
            if name in self._env:
                return _coerce(section, key, self._env[name], spec.type)
        if key in self._file.get(section, {}):
            return _coerce(section, key, self._file[section][key], spec.type)
        if spec.default is None:
            return self._derived(section, key)
        return spec.default

    def _derived(self, section: str, key: str) -> Any:
        if (section, key) == ("core", "dags_folder"):
            return str(self.home / "dags")
        if (section, key) == ("database", "sql_alchemy_conn"):
            return f"sqlite:///{self.home / 'windsock.db'}"
        if (section, key) == ("logging", "base_log_folder"):
            return str(self.home / "logs")
        if (section, key) in _FROM_CONTAINER:
            name, fallback = _FROM_CONTAINER[(section, key)]
            return _coerce(section, key, self._env.get(name) or fallback, SCHEMA[section][key].type)
        if (section, key) == ("metrics", "cloudwatch_namespace"):
            return "Windsock" if self._env.get("WINDSOCK_ENV_NAME") else ""
        raise ConfigError(f"setting [{section}] {key} has no default")

    @property
    def environ(self) -> Mapping[str, str]:
        """The environment these settings were read from (variables, connections)."""
        return self._env


def markdown_table() -> str:
    """The documentation table of every key (kept in docs/configuration.md)."""
    lines = ["| section | key | default | Airflow env name too | meaning |", "|---|---|---|---|---|"]
    for section, keys in SCHEMA.items():
        for key, spec in keys.items():
            default = "(derived)" if spec.default is None else f"`{spec.default!r}`"
            lines.append(f"| {section} | `{key}` | {default} | {'yes' if spec.airflow else 'no'} | {spec.help} |")
    return "\n".join(lines)
