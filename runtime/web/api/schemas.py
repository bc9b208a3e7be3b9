"""Request and response bodies of ``/api/v2``, named and shaped as in Airflow 3's OpenAPI document."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from runtime.store.states import DagRunState, DagRunType, TaskInstanceState

# Bodies refuse unknown fields (a typo is a 422 naming it, not silently ignored).
Strict = ConfigDict(extra="forbid")


class DagTagResponse(BaseModel):
    """One tag of a DAG."""

    name: str
    dag_id: str
    dag_display_name: str


class DAGResponse(BaseModel):
    """A DAG as listed."""

    dag_id: str
    dag_display_name: str
    is_paused: bool
    is_stale: bool
    last_parsed_time: dt.datetime | None = None
    last_parse_duration: float | None = None
    last_expired: dt.datetime | None = None
    bundle_name: str | None = None
    bundle_version: str | None = None
    relative_fileloc: str | None = None
    fileloc: str
    description: str | None = None
    timetable_summary: str | None = None
    timetable_description: str | None = None
    timetable_periodic: bool
    timetable_partitioned: bool
    tags: list[DagTagResponse]
    max_active_tasks: int
    max_active_runs: int | None = None
    max_consecutive_failed_dag_runs: int
    has_task_concurrency_limits: bool
    has_import_errors: bool
    is_backfillable: bool
    next_dagrun_logical_date: dt.datetime | None = None
    next_dagrun_data_interval_start: dt.datetime | None = None
    next_dagrun_data_interval_end: dt.datetime | None = None
    next_dagrun_run_after: dt.datetime | None = None
    allowed_run_types: list[str] | None = None
    owners: list[str]
    file_token: str


class DAGCollectionResponse(BaseModel):
    """A page of DAGs."""

    dags: list[DAGResponse]
    total_entries: int


class DAGPatchBody(BaseModel):
    """The only writable field of a DAG."""

    model_config = Strict
    is_paused: bool


class DagVersionResponse(BaseModel):
    """A version of a DAG (Windsock keeps one: the current serialization)."""

    id: UUID
    version_number: int
    dag_id: str
    bundle_name: str | None = None
    bundle_version: str | None = None
    created_at: dt.datetime
    dag_display_name: str
    bundle_url: str | None = None


RunState = DagRunState


class DAGRunResponse(BaseModel):
    """A DAG run."""

    dag_run_id: str
    dag_id: str
    logical_date: dt.datetime | None = None
    queued_at: dt.datetime | None = None
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None
    duration: float | None = None
    data_interval_start: dt.datetime | None = None
    data_interval_end: dt.datetime | None = None
    run_after: dt.datetime
    last_scheduling_decision: dt.datetime | None = None
    run_type: DagRunType
    state: RunState
    triggered_by: str | None = None
    triggering_user_name: str | None = None
    conf: dict[str, Any] | None = None
    note: str | None = None
    dag_versions: list[DagVersionResponse]
    bundle_version: str | None = None
    dag_display_name: str


class DAGRunCollectionResponse(BaseModel):
    """A page of DAG runs."""

    dag_runs: list[DAGRunResponse]
    total_entries: int


class TriggerDAGRunPostBody(BaseModel):
    """What a trigger may set."""

    model_config = Strict
    dag_run_id: str | None = Field(default=None, max_length=250)
    data_interval_start: dt.datetime | None = None
    data_interval_end: dt.datetime | None = None
    logical_date: dt.datetime | None = None
    run_after: dt.datetime | None = None
    conf: dict[str, Any] | None = None
    note: str | None = Field(default=None, max_length=1000)


class DAGRunPatchBody(BaseModel):
    """A run's new state (and note)."""

    model_config = Strict
    state: Literal[DagRunState.QUEUED, DagRunState.SUCCESS, DagRunState.FAILED] | None = None
    note: str | None = Field(default=None, max_length=1000)


TIState = TaskInstanceState


class TaskInstanceResponse(BaseModel):
    """A task instance."""

    id: UUID
    task_id: str
    dag_id: str
    dag_run_id: str
    map_index: int
    logical_date: dt.datetime | None = None
    run_after: dt.datetime
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None
    duration: float | None = None
    state: TIState | None = None
    try_number: int
    max_tries: int
    task_display_name: str
    dag_display_name: str
    hostname: str | None = None
    unixname: str | None = None
    pool: str
    pool_slots: int
    queue: str | None = None
    priority_weight: int | None = None
    operator: str | None = None
    operator_name: str | None = None
    queued_when: dt.datetime | None = None
    scheduled_when: dt.datetime | None = None
    pid: int | None = None
    executor: str | None = None
    executor_config: str
    note: str | None = None
    rendered_map_index: str | None = None
    rendered_fields: dict[str, Any] | None = None
    trigger: None = None
    triggerer_job: None = None
    dag_version: DagVersionResponse | None = None


class TaskInstanceCollectionResponse(BaseModel):
    """A page of task instances."""

    task_instances: list[TaskInstanceResponse]
    total_entries: int


