"""Airflow names that have no twin in the SDK: Variable, Connection, XCom, conf, states, dates, Airflow 3 DAG."""

from __future__ import annotations

import json
import os
from datetime import datetime as _datetime
from datetime import timedelta
from datetime import tzinfo as _tzinfo
from typing import Any

from runtime.sdk import timezone as _tz
from runtime.sdk.connection import Connection as _SdkConnection
from runtime.sdk.dag import DAG as _Dag2
from runtime.sdk.dag import dag as _dag2
from runtime.sdk.exceptions import AirflowConfigException, AirflowException
from runtime.sdk.hooks.base import lookup_connection, running_services
from runtime.sdk.taskinstance import DagRunInfo as DagRun
from runtime.sdk.taskinstance import TaskInstance
from runtime.sdk.timetables import PRESETS
from runtime.sdk.xcom_arg import RETURN_KEY
from runtime.store.states import DagRunState, DagRunType, TaskInstanceState

# The Airflow API level DAG files and providers see (``airflow.__version__``): the last Airflow 2
# release, the oldest one the current provider packages accept.
__version__ = "2.11.0"
_MISSING: Any = object()


# -- Variable -------------------------------------------------------------------------------------


def _env_variable(key: str) -> str:
    for prefix in ("WINDSOCK", "AIRFLOW"):
        value = os.environ.get(f"{prefix}_VAR_{key.upper()}")
        if value is not None:
            return value
    raise KeyError(key)


class Variable:
    """``Variable.get/set``: through the running task's services; outside a task, ``AIRFLOW_VAR_<KEY>`` only."""

    def __init__(self, key: str | None = None, val: Any = None, description: str | None = None) -> None:
        self.key, self.val, self.description = key, val, description

    @classmethod
    def get(cls, key: str, default_var: Any = _MISSING, deserialize_json: bool = False, *, default: Any = _MISSING) -> Any:
        """The variable's value (JSON-decoded if asked); ``default_var`` (Airflow 3: ``default``) when missing."""
        fallback = default_var if default_var is not _MISSING else default
        services = running_services()
        try:
            raw = services.get_variable(key) if services is not None else _env_variable(key)
        except KeyError:
            if fallback is not _MISSING:
                return fallback
            raise KeyError(f"Variable {key} does not exist") from None
        return json.loads(raw) if deserialize_json else raw

    @classmethod
    def set(cls, key: str, value: Any, description: str | None = None, serialize_json: bool = False, **kwargs: Any) -> None:
        """Store a variable through the running task's services."""
        text = json.dumps(value, indent=2) if serialize_json else str(value)
        services = running_services()
        setter = getattr(services, "set_variable", None)
        if setter is not None:
            setter(key, text)
        elif isinstance(getattr(services, "variables", None), dict):
            services.variables[key] = text
        else:
            raise AirflowException(f"Variable.set({key!r}) is only available inside a running task in Windsock")

    @classmethod
    def setdefault(cls, key: str, default: Any, description: str | None = None, deserialize_json: bool = False) -> Any:
        """The variable's value; stores and returns ``default`` when it is missing."""
        value = cls.get(key, default_var=None, deserialize_json=deserialize_json)
        if value is None:
            cls.set(key, default, description, serialize_json=deserialize_json)
            return default
        return value

    @classmethod
    def delete(cls, key: str, **kwargs: Any) -> int:
        """Remove a variable through the running task's services; how many were removed."""
        services = running_services()
        deleter = getattr(services, "delete_variable", None)
        if deleter is not None:
            return int(deleter(key) or 0)
        store = getattr(services, "variables", None)
        if isinstance(store, dict):
            return 1 if store.pop(key, None) is not None else 0
        raise AirflowException(f"Variable.delete({key!r}) is only available inside a running task in Windsock")


# -- Connection -----------------------------------------------------------------------------------


