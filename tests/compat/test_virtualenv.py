"""Virtualenv tasks: a venv per requirements hash (built once per session here), the callable run there."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pendulum
import pytest

from runtime.compat.api import DAG
from runtime.inprocess import MemoryServices, run_dag
from runtime.sdk import task
from runtime.sdk.exceptions import AirflowException
from runtime.sdk.operators.virtualenv import (
    ExternalPythonOperator,
    PythonVirtualenvOperator,
    callable_source,
    ensure_venv,
    is_venv_installed,
    requirements_key,
)

START = pendulum.datetime(2024, 1, 1, tz="UTC")
REQUIREMENTS = ["six==1.16.0"]  # small, pure Python, not in the project's environment's way


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One WINDSOCK_HOME whose venv cache the tests of this module share (one venv build)."""
    path = tmp_path_factory.mktemp("venv-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("WINDSOCK_HOME", str(path))
    yield path
    mp.undo()


def _states(dag: DAG, services: MemoryServices) -> dict[str, str]:
    return {t: s for (t, _), s in run_dag(dag, services=services, quiet=True).task_states.items()}


def test_virtualenv_task_runs_in_its_venv_with_args_and_returns_an_xcom(home: Path) -> None:
    with DAG("venv", start_date=START, schedule=None) as d:
        @task
        def make() -> dict[str, int]:
            return {"a": 1}

        @task.virtualenv(requirements=REQUIREMENTS, system_site_packages=False)
        def inside(data: dict, ds: Any = None) -> dict:
            import sys

            import six
            return {"prefix": sys.prefix, "six": six.__version__, "a": data["a"], "ds": ds}

        @task
        def after(result: dict) -> str:
            return result["six"]

        after(inside(make()))
    services = MemoryServices(environ={})
    assert _states(d, services) == {"make": "success", "inside": "success", "after": "success"}
    run_id = next(iter(services.runs))[1]
    result = services.xcom_get("venv", run_id, "inside", "return_value", -1)[0][1]
    assert result["six"] == "1.16.0" and result["a"] == 1 and result["ds"] == run_id.split("__")[1][:10]
    assert result["prefix"].startswith(str(home / "venvs")) and result["prefix"] != sys.prefix


def test_the_venv_is_built_once_per_requirements_hash(home: Path) -> None:
    first = ensure_venv(REQUIREMENTS, system_site_packages=False)
    assert first == ensure_venv(list(reversed(REQUIREMENTS)), system_site_packages=False)
    assert first.parent.parent.name == requirements_key(REQUIREMENTS, None, False)
    assert is_venv_installed()


def test_external_python_operator_uses_the_given_interpreter_and_fails_clearly(home: Path) -> None:
    def where() -> str:
        import sys
        return sys.executable

    with DAG("ext", start_date=START, schedule=None) as d:
        ExternalPythonOperator(task_id="ok", python=sys.executable, python_callable=where)
        ExternalPythonOperator(task_id="missing", python="/no/such/python", python_callable=where)
    services = MemoryServices(environ={})
    assert _states(d, services) == {"ok": "success", "missing": "failed"}


def test_lambdas_are_refused_and_decorators_are_stripped_from_the_source() -> None:
    with pytest.raises(AirflowException, match="only supports functions"):
        PythonVirtualenvOperator(task_id="l", python_callable=lambda: 1)

    @task.virtualenv(requirements=[])
    def decorated() -> int:
        return 1

    assert callable_source(decorated.function).startswith("def decorated()")


def test_dill_serializer_and_branching_in_another_interpreter(home: Path) -> None:
    """``serializer='dill'`` works without dill (the function travels as source); branch decorators pick a branch."""
    from runtime.sdk.operators.empty import EmptyOperator

    with DAG("branchy", start_date=START, schedule=None) as d:
        @task.branch_external_python(python=sys.executable, serializer="dill")
        def pick() -> str:
            return "left"

        pick() >> [EmptyOperator(task_id="left"), EmptyOperator(task_id="right")]
    assert _states(d, MemoryServices(environ={})) == {"pick": "success", "left": "success", "right": "skipped"}
