"""Which ``airflow.*`` modules Windsock provides, and where each of their names comes from.

An entry lists sources: ``"pkg.mod"`` exposes every public name of that module;
``"pkg.mod:a,b"`` exposes ``a`` and ``b``; ``"pkg.mod:alias=name"`` exposes ``name`` as ``alias``.
Parents of listed modules (``airflow.providers``, ...) exist as empty packages.
"""

from __future__ import annotations

import functools

_OPS = "runtime.sdk.operators"
_SENS = "runtime.sdk.sensors"
_API = "runtime.compat.api"
_PROV = "runtime.compat.providers_api"

BASH = (f"{_OPS}.bash:BashOperator",)
PYTHON = (
    f"{_OPS}.python:PythonOperator,BranchPythonOperator,ShortCircuitOperator,BranchMixIn,get_current_context",
    f"{_OPS}.virtualenv:PythonVirtualenvOperator,ExternalPythonOperator,BranchPythonVirtualenvOperator,"
    "BranchExternalPythonOperator,is_venv_installed",
)
EMPTY = (f"{_OPS}.empty:EmptyOperator",)
DUMMY = (f"{_OPS}.empty:DummyOperator,EmptyOperator",)
TRIGGER = (f"{_OPS}.trigger_dagrun:TriggerDagRunOperator,XCOM_RUN_ID,XCOM_LOGICAL_DATE_ISO",)
LATEST = (f"{_OPS}.latest_only:LatestOnlyOperator",)
BRANCH = (f"{_OPS}.branch:BaseBranchOperator",)
SQL_OP = (f"{_OPS}.sql:SQLExecuteQueryOperator", "runtime.sdk.hooks.dbapi:fetch_all_handler,fetch_one_handler")
SQL_HOOK = ("runtime.sdk.hooks.dbapi:DbApiHook,fetch_all_handler,fetch_one_handler,return_single_query_results,split_sql_string",)
MYSQL_OP, MYSQL_HOOK = (f"{_OPS}.sql:MySqlOperator",), ("runtime.sdk.hooks.dbapi:MySqlHook",)
PG_OP, PG_HOOK = (f"{_OPS}.sql:PostgresOperator",), ("runtime.sdk.hooks.dbapi:PostgresHook",)
SQLITE_OP, SQLITE_HOOK = (f"{_OPS}.sql:SqliteOperator",), ("runtime.sdk.hooks.dbapi:SqliteHook",)
BASE_HOOK = ("runtime.sdk.hooks.base:BaseHook",)
SENSOR_BASE = (f"{_SENS}.base:BaseSensorOperator,PokeReturnValue",)
TIME_DELTA = (f"{_SENS}.time_delta:TimeDeltaSensor,TimeDeltaSensorAsync",)
DATE_TIME = (f"{_SENS}.date_time:DateTimeSensor,DateTimeSensorAsync",)
FILE = (f"{_SENS}.filesystem:FileSensor",)
PY_SENSOR = (f"{_SENS}.python:PythonSensor",)
EXTERNAL = (f"{_SENS}.external_task:ExternalTaskSensor,ExternalTaskMarker",)
SKIPMIXIN = ("runtime.sdk.skipmixin:SkipMixin",)
CHAIN = ("runtime.sdk.baseoperator:chain,chain_linear,cross_downstream",)
OPERATOR_BASE = ("runtime.sdk.baseoperator:BaseOperator,BaseOperatorLink", *CHAIN)
DATETIME_OP = (f"{_OPS}.datetime:BranchDateTimeOperator,target_times_as_dates",)
WEEKDAY_OP = (f"{_OPS}.weekday:BranchDayOfWeekOperator",)
WEEKDAY = ("runtime.sdk.weekday:WeekDay",)
BASH_SENSOR = (f"{_SENS}.bash:BashSensor",)
TRIGGER_BASE = ("runtime.sdk.triggers.base:BaseTrigger,TriggerEvent,TaskSuccessEvent,TaskFailedEvent,"
                "TaskSkippedEvent,BaseTaskEndEvent",)
