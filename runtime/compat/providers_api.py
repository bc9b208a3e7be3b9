"""The ``airflow.*`` names that real provider packages import, beyond what DAG files use.

Provider packages (``apache-airflow-providers-amazon`` and friends) are installed without Apache
Airflow; ``modules.py`` maps the modules they import from core Airflow to the objects here.
Everything is written for Windsock; only the names and call shapes follow Airflow.
"""

from __future__ import annotations

import itertools
import logging
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate
from typing import Any

from runtime.sdk.exceptions import AirflowException

# -- exceptions and warnings ----------------------------------------------------------------------


class AirflowProviderDeprecationWarning(DeprecationWarning):
    """A provider feature is deprecated (``deprecated_reason``, ``deprecated_since``)."""

    deprecated_since: str | None = None
    deprecated_provider_since: str | None = None


class AirflowOptionalProviderFeatureException(AirflowException):
    """An optional feature of a provider needs a package that is not installed."""


class XComNotFound(AirflowException):
    """An XCom that a task needs was not pushed."""


class UnmappableXComTypePushed(AirflowException):
    """A mapped task's upstream pushed a value that cannot be mapped over."""


class RemovedInAirflow4Warning(DeprecationWarning):
    """Airflow's warning for what Airflow 4 removes."""


# -- sentinels (airflow.utils.types) --------------------------------------------------------------


class ArgNotSet:
    """The type of ``NOTSET``: an argument the caller did not pass (``None`` may be meaningful)."""

    _instance: ArgNotSet | None = None

    def __new__(cls) -> ArgNotSet:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOTSET"

    def __bool__(self) -> bool:
        return False

    @staticmethod
    def is_arg_set(value: Any) -> bool:
        return not isinstance(value, ArgNotSet)


NOTSET = ArgNotSet()


def is_arg_set(value: Any) -> bool:
    """False for ``NOTSET``."""
    return not isinstance(value, ArgNotSet)


# -- airflow.utils.strings / helpers --------------------------------------------------------------


def to_boolean(value: Any) -> bool:
    """``"true"``/``"t"``/``"y"``/``"yes"``/``"1"`` (any case) -> True; anything else -> False."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "t", "y", "yes", "1", "on")


def get_random_string(length: int = 8, choices: str = "abcdefghijklmnopqrstuvwxyz0123456789") -> str:
    """A random string of ``length`` characters from ``choices``."""
    import secrets

    return "".join(secrets.choice(choices) for _ in range(length))


def prune_dict(value: Any, mode: str = "strict") -> Any:
    """Drop ``None`` entries (``mode="truthy"``: every falsy entry) from dicts and lists, recursively."""

    def drop(item: Any) -> bool:
        return item is None if mode == "strict" else not bool(item)

    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(item, (dict, list)):
                item = prune_dict(item, mode)
            if not drop(item):
                out[key] = item
        return out
    if isinstance(value, list):
        items = [prune_dict(i, mode) if isinstance(i, (dict, list)) else i for i in value]
        return [i for i in items if not drop(i)]
    return value


def exactly_one(*args: Any) -> bool:
    """Whether exactly one argument is truthy."""
    return sum(1 for a in args if a) == 1


def at_most_one(*args: Any) -> bool:
    """Whether at most one argument is set (``NOTSET`` counts as unset)."""
    return sum(1 for a in args if a and is_arg_set(a)) <= 1


def merge_dicts(left: dict[Any, Any], right: dict[Any, Any]) -> dict[Any, Any]:
    """``left`` updated by ``right``, nested dicts merged rather than replaced."""
    merged = dict(left)
    for key, value in right.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_dicts(merged[key], value)
        else:
            merged[key] = value
    return merged


def chunks(items: Sequence[Any], chunk_size: int) -> Iterator[Sequence[Any]]:
    """``items`` in slices of ``chunk_size``."""
    if chunk_size <= 0:
        raise ValueError("Chunk size must be a positive integer")
    for start in range(0, len(items), chunk_size):
        yield items[start:start + chunk_size]


def reduce_in_chunks(fn: Callable[[Any, Any], Any], iterable: Iterable[Any], initializer: Any, chunk_size: int = 0) -> Any:
    """Fold ``fn`` over ``iterable`` taken in chunks."""
    items = list(iterable)
    result = initializer
    for part in chunks(items, chunk_size or len(items) or 1):
        result = fn(result, part)
    return result


def is_container(obj: Any) -> bool:
    """Whether ``obj`` is iterable but not a string."""
    return hasattr(obj, "__iter__") and not isinstance(obj, (str, bytes))


def validate_key(key: str, max_length: int = 250) -> None:
    """Raise unless ``key`` is a valid task/DAG id."""
    if not isinstance(key, str):
        raise TypeError(f"The key has to be a string and is {type(key)}:{key}")
    if len(key) > max_length:
        raise AirflowException(f"The key: {key} has to be less than {max_length} characters")
    if not re.match(r"^[\w.-]+$", key):
        raise AirflowException(f"The key {key!r} has to be made of alphanumeric characters, dashes, dots and underscores")


def flatten(iterable: Iterable[Any]) -> list[Any]:
    """One level of nesting removed."""
    return list(itertools.chain.from_iterable(iterable))


# -- secrets masking (airflow.utils.log.secrets_masker / airflow.sdk.log) -------------------------

_SECRETS: set[str] = set()


def mask_secret(secret: Any, name: str | None = None) -> None:
    """Remember ``secret`` so that ``redact`` hides it (strings of a dict's values too)."""
    if isinstance(secret, str):
        if len(secret) >= 5:
            _SECRETS.add(secret)
    elif isinstance(secret, Mapping):
        for value in secret.values():
            mask_secret(value)
    elif isinstance(secret, (list, tuple, set)):
        for value in secret:
            mask_secret(value)


def redact(value: Any, name: str | None = None, max_depth: int | None = None) -> Any:
    """``value`` with every masked secret replaced by ``***``."""
    if isinstance(value, str):
        for secret in sorted(_SECRETS, key=len, reverse=True):
            value = value.replace(secret, "***")
        return value
    if isinstance(value, Mapping):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v) for v in value)
    return value


