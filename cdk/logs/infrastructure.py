"""CloudWatch log groups named as MWAA names them: ``{env}-Scheduler``, ``{env}-Worker``, ..."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

# log kind -> MWAA suffix. Scheduler/Worker/WebServer get the container's stdout; Task and
# DAGProcessing are written by the runtime itself (one stream per task try / per DAG file).
LOG_KINDS = {
    "scheduler": "Scheduler",
    "worker": "Worker",
    "webserver": "WebServer",
    "task": "Task",
    "dag_processing": "DAGProcessing",
}


# Retention periods CloudWatch Logs accepts, in days, by RetentionDays member.
RETENTION_DAYS = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def retention(days: int) -> logs.RetentionDays:
    """The CloudWatch retention of ``days`` (one of RETENTION_DAYS)."""
    return RETENTION_DAYS[days]


class LogGroups(Construct):
    """One log group per enabled kind (MWAA's log types switched on), same retention and key."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        env_name: str,
        retention: logs.RetentionDays,
        kinds: Iterable[str] = tuple(LOG_KINDS),
        key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.groups: dict[str, logs.LogGroup] = {
            kind: logs.LogGroup(
                self,
                LOG_KINDS[kind],
                log_group_name=f"{env_name}-{LOG_KINDS[kind]}",
                retention=retention,
                encryption_key=key,
                removal_policy=RemovalPolicy.DESTROY,
            )
            for kind in kinds
        }

    def __getitem__(self, kind: str) -> logs.LogGroup:
        """The log group of ``kind`` (scheduler, worker, webserver, task, dag_processing)."""
        return self.groups[kind]

    def get(self, kind: str) -> logs.LogGroup | None:
        """The log group of ``kind``, or None when that log type is switched off."""
        return self.groups.get(kind)