class Connection(_SdkConnection):
    """Airflow's Connection model: built from fields or ``uri=``; looked up with ``get_connection_from_secrets``."""

    def __init__(self, conn_id: str = "", conn_type: str | None = None, description: str | None = None,
                 host: str | None = None, login: str | None = None, password: str | None = None,
                 schema: str | None = None, port: int | None = None, extra: str | dict[str, Any] | None = None,
                 uri: str | None = None) -> None:
        if uri:
            parsed = _SdkConnection.from_uri(conn_id, uri)
            conn_type, host, login, password = parsed.conn_type, parsed.host, parsed.login, parsed.password
            schema, port, extra = parsed.schema, parsed.port, parsed.extra
        extra_text = json.dumps(extra) if isinstance(extra, dict) else extra
        super().__init__(conn_id, conn_type, host, login, password, schema, port, extra_text, description)

    @classmethod
    def get_connection_from_secrets(cls, conn_id: str) -> _SdkConnection:
        """The connection ``conn_id`` (running task's services, else the environment)."""
        return lookup_connection(conn_id)

    @classmethod
    def get(cls, conn_id: str) -> _SdkConnection:
        """Airflow 3's ``Connection.get``."""
        return lookup_connection(conn_id)


# -- XCom -----------------------------------------------------------------------------------------


class XCom:
    """Reading XComs of the running DAG run (``XCom.get_one``)."""

    @staticmethod
    def get_one(execution_date: Any = None, key: str | None = None, task_id: str | None = None, dag_id: str | None = None,
                include_prior_dates: bool = False, session: Any = None, *, run_id: str | None = None,
                map_index: int | None = None) -> Any:
        """One XCom value of the running task's DAG run (or ``run_id``); None when absent."""
        ti = _running_ti()
        pairs = ti.services.xcom_get(dag_id or ti.dag_id, run_id or ti.run_id, task_id or ti.task_id, key or RETURN_KEY,
                                     -1 if map_index is None else map_index)
        return pairs[0][1] if pairs else None

    @staticmethod
    def get_value(*, ti_key: Any = None, key: str | None = None, session: Any = None) -> Any:
        """The value of XCom ``key`` for a task instance key."""
        dag_id, task_id, run_id, _, map_index = ti_key
        return XCom.get_one(key=key, task_id=task_id, dag_id=dag_id, run_id=run_id, map_index=map_index)


def _running_ti() -> Any:
    from runtime.sdk.context import current_context

    return current_context()["ti"]


# -- configuration --------------------------------------------------------------------------------


class AirflowConfigParser:
    """``conf.get(section, key)``: Windsock settings, then ``AIRFLOW__SECTION__KEY``, then ``fallback``."""

    def get(self, section: str, key: str, fallback: Any = _MISSING, **kwargs: Any) -> Any:
        from runtime.errors import ConfigError
        from runtime.settings import Settings

        try:
            value = Settings.load().get(section.lower(), key.lower())
            return value if isinstance(value, str) else str(value)
        except ConfigError:
            pass
        for prefix in ("WINDSOCK", "AIRFLOW"):
            env = os.environ.get(f"{prefix}__{section.upper()}__{key.upper()}")
            if env is not None:
                return env
        if fallback is not _MISSING:
            return fallback
        raise AirflowConfigException(f"section/key [{section}/{key}] not found in config")

    def getboolean(self, section: str, key: str, fallback: Any = _MISSING, **kwargs: Any) -> bool:
        value = self.get(section, key, fallback=fallback)
        return value if isinstance(value, bool) else str(value).strip().lower() in ("t", "true", "1", "yes", "on")

    def getint(self, section: str, key: str, fallback: Any = _MISSING, **kwargs: Any) -> int:
        return int(self.get(section, key, fallback=fallback))

    def getfloat(self, section: str, key: str, fallback: Any = _MISSING, **kwargs: Any) -> float:
        return float(self.get(section, key, fallback=fallback))

    def has_option(self, section: str, key: str) -> bool:
        return self.get(section, key, fallback=None) is not None

    def get_mandatory_value(self, section: str, key: str, **kwargs: Any) -> str:
        value = self.get(section, key, fallback=None, **kwargs)
        if value is None:
            raise AirflowConfigException(f"section/key [{section}/{key}] not found in config")
        return str(value)

    def getjson(self, section: str, key: str, fallback: Any = None, **kwargs: Any) -> Any:
        import json

        value = self.get(section, key, fallback=None)
        return fallback if value in (None, "") else json.loads(value)

    def getlist(self, section: str, key: str, delimiter: str = ",", **kwargs: Any) -> list[str]:
        value = self.get(section, key, **kwargs)
        return [item.strip() for item in str(value).split(delimiter) if item.strip()]

    def getimport(self, section: str, key: str, **kwargs: Any) -> Any:
        """The object named by a dotted path in the setting; None when the setting is unset."""
        path = self.get(section, key, fallback=None)
        if not path:
            return None
        from runtime.compat.providers_api import import_string

        return import_string(path)

    def getsection(self, section: str) -> dict[str, str] | None:
        prefix = f"AIRFLOW__{section.upper()}__"
        found = {k[len(prefix):].lower(): v for k, v in os.environ.items() if k.startswith(prefix)}
        return found or None