def should_hide_value_for_key(name: str) -> bool:
    """Whether a field called ``name`` holds a secret (password, token, key...)."""
    return bool(re.search(r"(password|passwd|secret|token|api_key|apikey|access_token|private_key)", str(name), re.I))


# -- notifiers (airflow.notifications.basenotifier) -----------------------------------------------


class BaseNotifier:
    """A callback object (``on_failure_callback=SmtpNotifier(...)``): renders its templates, then ``notify``."""

    template_fields: Sequence[str] = ()
    template_ext: Sequence[str] = ()

    def __init__(self, **kwargs: Any) -> None:
        self._log = logging.getLogger(f"airflow.task.notifier.{type(self).__name__}")

    @property
    def log(self) -> logging.Logger:
        return self._log

    def render_template_fields(self, context: Mapping[str, Any], jinja_env: Any = None) -> None:
        """Render each of ``template_fields`` with the task's context."""
        from runtime.sdk.templating import make_environment, render_fields

        dag = context.get("dag")
        env = jinja_env or make_environment(dag if hasattr(dag, "user_defined_macros") else None)
        self.task_type = type(self).__name__
        render_fields(self, dict(context), env)

    def notify(self, context: Mapping[str, Any]) -> None:
        raise NotImplementedError

    async def async_notify(self, context: Mapping[str, Any]) -> None:
        self.notify(context)

    def __call__(self, *args: Any) -> None:
        # Task callbacks pass the context; DAG-level SLA callbacks passed five arguments (Airflow 2).
        context: Mapping[str, Any] = args[0] if len(args) == 1 else {"dag": args[0]}
        try:
            self.render_template_fields(context)
            self.notify(context)
        except Exception:
            self.log.exception("notifier %s failed", type(self).__name__)


# -- e-mail (airflow.utils.email) -----------------------------------------------------------------


def get_email_address_list(addresses: str | Iterable[str]) -> list[str]:
    """``"a@x, b@y; c@z"`` or a list -> a list of addresses."""
    if isinstance(addresses, str):
        return [a.strip() for a in re.split(r"[,;]", addresses) if a.strip()]
    return [a for a in addresses]