TEMPORAL_TRIGGERS = ("runtime.sdk.triggers.temporal:DateTimeTrigger,TimeDeltaTrigger",)
FILE_TRIGGER = ("runtime.sdk.triggers.file:FileTrigger",)
EXTERNAL_TRIGGERS = ("runtime.sdk.triggers.external_task:WorkflowTrigger,DagStateTrigger",)
TIME_SENSOR = (f"{_SENS}.time:TimeSensor,TimeSensorAsync",)
WEEKDAY_SENSOR = (f"{_SENS}.weekday:DayOfWeekSensor",)
RETRY = ("runtime.sdk.retry_policy:RetryAction,RetryDecision,RetryPolicy,RetryRule,ExceptionRetryPolicy",)
ASSETS = (
    "runtime.sdk.assets:Asset,AssetAlias,AssetAll,AssetAny,Dataset,DatasetAlias,DatasetAll,DatasetAny,Metadata,"
    "AssetRef,AssetNameRef,AssetUriRef,BaseAsset",
)
ASSET_TIMETABLES = ("runtime.sdk.assets:AssetOrTimeSchedule,DatasetOrTimeSchedule,AssetTriggeredTimetable",)
SETUP_TEARDOWN = ("runtime.sdk.setup_teardown:setup,teardown",)
# What Airflow 3 DAG files import from ``airflow.sdk`` (and the common-compat provider re-exports).
SDK = (
    f"{_API}:DAG,dag,Variable,Connection", "runtime.sdk.decorators:task", "runtime.sdk.taskgroup:task_group,TaskGroup",
    "runtime.sdk.edges:Label,EdgeModifier", "runtime.sdk.params:Param,ParamsDict", *OPERATOR_BASE,
    "runtime.sdk.context:Context,get_current_context=current_context", *SENSOR_BASE, *BASE_HOOK,
    "runtime.sdk.trigger_rule:TriggerRule", "runtime.sdk.xcom_arg:XComArg", f"{_API}:TaskInstanceState,DagRunState",
    *ASSETS, *ASSET_TIMETABLES, "runtime.sdk.assets:asset", *SETUP_TEARDOWN, *RETRY,
    f"{_OPS}.branch:BaseBranchOperator", f"{_OPS}.python:BranchMixIn", *SKIPMIXIN,
    "runtime.sdk.timetables:CronTriggerTimetable,CronDataIntervalTimetable,DeltaDataIntervalTimetable",
    "runtime.sdk.baseoperator:WeightRule",
)

_PROV_EXC = (f"{_PROV}:AirflowProviderDeprecationWarning,AirflowOptionalProviderFeatureException,XComNotFound,"
             "UnmappableXComTypePushed,RemovedInAirflow4Warning")

