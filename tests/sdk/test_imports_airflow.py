"""``import airflow...`` served by Windsock: every supported path, unsupported ones, Airflow 1.x/2.x/3 DAG files."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pendulum
import pytest

from runtime.compat import airflow_installed, install_import_hook
from runtime.compat.importer import AirflowAliasFinder, UnsupportedAirflowModule, uninstall_import_hook
from runtime.inprocess import MemoryServices, run_dag
from runtime.loader import load_file

REPO = Path(__file__).resolve().parents[2]
START = pendulum.datetime(2024, 1, 1, tz="UTC")

OPS = ["BashOperator", "PythonOperator", "BranchPythonOperator", "ShortCircuitOperator", "DummyOperator", "EmptyOperator",
       "TriggerDagRunOperator", "LatestOnlyOperator", "MySqlOperator", "PostgresOperator", "SqliteOperator"]
SENSORS = ["BaseSensorOperator", "TimeDeltaSensor", "DateTimeSensor", "FileSensor", "PythonSensor", "ExternalTaskSensor"]
PY = ["PythonOperator", "BranchPythonOperator", "ShortCircuitOperator", "get_current_context"]

IMPORTS: list[tuple[str, list[str]]] = [
    ("airflow", ["DAG", "XComArg", "AirflowException", "__version__"]),
    ("airflow.version", ["version"]),
    ("airflow.models", ["DAG", "BaseOperator", "Variable", "Connection", "Param", "XCom", "TaskInstance", "DagRun", "SkipMixin"]),
    ("airflow.models.baseoperator", ["BaseOperator", "chain", "cross_downstream", "chain_linear"]),
    ("airflow.models.dag", ["DAG", "dag"]),
    ("airflow.models.param", ["Param", "ParamsDict"]),
    ("airflow.models.variable", ["Variable"]),
    ("airflow.models.connection", ["Connection"]),
    ("airflow.models.xcom", ["XCom", "XCOM_RETURN_KEY"]),
    ("airflow.models.xcom_arg", ["XComArg"]),
    ("airflow.models.taskinstance", ["TaskInstance"]),
    ("airflow.models.dagrun", ["DagRun"]),
    ("airflow.models.skipmixin", ["SkipMixin"]),
    ("airflow.decorators", ["dag", "task", "task_group"]),
    ("airflow.operators", OPS),
    ("airflow.operators.bash", ["BashOperator"]),
    ("airflow.operators.python", PY),
    ("airflow.operators.empty", ["EmptyOperator"]),
    ("airflow.operators.dummy", ["DummyOperator"]),
    ("airflow.operators.trigger_dagrun", ["TriggerDagRunOperator"]),
    ("airflow.operators.latest_only", ["LatestOnlyOperator"]),
    ("airflow.operators.branch", ["BaseBranchOperator"]),
    ("airflow.operators.bash_operator", ["BashOperator"]),
    ("airflow.operators.python_operator", PY),
    ("airflow.operators.dummy_operator", ["DummyOperator"]),
    ("airflow.operators.dagrun_operator", ["TriggerDagRunOperator"]),
    ("airflow.operators.latest_only_operator", ["LatestOnlyOperator"]),
    ("airflow.operators.mysql_operator", ["MySqlOperator"]),
    ("airflow.operators.postgres_operator", ["PostgresOperator"]),
    ("airflow.operators.sqlite_operator", ["SqliteOperator"]),
    ("airflow.providers.common.sql.operators.sql", ["SQLExecuteQueryOperator", "fetch_all_handler"]),
    ("airflow.providers.common.sql.hooks.sql", ["DbApiHook", "fetch_all_handler", "fetch_one_handler"]),
    ("airflow.providers.mysql.operators.mysql", ["MySqlOperator"]),
    ("airflow.providers.mysql.hooks.mysql", ["MySqlHook"]),
    ("airflow.providers.postgres.operators.postgres", ["PostgresOperator"]),
    ("airflow.providers.postgres.hooks.postgres", ["PostgresHook"]),
    ("airflow.providers.sqlite.operators.sqlite", ["SqliteOperator"]),
    ("airflow.providers.sqlite.hooks.sqlite", ["SqliteHook"]),
    ("airflow.hooks", ["BaseHook", "DbApiHook", "MySqlHook", "PostgresHook", "SqliteHook"]),
    ("airflow.hooks.base", ["BaseHook"]),
    ("airflow.hooks.base_hook", ["BaseHook"]),
    ("airflow.hooks.dbapi", ["DbApiHook"]),
    ("airflow.hooks.dbapi_hook", ["DbApiHook"]),
    ("airflow.hooks.mysql_hook", ["MySqlHook"]),
    ("airflow.hooks.postgres_hook", ["PostgresHook"]),
    ("airflow.hooks.sqlite_hook", ["SqliteHook"]),
    ("airflow.sensors", SENSORS),
    ("airflow.sensors.base", ["BaseSensorOperator", "PokeReturnValue"]),
    ("airflow.sensors.base_sensor_operator", ["BaseSensorOperator"]),
    ("airflow.sensors.time_delta", ["TimeDeltaSensor", "TimeDeltaSensorAsync"]),
    ("airflow.sensors.time_delta_sensor", ["TimeDeltaSensor"]),
    ("airflow.sensors.date_time", ["DateTimeSensor", "DateTimeSensorAsync"]),
    ("airflow.sensors.date_time_sensor", ["DateTimeSensor"]),
    ("airflow.sensors.filesystem", ["FileSensor"]),
    ("airflow.sensors.python", ["PythonSensor"]),
    ("airflow.sensors.external_task", ["ExternalTaskSensor", "ExternalTaskMarker"]),
    ("airflow.sensors.external_task_sensor", ["ExternalTaskSensor", "ExternalTaskMarker"]),
    ("airflow.operators.sensors", ["BaseSensorOperator", "ExternalTaskSensor", "TimeDeltaSensor"]),
    ("airflow.contrib.sensors.file_sensor", ["FileSensor"]),
    ("airflow.utils.decorators", ["apply_defaults"]),
    ("airflow.utils.log.logging_mixin", ["LoggingMixin"]),
    ("airflow.contrib.sensors.python_sensor", ["PythonSensor"]),
    ("airflow.utils.dates", ["days_ago", "cron_presets"]),
    ("airflow.utils.trigger_rule", ["TriggerRule"]),
    ("airflow.utils.task_group", ["TaskGroup", "task_group"]),
    ("airflow.utils.edgemodifier", ["Label", "EdgeModifier"]),
    ("airflow.utils.helpers", ["chain", "cross_downstream"]),
    ("airflow.utils.timezone", ["datetime", "utcnow", "parse", "utc", "convert_to_utc", "make_aware", "make_naive", "is_localized"]),
    ("airflow.utils.context", ["Context", "get_current_context"]),
    ("airflow.utils.state", ["State", "TaskInstanceState", "DagRunState"]),
    ("airflow.utils.types", ["DagRunType"]),
    ("airflow.exceptions", ["AirflowException", "AirflowSkipException", "AirflowFailException", "AirflowSensorTimeout",
                            "AirflowRescheduleException", "AirflowTaskTimeout", "AirflowNotFoundException"]),
    ("airflow.macros", ["ds_add", "ds_format", "datetime", "timedelta", "time", "uuid", "random"]),
    ("airflow.configuration", ["conf"]),
    ("airflow.sdk", ["DAG", "dag", "task", "task_group", "TaskGroup", "Label", "Param", "BaseOperator", "chain",
                     "cross_downstream", "Variable", "Connection", "get_current_context", "BaseSensorOperator",
                     "PokeReturnValue", "TriggerRule", "Context", "XComArg", "BaseHook"]),
    ("airflow.sdk.bases.operator", ["BaseOperator", "chain"]),
    ("airflow.sdk.bases.sensor", ["BaseSensorOperator", "PokeReturnValue"]),
    ("airflow.sdk.bases.hook", ["BaseHook"]),
    ("airflow.providers.standard.operators.bash", ["BashOperator"]),
    ("airflow.providers.standard.operators.python", PY),
    ("airflow.providers.standard.operators.empty", ["EmptyOperator"]),
    ("airflow.providers.standard.operators.trigger_dagrun", ["TriggerDagRunOperator"]),
    ("airflow.providers.standard.operators.latest_only", ["LatestOnlyOperator"]),
    ("airflow.providers.standard.sensors.time_delta", ["TimeDeltaSensor"]),
    ("airflow.providers.standard.sensors.date_time", ["DateTimeSensor"]),
    ("airflow.providers.standard.sensors.filesystem", ["FileSensor"]),
    ("airflow.providers.standard.sensors.python", ["PythonSensor"]),
    ("airflow.providers.standard.sensors.external_task", ["ExternalTaskSensor", "ExternalTaskMarker"]),
    ("airflow.providers.standard.utils.skipmixin", ["SkipMixin"]),
]


@pytest.fixture(scope="module", autouse=True)
def airflow_hook() -> Iterator[None]:
    """The hook for this module; removed afterwards unless something else had installed it."""
    already = any(isinstance(f, AirflowAliasFinder) for f in sys.meta_path)
    assert install_import_hook() is True
    yield
    if not already:
        uninstall_import_hook()


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (repo on sys.path)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(cwd)})


@pytest.mark.parametrize(("module", "names"), IMPORTS, ids=[m for m, _ in IMPORTS])
def test_import_path_resolves(module: str, names: list[str]) -> None:
    imported = importlib.import_module(module)
    for name in names:
        assert getattr(imported, name) is not None, f"{module}.{name}"
        assert name in dir(imported)


def test_names_are_the_sdk_objects() -> None:
    from airflow import DAG
    from airflow.models import BaseOperator
    from airflow.operators import BashOperator, MySqlOperator
    from airflow.operators.dummy import DummyOperator
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sensors.external_task_sensor import ExternalTaskSensor
    from airflow.utils.trigger_rule import TriggerRule

    import runtime.sdk as sdk
    from runtime.sdk.operators import bash, empty, python, sql
    from runtime.sdk.sensors import external_task

    assert DAG is sdk.DAG and BaseOperator is sdk.BaseOperator and TriggerRule is sdk.TriggerRule
    assert BashOperator is bash.BashOperator and MySqlOperator is sql.MySqlOperator
    assert DummyOperator is empty.EmptyOperator and PythonOperator is python.PythonOperator
    assert ExternalTaskSensor is external_task.ExternalTaskSensor


def test_star_import_and_attribute_walk() -> None:
    namespace: dict[str, object] = {}
    exec("from airflow.operators.bash import *", namespace)
    assert "BashOperator" in namespace
    import airflow

    assert airflow.utils.dates.days_ago(0).hour == 0
    assert airflow.__version__.startswith("2.")


def test_unsupported_module_names_itself() -> None:
    # the first missing package is named: parents are imported before their children
    with pytest.raises(ImportError, match=r"Windsock does not support 'airflow\.providers\.amazon'"):
        importlib.import_module("airflow.providers.amazon.aws.operators.s3")
    with pytest.raises(ImportError, match=r"Windsock does not support 'airflow\.kubernetes'"):
        importlib.import_module("airflow.kubernetes")
    with pytest.raises(UnsupportedAirflowModule, match=r"Windsock does not support 'airflow\.operators\.email'"):
        exec("from airflow.operators.email import EmailOperator", {})
    with pytest.raises(ImportError, match=r"cannot import name 'EmailOperator' from 'airflow\.operators'.*Windsock does not support"):
        exec("from airflow.operators import EmailOperator", {})
    import airflow.operators

    with pytest.raises(AttributeError, match="Windsock does not support"):
        _ = airflow.operators.EmailOperator


def test_install_is_idempotent_and_real_airflow_is_absent() -> None:
    assert install_import_hook() is True and install_import_hook() is True
    assert sum(isinstance(f, AirflowAliasFinder) for f in sys.meta_path) == 1
    assert airflow_installed() is False


def test_fresh_interpreter_has_no_airflow_until_the_hook_and_after_uninstall(tmp_path: Path) -> None:
    result = run_python("""
        import importlib, sys
        try:
            import airflow
        except ImportError:
            print("absent")
        from runtime.compat import install_import_hook, uninstall_import_hook
        install_import_hook()
        from airflow.operators import BashOperator
        print(BashOperator.__module__)
        uninstall_import_hook()
        print(any(n == "airflow" or n.startswith("airflow.") for n in sys.modules))
        try:
            import airflow
        except ImportError:
            print("absent again")
        import site; print([p for p in site.getsitepackages() if __import__("os").path.exists(p + "/airflow")])
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["absent", "runtime.sdk.operators.bash", "False", "absent", "again", "[]"]


