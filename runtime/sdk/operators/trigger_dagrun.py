"""TriggerDagRunOperator: start a run of another DAG, optionally waiting for it to finish."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from runtime.sdk import timezone
from runtime.sdk.baseoperator import BaseOperator
from runtime.sdk.exceptions import AirflowException, AirflowSkipException, DagRunAlreadyExists
from runtime.store.states import DagRunState

XCOM_RUN_ID = "trigger_run_id"
XCOM_LOGICAL_DATE_ISO = "trigger_logical_date_iso"
XCOM_EXECUTION_DATE_ISO = "trigger_execution_date_iso"


def _as_date(value: str | datetime | None) -> datetime:
    """The triggered run's logical date: given, parsed from a string, or now (Airflow 2)."""
    if isinstance(value, datetime):
        return timezone.to_utc(value)
    if isinstance(value, str) and value.strip():
        return timezone.to_utc(timezone.parse(value))
    return timezone.utcnow()


class TriggerDagRunOperator(BaseOperator):
    """Triggers a run of ``trigger_dag_id``; pushes ``trigger_run_id`` (and the logical date) as XCom."""

    template_fields = ("trigger_dag_id", "trigger_run_id", "logical_date", "conf")
    template_fields_renderers = {"conf": "py"}
    ui_color = "#ffefeb"

    def __init__(
        self,
        *,
        trigger_dag_id: str,
        trigger_run_id: str | None = None,
        conf: dict[str, Any] | None = None,
        logical_date: str | datetime | None = None,
        execution_date: str | datetime | None = None,
        reset_dag_run: bool = False,
        wait_for_completion: bool = False,
        poke_interval: float | timedelta = 60,
        allowed_states: Iterable[str] | None = None,
        failed_states: Iterable[str] | None = None,
        skip_when_already_exists: bool = False,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.trigger_dag_id = trigger_dag_id
        self.trigger_run_id = trigger_run_id
        self.conf = conf
        self.logical_date = logical_date if logical_date is not None else execution_date
        self.reset_dag_run = reset_dag_run
        self.wait_for_completion = wait_for_completion
        self.poke_interval = poke_interval.total_seconds() if isinstance(poke_interval, timedelta) else float(poke_interval)
        self.allowed_states = [str(s) for s in (allowed_states or [DagRunState.SUCCESS])]
        self.failed_states = [str(s) for s in (failed_states if failed_states is not None else [DagRunState.FAILED])]
        self.skip_when_already_exists = skip_when_already_exists
        self.deferrable = deferrable
        try:
            json.dumps(self.conf)
        except TypeError as exc:
            raise AirflowException(f"task {self.task_id!r}: conf parameter should be JSON Serializable ({exc})") from None

    @property
    def execution_date(self) -> str | datetime | None:
        """Airflow 2's older name of ``logical_date``."""
        return self.logical_date

    def execute(self, context: Any) -> None:
        ti = context["ti"]
        logical = _as_date(self.logical_date)
        run_id = self.trigger_run_id or f"manual__{logical.isoformat()}"
        run_id = self._trigger(ti.services, run_id, logical)
        ti.xcom_push(key=XCOM_LOGICAL_DATE_ISO, value=logical.isoformat())
        ti.xcom_push(key=XCOM_EXECUTION_DATE_ISO, value=logical.isoformat())
        ti.xcom_push(key=XCOM_RUN_ID, value=run_id)
        if self.wait_for_completion and self.deferrable:
            from runtime.sdk.triggers.external_task import DagStateTrigger

            self.defer(trigger=DagStateTrigger(self.trigger_dag_id, [*self.allowed_states, *self.failed_states],
                                               run_ids=[run_id], poll_interval=self.poke_interval),
                       method_name="execute_complete", kwargs={"run_id": run_id})
        if self.wait_for_completion:
            self._wait(ti.services, run_id)

    def execute_complete(self, context: Any, event: Any = None, run_id: str = "") -> None:
        """The triggered run reached an allowed or a failed state (in the triggerer)."""
        state = context["ti"].services.dag_run_state(self.trigger_dag_id, run_id)
        if state in self.failed_states:
            raise AirflowException(f"{self.trigger_dag_id} failed with failed state {state}")
        print(f"{self.trigger_dag_id} finished with allowed state {state}")

    def _trigger(self, services: Any, run_id: str, logical: datetime) -> str:
        print(f"Triggering DAG {self.trigger_dag_id!r} run_id={run_id} logical_date={logical.isoformat()}")
        try:
            return services.trigger_dag(self.trigger_dag_id, run_id, dict(self.conf or {}), logical, self.reset_dag_run)
        except DagRunAlreadyExists:
            if self.skip_when_already_exists:
                raise AirflowSkipException(
                    f"DAG run {run_id} of {self.trigger_dag_id} already exists; skipping (skip_when_already_exists)"
                ) from None
            raise

    def _wait(self, services: Any, run_id: str) -> None:
        """Poll the triggered run until it is in an allowed or a failed state."""
        while True:
            state = services.dag_run_state(self.trigger_dag_id, run_id)
            print(f"Waiting for {self.trigger_dag_id} on {run_id} to become allowed state {self.allowed_states} ...")
            if state in self.failed_states:
                raise AirflowException(f"{self.trigger_dag_id} failed with failed states {state}")
            if state in self.allowed_states:
                print(f"{self.trigger_dag_id} finished with allowed state {state}")
                return
            time.sleep(self.poke_interval)


__all__ = ["TriggerDagRunOperator", "XCOM_RUN_ID", "XCOM_LOGICAL_DATE_ISO"]