conf = AirflowConfigParser()


# -- states ---------------------------------------------------------------------------------------


class State:
    """Airflow's ``State`` constants."""

    NONE = None
    SCHEDULED = TaskInstanceState.SCHEDULED
    QUEUED = TaskInstanceState.QUEUED
    RUNNING = TaskInstanceState.RUNNING
    SUCCESS = TaskInstanceState.SUCCESS
    FAILED = TaskInstanceState.FAILED
    UP_FOR_RETRY = TaskInstanceState.UP_FOR_RETRY
    UP_FOR_RESCHEDULE = TaskInstanceState.UP_FOR_RESCHEDULE
    UPSTREAM_FAILED = TaskInstanceState.UPSTREAM_FAILED
    SKIPPED = TaskInstanceState.SKIPPED
    REMOVED = TaskInstanceState.REMOVED
    RESTARTING = TaskInstanceState.RESTARTING
    DEFERRED = TaskInstanceState.DEFERRED
    finished = frozenset({SUCCESS, FAILED, SKIPPED, UPSTREAM_FAILED, REMOVED})
    unfinished = frozenset({None, SCHEDULED, QUEUED, RUNNING, UP_FOR_RETRY, UP_FOR_RESCHEDULE, RESTARTING, DEFERRED})
    failed_states = frozenset({FAILED, UPSTREAM_FAILED})
    success_states = frozenset({SUCCESS, SKIPPED})


# -- dates and time zones -------------------------------------------------------------------------

cron_presets: dict[str, str] = {k: v for k, v in PRESETS.items() if k not in ("@midnight", "@annually")}


def days_ago(n: int, hour: int = 0, minute: int = 0, second: int = 0, microsecond: int = 0) -> _datetime:
    """Midnight UTC (or the given time) ``n`` days ago, as Airflow 2's ``days_ago``."""
    today = _tz.utcnow().replace(hour=hour, minute=minute, second=second, microsecond=microsecond)
    return today - timedelta(days=n)


def tz_datetime(*args: Any, **kwargs: Any) -> _datetime:
    """``airflow.utils.timezone.datetime``: a datetime in the default time zone unless ``tzinfo`` is given."""
    kwargs.setdefault("tzinfo", _tz.default_timezone())
    return _datetime(*args, **kwargs)


def convert_to_utc(value: _datetime | None) -> _datetime | None:
    """``value`` in UTC (naive means the default time zone)."""
    return None if value is None else _tz.to_utc(value)


def make_naive(value: _datetime, tz: _tzinfo | None = None) -> _datetime:
    """``value`` in ``tz`` (default time zone) without its tzinfo."""
    return value.astimezone(tz or _tz.default_timezone()).replace(tzinfo=None)


def is_localized(value: _datetime) -> bool:
    """Whether ``value`` carries a time zone."""
    return not _tz.is_naive(value)


# -- helpers old DAG files import ----------------------------------------------------------------


def apply_defaults(func: Any) -> Any:
    """Airflow 1.x's decorator for operator ``__init__``: Windsock applies default_args to every operator already."""
    return func


class LoggingMixin:
    """``self.log`` for classes DAG files define."""

    @property
    def log(self) -> Any:
        import logging

        return logging.getLogger(f"{type(self).__module__}.{type(self).__name__}")


# -- Airflow 3 (airflow.sdk) ----------------------------------------------------------------------


class DAG(_Dag2):
    """Airflow 3's DAG: no schedule and no catchup unless the file says so."""

    _default_schedule = None
    _default_catchup = False


def dag(dag_id: Any = "", **dag_kwargs: Any) -> Any:
    """Airflow 3's ``@dag`` (builds an Airflow 3 DAG)."""
    dag_kwargs.setdefault("_dag_class", DAG)
    return _dag2(dag_id, **dag_kwargs)


__all__ = [
    "Variable", "Connection", "XCom", "TaskInstance", "DagRun", "conf", "AirflowConfigParser", "State",
    "TaskInstanceState", "DagRunState", "DagRunType", "days_ago", "cron_presets", "tz_datetime", "convert_to_utc",
    "make_naive", "is_localized", "DAG", "dag", "__version__", "apply_defaults", "LoggingMixin",
]