def test_airflow3_dag_class_defaults() -> None:
    from airflow import DAG as Dag2
    from airflow.decorators import dag as dag2
    from airflow.sdk import DAG, dag

    assert (DAG("a3").timetable.summary, DAG("a3b").catchup) == ("None", False)
    assert DAG("a3c", schedule="@daily").timetable.summary == "@daily"
    assert Dag2("a2").schedule_interval == timedelta(days=1)

    @dag(start_date=START)
    def three() -> None:
        pass

    @dag2(start_date=START)
    def two() -> None:
        pass

    assert three().schedule_interval is None and three().catchup is False and isinstance(three(), DAG)
    assert two().schedule_interval == timedelta(days=1)


AIRFLOW3_DAG = '''
import pendulum
from airflow.sdk import DAG, Param, TaskGroup, Variable, dag, get_current_context, task
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.sensors.python import PythonSensor


@dag(start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), params={"factor": Param(3, type="integer")}, tags=["v3"])
def airflow3_etl():
    @task
    def extract() -> list[int]:
        return [1, 2, 3]

    @task
    def transform(values: list[int]) -> int:
        ctx = get_current_context()
        return sum(values) * ctx["params"]["factor"] + int(Variable.get("offset", default="0"))

    with TaskGroup("load"):
        done = EmptyOperator(task_id="done")
        echo = BashOperator(task_id="echo", bash_command="echo {{ ti.xcom_pull(task_ids='transform') }}")
        echo >> done
    ready = PythonSensor(task_id="ready", python_callable=lambda: True, poke_interval=1)
    transform(extract()) >> ready >> echo


airflow3_etl()
'''