MODULES: dict[str, tuple[str, ...]] = {
    "airflow": ("runtime.sdk.dag:DAG", "runtime.sdk.xcom_arg:XComArg", "runtime.sdk.exceptions:AirflowException", f"{_API}:__version__"),
    "airflow.version": (f"{_API}:version=__version__",),
    "airflow.models": (
        "runtime.sdk.dag:DAG", *OPERATOR_BASE[:1], "runtime.sdk.params:Param,ParamsDict", *SKIPMIXIN,
        f"{_API}:Variable,Connection,XCom,TaskInstance,DagRun", "runtime.sdk.mapping:MappedOperator",
    ),
    "airflow.models.baseoperator": OPERATOR_BASE,
    "airflow.models.dag": ("runtime.sdk.dag:DAG,dag",),
    "airflow.models.param": ("runtime.sdk.params:Param,ParamsDict",),
    "airflow.models.variable": (f"{_API}:Variable",),
    "airflow.models.connection": (f"{_API}:Connection",),
    "airflow.models.xcom": (f"{_API}:XCom", "runtime.sdk.xcom_arg:XCOM_RETURN_KEY=RETURN_KEY"),
    "airflow.models.xcom_arg": ("runtime.sdk.xcom_arg:XComArg",),
    "airflow.models.taskinstance": (f"{_API}:TaskInstance",),
    "airflow.models.dagrun": (f"{_API}:DagRun",),
    "airflow.models.skipmixin": SKIPMIXIN,
    "airflow.decorators": ("runtime.sdk.dag:dag", "runtime.sdk.decorators:task", "runtime.sdk.taskgroup:task_group",
                           *SETUP_TEARDOWN),
    # Airflow 1.x let DAG files import operators straight from the package.
    "airflow.operators": BASH + PYTHON + DUMMY + TRIGGER + LATEST + BRANCH + MYSQL_OP + PG_OP + SQLITE_OP,
    "airflow.operators.bash": BASH,
    "airflow.operators.bash_operator": BASH,
    "airflow.operators.python": PYTHON,
    "airflow.operators.python_operator": PYTHON,
    "airflow.operators.empty": EMPTY,
    "airflow.operators.dummy": DUMMY,
    "airflow.operators.dummy_operator": DUMMY,
    "airflow.operators.trigger_dagrun": TRIGGER,
    "airflow.operators.dagrun_operator": TRIGGER,
    "airflow.operators.latest_only": LATEST,
    "airflow.operators.latest_only_operator": LATEST,
    "airflow.operators.branch": BRANCH,
    "airflow.operators.mysql_operator": MYSQL_OP,
    "airflow.operators.postgres_operator": PG_OP,
    "airflow.operators.sqlite_operator": SQLITE_OP,
    "airflow.providers.common.sql.operators.sql": SQL_OP,
    "airflow.providers.common.sql.hooks.sql": SQL_HOOK,
    "airflow.providers.mysql.operators.mysql": MYSQL_OP,
    "airflow.providers.mysql.hooks.mysql": MYSQL_HOOK,
    "airflow.providers.postgres.operators.postgres": PG_OP,
    "airflow.providers.postgres.hooks.postgres": PG_HOOK,
    "airflow.providers.sqlite.operators.sqlite": SQLITE_OP,
    "airflow.providers.sqlite.hooks.sqlite": SQLITE_HOOK,
    "airflow.hooks": BASE_HOOK + SQL_HOOK[:1] + MYSQL_HOOK + PG_HOOK + SQLITE_HOOK,
    "airflow.hooks.base": BASE_HOOK,
    "airflow.hooks.base_hook": BASE_HOOK,
    "airflow.hooks.dbapi": SQL_HOOK,
    "airflow.hooks.dbapi_hook": SQL_HOOK,
    "airflow.hooks.mysql_hook": MYSQL_HOOK,
    "airflow.hooks.postgres_hook": PG_HOOK,
    "airflow.hooks.sqlite_hook": SQLITE_HOOK,
    "airflow.sensors": SENSOR_BASE + TIME_DELTA + DATE_TIME + FILE + PY_SENSOR + EXTERNAL + BASH_SENSOR + TIME_SENSOR,
    "airflow.sensors.base": (*SENSOR_BASE, f"{_PROV}:poke_mode_only"),
    "airflow.sensors.base_sensor_operator": SENSOR_BASE,
    "airflow.sensors.time_delta": TIME_DELTA,
    "airflow.sensors.time_delta_sensor": TIME_DELTA,
    "airflow.sensors.date_time": DATE_TIME,
    "airflow.sensors.date_time_sensor": DATE_TIME,
    "airflow.sensors.filesystem": FILE,
    "airflow.sensors.python": PY_SENSOR,
    "airflow.sensors.external_task": EXTERNAL,
    "airflow.sensors.external_task_sensor": EXTERNAL,
    "airflow.operators.sensors": SENSOR_BASE + TIME_DELTA + DATE_TIME + EXTERNAL,
    "airflow.contrib.sensors.file_sensor": FILE,
    "airflow.contrib.sensors.python_sensor": PY_SENSOR,
    "airflow.utils.dates": (f"{_API}:days_ago,cron_presets",),
    "airflow.utils.trigger_rule": ("runtime.sdk.trigger_rule:TriggerRule",),
    "airflow.utils.task_group": ("runtime.sdk.taskgroup:TaskGroup,task_group",),
    "airflow.utils.edgemodifier": ("runtime.sdk.edges:Label,EdgeModifier",),
    "airflow.utils.timezone": (
        f"{_API}:datetime=tz_datetime,convert_to_utc,make_naive,is_localized", "runtime.sdk.timezone",
    ),
    "airflow.utils.context": ("runtime.sdk.context:Context,get_current_context=current_context",),
    "airflow.utils.state": (f"{_API}:State,TaskInstanceState,DagRunState",),
    "airflow.utils.decorators": (f"{_API}:apply_defaults",),
    "airflow.utils.log.logging_mixin": (f"{_API}:LoggingMixin",),
    "airflow.exceptions": ("runtime.sdk.exceptions", _PROV_EXC),
    "airflow.macros": ("runtime.sdk.macros",),
    "airflow.configuration": (f"{_API}:conf,AirflowConfigParser",),
    # Airflow 3: the task SDK and the standard provider.
    "airflow.sdk": SDK,
    "airflow.sdk.exceptions": ("runtime.sdk.exceptions", _PROV_EXC),
    "airflow.sdk.definitions.asset": ASSETS,
    "airflow.sdk.definitions.retry_policy": RETRY,
    "airflow.sdk.bases.branch": (f"{_OPS}.branch:BaseBranchOperator", f"{_OPS}.python:BranchMixIn"),
    "airflow.sdk.bases.skipmixin": SKIPMIXIN,
    "airflow.sdk.timezone": ("runtime.sdk.timezone", f"{_API}:datetime=tz_datetime,convert_to_utc,make_naive,is_localized"),
    "airflow.sdk.bases.operator": OPERATOR_BASE,
    "airflow.sdk.bases.sensor": (*SENSOR_BASE, f"{_PROV}:poke_mode_only"),
    "airflow.sdk.bases.hook": BASE_HOOK,
    "airflow.providers.standard.operators.bash": BASH,
    "airflow.providers.standard.operators.python": PYTHON,
    "airflow.providers.standard.operators.empty": EMPTY,
    "airflow.providers.standard.operators.trigger_dagrun": TRIGGER,
    "airflow.providers.standard.operators.latest_only": LATEST,
    "airflow.providers.standard.operators.branch": BRANCH,
    "airflow.providers.standard.sensors.time_delta": TIME_DELTA,
    "airflow.providers.standard.sensors.date_time": DATE_TIME,
    "airflow.providers.standard.sensors.filesystem": FILE,
    "airflow.providers.standard.sensors.python": PY_SENSOR,
    "airflow.providers.standard.sensors.external_task": EXTERNAL,
    "airflow.providers.standard.utils.skipmixin": SKIPMIXIN,
    "airflow.providers.standard.operators.datetime": DATETIME_OP,
    "airflow.providers.standard.operators.weekday": WEEKDAY_OP,
    "airflow.providers.standard.utils.weekday": WEEKDAY,
    "airflow.providers.standard.sensors.bash": BASH_SENSOR,
    "airflow.providers.standard.sensors.time": TIME_SENSOR,
    "airflow.providers.standard.sensors.weekday": WEEKDAY_SENSOR,
    "airflow.providers.standard.decorators.setup_teardown": SETUP_TEARDOWN,
    "airflow.operators.datetime": DATETIME_OP,
    "airflow.operators.weekday": WEEKDAY_OP,
    "airflow.utils.weekday": WEEKDAY,
    "airflow.sensors.bash": BASH_SENSOR,
    "airflow.sensors.time_sensor": TIME_SENSOR,
    "airflow.sensors.weekday": WEEKDAY_SENSOR,
    "airflow.utils.setup_teardown": SETUP_TEARDOWN,
    "airflow.decorators.setup_teardown": SETUP_TEARDOWN,
    # Triggers of deferrable operators (Airflow 2 paths, then the standard provider's).
    "airflow.triggers.base": TRIGGER_BASE,
    "airflow.triggers.temporal": TEMPORAL_TRIGGERS,
    "airflow.triggers.file": FILE_TRIGGER,
    "airflow.triggers.external_task": EXTERNAL_TRIGGERS,
    "airflow.sdk.bases.trigger": TRIGGER_BASE,
    "airflow.providers.standard.triggers.temporal": TEMPORAL_TRIGGERS,
    "airflow.providers.standard.triggers.file": FILE_TRIGGER,
    "airflow.providers.standard.triggers.external_task": EXTERNAL_TRIGGERS,
    # Assets (Airflow 3) and datasets (Airflow 2).
    "airflow.assets": ASSETS,
    "airflow.datasets": ASSETS,
    "airflow.datasets.metadata": ("runtime.sdk.assets:Metadata",),
    "airflow.timetables.assets": ASSET_TIMETABLES,
    "airflow.timetables.datasets": ASSET_TIMETABLES,
    "airflow.timetables.simple": ("runtime.sdk.assets:AssetTriggeredTimetable,DatasetTriggeredTimetable",
                                  "runtime.sdk.timetables:NullTimetable,OnceTimetable"),
    "airflow.timetables.trigger": ("runtime.sdk.timetables:CronTriggerTimetable",),
    "airflow.timetables.interval": ("runtime.sdk.timetables:CronDataIntervalTimetable,DeltaDataIntervalTimetable",),
    # The common-compat provider: the same objects under Airflow 2/3-neutral names.
    "airflow.providers.common.compat.sdk": (
        *SDK, "runtime.sdk.exceptions", "runtime.compat.api:conf", "runtime.sdk.xcom_arg:XCOM_RETURN_KEY=RETURN_KEY",
        "runtime.sdk:timezone", "runtime.sdk.operators.python:determine_kwargs",
    ),
    "airflow.providers.common.compat.standard.operators": (
        f"{_OPS}.python:PythonOperator,ShortCircuitOperator,BranchMixIn,get_current_context",
        f"{_OPS}.branch:BaseBranchOperator", *OPERATOR_BASE[:1],
    ),
    "airflow.providers.common.compat.standard.utils": SKIPMIXIN,
    "airflow.providers.common.compat.assets": ASSETS,
    # What the real provider packages import from core Airflow (see docs/providers.md).
    "airflow.utils.strings": (f"{_PROV}:to_boolean,get_random_string",),
    "airflow.utils.types": (f"{_API}:DagRunType", f"{_PROV}:NOTSET,ArgNotSet"),
    "airflow.utils.helpers": (*CHAIN, f"{_PROV}:prune_dict,exactly_one,at_most_one,merge_dicts,chunks,"
                              "reduce_in_chunks,is_container,validate_key,flatten"),
    "airflow.utils.log.secrets_masker": (f"{_PROV}:mask_secret,redact,should_hide_value_for_key",),
    "airflow.sdk.log": (f"{_PROV}:mask_secret,redact",),
    "airflow.sdk.execution_time.secrets_masker": (f"{_PROV}:mask_secret,redact",),
    "airflow.utils.email": (f"{_PROV}:build_mime_message,get_email_address_list",),
    "airflow.utils.module_loading": (f"{_PROV}:import_string,qualname,iter_namespace",),
    "airflow.sdk.module_loading": (f"{_PROV}:import_string,qualname,iter_namespace",),
    "airflow.notifications.basenotifier": (f"{_PROV}:BaseNotifier",),
    "airflow.sdk.bases.notifier": (f"{_PROV}:BaseNotifier",),
    "airflow.stats": (f"{_PROV}:Stats",),
    "airflow.sdk.definitions._internal.types": (f"{_PROV}:NOTSET,ArgNotSet,is_arg_set",),
    "airflow.sdk.definitions.context": ("runtime.sdk.context:Context",),
    "airflow.providers_manager": ("runtime.compat.providers_manager",),
    "airflow.utils.operator_helpers": (f"{_OPS}.python:determine_kwargs",
                                       f"{_PROV}:KeywordParameters,context_to_airflow_vars,AIRFLOW_VAR_NAME_FORMAT_MAPPING"),
    "airflow.lineage.hook": (f"{_PROV}:NoOpCollector,HookLineageCollector,HookLineage,get_hook_lineage_collector",),
    "airflow.sdk.lineage": (f"{_PROV}:NoOpCollector,HookLineageCollector,HookLineage,get_hook_lineage_collector",),
}


@functools.cache
def packages() -> frozenset[str]:
    """Every supported module and each of its parents."""
    names: set[str] = set()
    for name in MODULES:
        parts = name.split(".")
        names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return frozenset(names)


__all__ = ["MODULES", "packages"]
