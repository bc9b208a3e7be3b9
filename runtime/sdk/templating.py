"""Jinja2 rendering of template fields, in the task's own process at run time."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import jinja2
import jinja2.nativetypes

if TYPE_CHECKING:
    from runtime.sdk.dag import DAG


def _ds(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")


def _ds_nodash(value: datetime) -> str:
    return value.strftime("%Y%m%d")


def _ts(value: datetime) -> str:
    return value.isoformat()


def _ts_nodash(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")


def _ts_nodash_with_tz(value: datetime) -> str:
    return value.isoformat().replace("-", "").replace(":", "")


FILTERS: dict[str, Callable[[datetime], str]] = {
    "ds": _ds, "ds_nodash": _ds_nodash, "ts": _ts, "ts_nodash": _ts_nodash, "ts_nodash_with_tz": _ts_nodash_with_tz,
}


def make_environment(dag: DAG | None = None) -> jinja2.Environment:
    """The Jinja environment Airflow gives a DAG: StrictUndefined, DAG-folder loader, user macros."""
    searchpath: list[str] = []
    if dag is not None:
        if dag.fileloc and os.path.exists(dag.fileloc):
            searchpath.append(os.path.dirname(dag.fileloc))
        searchpath.extend(dag.template_searchpath)
    kwargs: dict[str, Any] = {
        "loader": jinja2.FileSystemLoader(searchpath or [os.getcwd()]),
        "undefined": dag.template_undefined if dag is not None else jinja2.StrictUndefined,
        "extensions": ["jinja2.ext.do"],
        "cache_size": 0,
    }
    if dag is not None and dag.jinja_environment_kwargs:
        kwargs.update(dag.jinja_environment_kwargs)
    native = dag is not None and dag.render_template_as_native_obj
    env_class = jinja2.nativetypes.NativeEnvironment if native else jinja2.Environment
    env = env_class(**kwargs)
    env.filters.update(FILTERS)
    if dag is not None and dag.user_defined_macros:
        env.globals.update(dag.user_defined_macros)
    if dag is not None and dag.user_defined_filters:
        env.filters.update(dag.user_defined_filters)
    return env


def render_fields(task: Any, context: Any, env: jinja2.Environment) -> None:
    """Render each of ``task.template_fields`` in place; errors name the task and field."""
    seen: set[int] = set()
    for name in task.template_fields:
        if not hasattr(task, name):
            raise AttributeError(f"{name!r} is configured as a template field but {task.task_type} does not have it")
        value = getattr(task, name)
        if not value:
            continue
        try:
            rendered = render_value(task, value, context, env, seen)
        except jinja2.exceptions.TemplateError as exc:
            raise type(exc)(f"task {task.task_id!r}, field {name!r}: {exc}") from exc  # type: ignore[call-arg]
        setattr(task, name, rendered)


def render_value(task: Any, value: Any, context: Any, env: jinja2.Environment, seen: set[int]) -> Any:
    """Render strings, containers, XComArgs and nested templated objects."""
    from runtime.sdk.xcom_arg import DagParamArg, XComArg

    if isinstance(value, str):
        if value.endswith(tuple(task.template_ext)):
            return env.get_template(value).render(**context) if not _is_native(env) else env.get_template(value).render(**context)
        return env.from_string(value).render(**context)
    if isinstance(value, (XComArg, DagParamArg)):
        return value.resolve(context)
    if isinstance(value, tuple):
        if type(value) is not tuple:  # namedtuple
            return type(value)(*(render_value(task, v, context, env, seen) for v in value))
        return tuple(render_value(task, v, context, env, seen) for v in value)
    if isinstance(value, list):
        return [render_value(task, v, context, env, seen) for v in value]
    if isinstance(value, dict):
        return {k: render_value(task, v, context, env, seen) for k, v in value.items()}
    if isinstance(value, set):
        return {render_value(task, v, context, env, seen) for v in value}
    if hasattr(value, "template_fields") and id(value) not in seen and not isinstance(value, type):
        seen.add(id(value))
        for name in value.template_fields:
            setattr(value, name, render_value(task, getattr(value, name), context, env, seen))
    return value


def _is_native(env: jinja2.Environment) -> bool:
    return isinstance(env, jinja2.nativetypes.NativeEnvironment)