def test_airflow3_dag_file_runs(tmp_path: Path) -> None:
    path = tmp_path / "airflow3_etl.py"
    path.write_text(AIRFLOW3_DAG)
    loaded = load_file(str(path))
    assert loaded.error is None, loaded.error
    [dag] = loaded.dags
    assert (dag.dag_id, dag.timetable.summary, dag.catchup) == ("airflow3_etl", "None", False)
    services = MemoryServices(environ={"AIRFLOW_VAR_OFFSET": "1"})
    record = run_dag(dag, START, services=services)
    assert record.state == "success"
    assert services.xcom_get("airflow3_etl", record.run_id, "load.echo", "return_value", -1) == [(-1, "19")]


AIRFLOW1_DAG = '''
from datetime import datetime, timedelta
from airflow import DAG
from airflow.operators import BashOperator, MySqlOperator
from airflow.operators.python_operator import PythonOperator
from airflow.operators.dummy_operator import DummyOperator
from airflow.utils.dates import days_ago
from airflow.models import BaseOperator
from airflow.utils.decorators import apply_defaults

default_args = {"owner": "airflow", "start_date": datetime(2016, 5, 29, 8, 30), "retries": 1, "retry_delay": timedelta(minutes=5)}
dag = DAG("legacy", default_args=default_args, schedule_interval="@once")

def greet(**kwargs):
    return "hello " + kwargs["ds"]

t1 = BashOperator(task_id="print_date", bash_command="echo {{ macros.ds_add(ds, 7) }}", dag=dag)
t2 = PythonOperator(task_id="greet", python_callable=greet, provide_context=True, dag=dag)
t3 = DummyOperator(task_id="end", dag=dag)
t1 >> t2 >> t3


class HelloOperator(BaseOperator):
    template_fields = ("name",)

    @apply_defaults
    def __init__(self, name, *args, **kwargs):
        super(HelloOperator, self).__init__(*args, **kwargs)
        self.name = name

    def execute(self, context):
        self.log.info("hello %s", self.name)
        return "hi " + self.name + " from " + self.owner


t3 >> HelloOperator(task_id="hello", name="{{ dag.dag_id }}", dag=dag)
assert days_ago(1) < datetime.now(days_ago(1).tzinfo)
'''


