"""The Airflow modules real DAG files import through the common-compat and standard providers resolve to Windsock."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import pytest

from runtime.compat import airflow_installed, install_import_hook
from runtime.compat.importer import uninstall_import_hook

IMPORTS = [
    ("airflow.providers.common.compat.sdk", ["TriggerRule", "timezone", "Context", "BaseOperator", "AirflowSkipException",
                                             "Asset", "task", "setup", "teardown", "XCOM_RETURN_KEY"]),
    ("airflow.providers.common.compat.standard.operators", ["PythonOperator", "ShortCircuitOperator", "BaseBranchOperator"]),
    ("airflow.providers.standard.operators.datetime", ["BranchDateTimeOperator"]),
    ("airflow.providers.standard.operators.weekday", ["BranchDayOfWeekOperator"]),
    ("airflow.providers.standard.utils.weekday", ["WeekDay"]),
    ("airflow.providers.standard.sensors.bash", ["BashSensor"]),
    ("airflow.providers.standard.sensors.time", ["TimeSensor"]),
    ("airflow.providers.standard.sensors.weekday", ["DayOfWeekSensor"]),
    ("airflow.providers.standard.operators.python", ["PythonVirtualenvOperator", "ExternalPythonOperator",
                                                     "BranchPythonVirtualenvOperator", "is_venv_installed"]),
    ("airflow.operators.datetime", ["BranchDateTimeOperator"]),
    ("airflow.operators.weekday", ["BranchDayOfWeekOperator"]),
    ("airflow.operators.python", ["is_venv_installed", "BranchExternalPythonOperator"]),
    ("airflow.utils.weekday", ["WeekDay"]),
    ("airflow.sensors.bash", ["BashSensor"]),
    ("airflow.sensors.time_sensor", ["TimeSensor", "TimeSensorAsync"]),
    ("airflow.sdk", ["Asset", "AssetAlias", "AssetAll", "AssetAny", "AssetOrTimeSchedule", "asset", "Metadata", "setup",
                     "teardown", "ExceptionRetryPolicy", "RetryRule", "RetryAction", "CronTriggerTimetable"]),
    ("airflow.sdk.exceptions", ["AirflowSkipException", "AirflowFailException"]),
    ("airflow.decorators", ["setup", "teardown"]),
    ("airflow.datasets", ["Dataset", "DatasetAlias", "DatasetAll", "DatasetAny"]),
    ("airflow.datasets.metadata", ["Metadata"]),
    ("airflow.timetables.datasets", ["DatasetOrTimeSchedule"]),
    ("airflow.timetables.trigger", ["CronTriggerTimetable"]),
]


@pytest.fixture(autouse=True)
def hook() -> Iterator[None]:
    if airflow_installed():
        pytest.skip("Apache Airflow is installed here: the import hook stays off")
    install_import_hook()
    yield
    uninstall_import_hook()


@pytest.mark.parametrize(("module", "names"), IMPORTS, ids=[m for m, _ in IMPORTS])
def test_module_provides_names(module: str, names: list[str]) -> None:
    mod = importlib.import_module(module)
    for name in names:
        assert getattr(mod, name) is not None, f"{module}.{name}"


def test_compat_names_are_the_sdk_objects() -> None:
    compat = importlib.import_module("airflow.providers.common.compat.sdk")
    sdk = importlib.import_module("airflow.sdk")
    assert compat.TriggerRule is sdk.TriggerRule and compat.Asset is sdk.Asset
    assert importlib.import_module("airflow.datasets").Dataset("s3://x") == sdk.Asset(uri="s3://x")


def test_every_name_a_module_lists_exists() -> None:
    """Each ``module:name`` source of the alias table resolves (a typo would fail only when a DAG imports it)."""
    from runtime.compat.importer import _parse
    from runtime.compat.modules import MODULES

    missing = []
    for alias, sources in MODULES.items():
        for source in sources:
            module_name, names = _parse(source)
            module = importlib.import_module(module_name)
            missing += [f"{alias}: {module_name}.{n}" for n in (names or {}).values() if not hasattr(module, n)]
    assert missing == []