class StructuredLogMessage(BaseModel):
    """One log line."""

    model_config = ConfigDict(extra="allow")
    timestamp: dt.datetime | None = None
    event: str


class TaskInstancesLogResponse(BaseModel):
    """A try's log."""

    content: list[StructuredLogMessage]
    continuation_token: str | None = None


class ClearTaskInstancesBody(BaseModel):
    """Which task instances to clear (dry_run lists them only)."""

    model_config = Strict
    dry_run: bool = True
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None
    only_failed: bool = True
    only_running: bool = False
    reset_dag_runs: bool = True
    task_ids: list[str] | None = Field(default=None, max_length=10_000)
    dag_run_id: str | None = None
    include_upstream: bool = False
    include_downstream: bool = False
    include_future: bool = False
    include_past: bool = False
    note: str | None = Field(default=None, max_length=1000)


class XComResponse(BaseModel):
    """An XCom entry without its value."""

    key: str
    timestamp: dt.datetime
    logical_date: dt.datetime | None = None
    map_index: int
    task_id: str
    dag_id: str
    run_id: str
    dag_display_name: str
    task_display_name: str
    run_after: dt.datetime


class XComResponseNative(XComResponse):
    """An XCom entry with its value."""

    value: Any = None


class XComCollectionResponse(BaseModel):
    """A page of XCom entries."""

    xcom_entries: list[XComResponse]
    total_entries: int


class VariableBody(BaseModel):
    """A variable to create or replace."""

    model_config = Strict
    key: str = Field(min_length=1, max_length=250)
    value: Any
    description: str | None = None


class VariableResponse(BaseModel):
    """A variable."""

    key: str
    value: str | None = None
    description: str | None = None
    is_encrypted: bool


class VariableCollectionResponse(BaseModel):
    """A page of variables."""

    variables: list[VariableResponse]
    total_entries: int


class ConnectionBody(BaseModel):
    """A connection to create or replace."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    connection_id: str = Field(min_length=1, max_length=200, pattern=r"^[\w.-]+$")
    conn_type: str = Field(min_length=1, max_length=500)
    description: str | None = None
    host: str | None = Field(default=None, max_length=500)
    login: str | None = None
    schema_: str | None = Field(default=None, alias="schema", max_length=500)
    port: int | None = Field(default=None, ge=0, le=65535)
    password: str | None = None
    extra: str | None = None


class ConnectionResponse(BaseModel):
    """A connection; the password is never sent (always null)."""

    model_config = ConfigDict(populate_by_name=True)
    connection_id: str
    conn_type: str
    description: str | None = None
    host: str | None = None
    login: str | None = None
    schema_: str | None = Field(default=None, serialization_alias="schema")
    port: int | None = None
    password: None = None
    extra: str | None = None


class ConnectionCollectionResponse(BaseModel):
    """A page of connections."""

    connections: list[ConnectionResponse]
    total_entries: int


class PoolBody(BaseModel):
    """A pool to create."""

    model_config = Strict
    name: str = Field(min_length=1, max_length=256)
    slots: int = Field(ge=-1, le=2**31 - 1)
    description: str | None = None
    include_deferred: bool = False


class PoolPatchBody(BaseModel):
    """Fields of a pool to change."""

    model_config = Strict
    pool: str | None = Field(default=None, max_length=256)
    slots: int | None = Field(default=None, ge=-1, le=2**31 - 1)
    description: str | None = None
    include_deferred: bool | None = None


class PoolResponse(BaseModel):
    """A pool and its slot usage."""

    name: str
    slots: int
    description: str | None = None
    include_deferred: bool
    occupied_slots: int
    running_slots: int
    queued_slots: int
    scheduled_slots: int
    open_slots: int
    deferred_slots: int


class PoolCollectionResponse(BaseModel):
    """A page of pools."""

    pools: list[PoolResponse]
    total_entries: int


class ImportErrorResponse(BaseModel):
    """A DAG file that failed to load."""

    import_error_id: int
    timestamp: dt.datetime
    filename: str
    bundle_name: str | None = None
    stack_trace: str


class ImportErrorCollectionResponse(BaseModel):
    """A page of import errors."""

    import_errors: list[ImportErrorResponse]
    total_entries: int


class BaseInfoResponse(BaseModel):
    """A component's status."""

    status: str | None = None


class SchedulerInfoResponse(BaseInfoResponse):
    """The scheduler's status and last heartbeat."""

    latest_scheduler_heartbeat: str | None = None


class TriggererInfoResponse(BaseInfoResponse):
    """The triggerer (Windsock has none: status null)."""

    latest_triggerer_heartbeat: str | None = None


class DagProcessorInfoResponse(BaseInfoResponse):
    """The DAG processor's status and last activity."""

    latest_dag_processor_heartbeat: str | None = None


class HealthInfoResponse(BaseModel):
    """Health of the metadata database and the daemons."""

    metadatabase: BaseInfoResponse
    scheduler: SchedulerInfoResponse
    triggerer: TriggererInfoResponse
    dag_processor: DagProcessorInfoResponse | None = None


class VersionInfo(BaseModel):
    """The server's version."""

    version: str
    git_version: str | None = None