def test_airflow1_dag_file_runs(tmp_path: Path) -> None:
    path = tmp_path / "legacy.py"
    path.write_text(AIRFLOW1_DAG)
    loaded = load_file(str(path))
    assert loaded.error is None, loaded.error
    services = MemoryServices(environ={})
    record = run_dag(loaded.dags[0], pendulum.datetime(2016, 5, 29, 8, 30, tz="UTC"), services=services)
    assert record.state == "success"
    assert services.xcom_get("legacy", record.run_id, "print_date", "return_value", -1) == [(-1, "2016-06-05")]
    assert services.xcom_get("legacy", record.run_id, "greet", "return_value", -1) == [(-1, "hello 2016-05-29")]
    assert services.xcom_get("legacy", record.run_id, "hello", "return_value", -1) == [(-1, "hi legacy from airflow")]


def test_airflow3_dag_file_runs_in_a_fresh_interpreter(tmp_path: Path) -> None:
    (tmp_path / "airflow3_etl.py").write_text(AIRFLOW3_DAG)
    result = run_python(f"""
        import runpy
        from runtime.compat import install_import_hook
        from runtime.inprocess import MemoryServices, run_dag
        from runtime.sdk import context_stack
        install_import_hook()
        token = context_stack.start_collecting()
        runpy.run_path({str(tmp_path / "airflow3_etl.py")!r})
        [dag] = [o for o in context_stack.stop_collecting(token) if type(o).__name__ == "DAG"]
        print("STATE", run_dag(dag, services=MemoryServices(environ={{}}), quiet=True).state)
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "STATE success" in result.stdout


def test_models_route_to_the_running_task() -> None:
    from airflow import DAG
    from airflow.configuration import conf
    from airflow.hooks.base import BaseHook
    from airflow.models import Connection, Variable, XCom
    from airflow.operators.python import PythonOperator
    from airflow.utils.state import State

    def first() -> str:
        return "from first"

    def second() -> dict[str, object]:
        Variable.set("written", {"n": 1}, serialize_json=True)
        return {
            "env": Variable.get("from_env"),
            "json": Variable.get("written", deserialize_json=True),
            "missing": Variable.get("nope", default_var="dflt"),
            "host": Connection.get_connection_from_secrets("db").host,
            "hook_login": BaseHook.get_connection("db").login,
            "xcom": XCom.get_one(task_id="first"),
            "conf": conf.get("windsock_test", "unknown_key", fallback="fb"),
        }

    with DAG("models", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="first", python_callable=first) >> PythonOperator(task_id="second", python_callable=second)
    services = MemoryServices(environ={"AIRFLOW_VAR_FROM_ENV": "e", "AIRFLOW_CONN_DB": "postgres://u:p@dbhost:5432/d"})
    record = run_dag(dag, START, services=services)
    assert record.state == State.SUCCESS
    [(_, got)] = services.xcom_get("models", record.run_id, "second", "return_value", -1)
    assert got == {"env": "e", "json": {"n": 1}, "missing": "dflt", "host": "dbhost", "hook_login": "u",
                   "xcom": "from first", "conf": "fb"}


def test_models_outside_a_task_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models import Connection, Variable

    monkeypatch.setenv("AIRFLOW_VAR_COLOR", '{"c": "blue"}')
    assert Variable.get("color", deserialize_json=True) == {"c": "blue"}
    assert Variable.get("absent", default_var=None) is None
    with pytest.raises(KeyError, match="absent"):
        Variable.get("absent")
    with pytest.raises(AirflowNotFoundException):
        Connection.get_connection_from_secrets("absent")
    conn = Connection(conn_id="x", uri="mysql://root:pw@db.example:3306/sales")
    assert (conn.conn_type, conn.host, conn.port, conn.schema, conn.password) == ("mysql", "db.example", 3306, "sales", "pw")
    assert Connection(conn_id="y", conn_type="http", extra={"k": 1}).extra_dejson == {"k": 1}


def test_hook_stays_out_when_apache_airflow_is_installed(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "airflow").mkdir(parents=True)
    (site / "airflow" / "__init__.py").write_text("REAL = True\n")
    result = run_python(f"""
        import sys
        sys.path.insert(0, {str(site)!r})
        from runtime.compat import airflow_installed, install_import_hook
        print(airflow_installed(), install_import_hook())
        import airflow
        print(airflow.REAL)
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False", "True"]