def build_mime_message(
    mail_from: str | None,
    to: str | Iterable[str],
    subject: str,
    html_content: str,
    files: list[str] | None = None,
    cc: str | Iterable[str] | None = None,
    bcc: str | Iterable[str] | None = None,
    mime_subtype: str = "mixed",
    mime_charset: str = "utf-8",
    custom_headers: dict[str, Any] | None = None,
) -> tuple[MIMEMultipart, list[str]]:
    """The message and its recipients (to + cc + bcc)."""
    import os

    to_list = get_email_address_list(to)
    msg = MIMEMultipart(mime_subtype)
    msg["Subject"] = subject
    if mail_from:
        msg["From"] = mail_from
    msg["To"] = ", ".join(to_list)
    recipients = list(to_list)
    if cc:
        cc_list = get_email_address_list(cc)
        msg["CC"] = ", ".join(cc_list)
        recipients += cc_list
    if bcc:
        recipients += get_email_address_list(bcc)
    msg["Date"] = formatdate(localtime=True)
    msg.attach(MIMEText(html_content, "html", mime_charset))
    for path in files or []:
        with open(path, "rb") as handle:
            part = MIMEApplication(handle.read(), Name=os.path.basename(path))
        part["Content-Disposition"] = f'attachment; filename="{os.path.basename(path)}"'
        msg.attach(part)
    for key, value in (custom_headers or {}).items():
        msg[key] = value
    return msg, recipients


# -- airflow.utils.module_loading -----------------------------------------------------------------


def import_string(dotted_path: str) -> Any:
    """``"pkg.mod.Name"`` -> the object."""
    import importlib

    module_path, _, name = dotted_path.rpartition(".")
    if not module_path:
        raise ImportError(f"{dotted_path} doesn't look like a module path")
    module = importlib.import_module(module_path)
    try:
        return getattr(module, name)
    except AttributeError:
        raise ImportError(f'Module "{module_path}" does not define a "{name}" attribute/class') from None


def qualname(obj: Any) -> str:
    """``module.QualName`` of an object or class."""
    kind = obj if isinstance(obj, type) or callable(obj) else type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def iter_namespace(namespace: Any) -> Iterator[Any]:
    import pkgutil

    return pkgutil.iter_modules(namespace.__path__, namespace.__name__ + ".")


# -- a no-op metrics client (airflow.stats) -------------------------------------------------------


class _NoStats:
    """``Stats.incr(...)`` and friends: Windsock does not emit StatsD metrics from providers."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            return _NullTimer()

        return call


class _NullTimer:
    def __enter__(self) -> _NullTimer:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def start(self) -> _NullTimer:
        return self

    def stop(self, send: bool = True) -> None:
        return None


Stats = _NoStats()


def warn_deprecated(message: str) -> None:
    """A provider deprecation warning (kept for callers that use a helper)."""
    warnings.warn(message, AirflowProviderDeprecationWarning, stacklevel=3)


__all__ = [
    "AirflowProviderDeprecationWarning", "AirflowOptionalProviderFeatureException", "XComNotFound",
    "UnmappableXComTypePushed", "RemovedInAirflow4Warning", "ArgNotSet", "NOTSET", "is_arg_set", "to_boolean",
    "get_random_string", "prune_dict", "exactly_one", "at_most_one", "merge_dicts", "chunks", "reduce_in_chunks",
    "is_container", "validate_key", "flatten", "mask_secret", "redact", "should_hide_value_for_key", "BaseNotifier",
    "get_email_address_list", "build_mime_message", "import_string", "qualname", "iter_namespace", "Stats",
]


def poke_mode_only(cls: type) -> type:
    """Class decorator: the sensor always runs in ``poke`` mode (setting ``mode`` to anything else fails)."""
    init = cls.__init__  # type: ignore[misc]

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        mode = kwargs.get("mode", "poke")
        if mode != "poke":
            raise ValueError(f"Cannot set mode to {mode!r}: {cls.__name__} only works in poke mode")
        init(self, *args, **kwargs)

    cls.__init__ = __init__  # type: ignore[misc]
    return cls


__all__ += ["poke_mode_only"]


# -- hook lineage (airflow.lineage.hook): Windsock records no lineage from hooks ------------------


class HookLineage:
    """What a collector gathered (always empty on Windsock)."""

    def __init__(self, inputs: list[Any] | None = None, outputs: list[Any] | None = None,
                 extra: list[Any] | None = None) -> None:
        self.inputs, self.outputs, self.extra = inputs or [], outputs or [], extra or []


class NoOpCollector:
    """Accepts what hooks report about assets they read and wrote, and keeps nothing."""

    _extra: dict[Any, Any] = {}

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("add_") or name.startswith("create_"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)

    @property
    def collected_assets(self) -> HookLineage:
        return HookLineage()

    @property
    def has_collected(self) -> bool:
        return False


HookLineageCollector = NoOpCollector
_COLLECTOR = NoOpCollector()


def get_hook_lineage_collector() -> NoOpCollector:
    return _COLLECTOR


__all__ += ["NoOpCollector", "HookLineageCollector", "HookLineage", "get_hook_lineage_collector"]


# -- airflow.utils.operator_helpers --------------------------------------------------------------

AIRFLOW_VAR_NAME_FORMAT_MAPPING = {
    "AIRFLOW_CONTEXT_DAG_ID": {"default": "airflow.ctx.dag_id", "env_var_format": "AIRFLOW_CTX_DAG_ID"},
    "AIRFLOW_CONTEXT_TASK_ID": {"default": "airflow.ctx.task_id", "env_var_format": "AIRFLOW_CTX_TASK_ID"},
    "AIRFLOW_CONTEXT_LOGICAL_DATE": {"default": "airflow.ctx.logical_date", "env_var_format": "AIRFLOW_CTX_LOGICAL_DATE"},
    "AIRFLOW_CONTEXT_TRY_NUMBER": {"default": "airflow.ctx.try_number", "env_var_format": "AIRFLOW_CTX_TRY_NUMBER"},
    "AIRFLOW_CONTEXT_DAG_RUN_ID": {"default": "airflow.ctx.dag_run_id", "env_var_format": "AIRFLOW_CTX_DAG_RUN_ID"},
    "AIRFLOW_CONTEXT_DAG_OWNER": {"default": "airflow.ctx.dag_owner", "env_var_format": "AIRFLOW_CTX_DAG_OWNER"},
    "AIRFLOW_CONTEXT_DAG_EMAIL": {"default": "airflow.ctx.dag_email", "env_var_format": "AIRFLOW_CTX_DAG_EMAIL"},
}


def context_to_airflow_vars(context: Mapping[str, Any], in_env_var_format: bool = False) -> dict[str, str]:
    """The task's identity as ``AIRFLOW_CTX_*`` variables (or ``airflow.ctx.*`` keys)."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    values = {
        "AIRFLOW_CONTEXT_DAG_ID": getattr(ti, "dag_id", None),
        "AIRFLOW_CONTEXT_TASK_ID": getattr(ti, "task_id", None),
        "AIRFLOW_CONTEXT_LOGICAL_DATE": (context.get("logical_date").isoformat()  # type: ignore[union-attr]
                                         if context.get("logical_date") else None),
        "AIRFLOW_CONTEXT_TRY_NUMBER": str(getattr(ti, "try_number", "")) if ti is not None else None,
        "AIRFLOW_CONTEXT_DAG_RUN_ID": getattr(dag_run, "run_id", None) or getattr(ti, "run_id", None),
    }
    key = "env_var_format" if in_env_var_format else "default"
    return {AIRFLOW_VAR_NAME_FORMAT_MAPPING[k][key]: str(v) for k, v in values.items() if v not in (None, "")}


class KeywordParameters:
    """The keyword arguments a callable accepts, picked from the context (``determine``, then ``unpacking``)."""

    def __init__(self, kwargs: Mapping[str, Any]) -> None:
        self._kwargs = dict(kwargs)

    @classmethod
    def determine(cls, func: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]) -> KeywordParameters:
        from runtime.sdk.operators.python import determine_kwargs

        return cls(determine_kwargs(func, args, kwargs))

    def unpacking(self) -> dict[str, Any]:
        return self._kwargs


__all__ += ["AIRFLOW_VAR_NAME_FORMAT_MAPPING", "context_to_airflow_vars", "KeywordParameters"]
