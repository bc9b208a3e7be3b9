"""Worker autoscaling on queued + running tasks (SQS visible + in-flight), down to zero when idle."""

from __future__ import annotations

import math

from aws_cdk import Duration
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

MAX_STEPS = 19  # plus the 1-worker step: Application Auto Scaling allows 20 per policy


def backlog_metric(queue: sqs.IQueue) -> cloudwatch.MathExpression:
    """Tries waiting (visible) plus tries running (in flight) on the task queue, per minute."""
    return cloudwatch.MathExpression(
        expression="visible + inflight",
        using_metrics={
            "visible": queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum"
            ),
            "inflight": queue.metric_approximate_number_of_messages_not_visible(
                period=Duration.minutes(1), statistic="Maximum"
            ),
        },
        label="Queued + running task tries",
        period=Duration.minutes(1),
    )


def capacity_steps(*, max_workers: int, concurrency: int) -> list[tuple[int, int]]:
    """(backlog lower bound, workers) pairs: enough workers for the backlog, at most MAX_STEPS steps."""
    counts = sorted({1} | {math.ceil(max_workers * i / MAX_STEPS) for i in range(1, MAX_STEPS + 1)})
    lowers = [previous * concurrency + 1 for previous in [0, *counts[:-1]]]
    return list(zip(lowers, counts, strict=True))


class WorkerScaling(Construct):
    """Scale out within a minute of queued work; scale to ``min_workers`` after ``idle_minutes`` idle."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        service: ecs.FargateService,
        queue: sqs.IQueue,
        min_workers: int,
        max_workers: int,
        concurrency: int,
        idle_minutes: int,
    ) -> None:
        super().__init__(scope, id)
        self.target = service.auto_scale_task_count(min_capacity=min_workers, max_capacity=max_workers)
        metric = backlog_metric(queue)
        self.scale_out = self._scale_out(metric, max_workers=max_workers, concurrency=concurrency)
        self.scale_in = self._scale_in(metric, min_workers=min_workers, idle_minutes=idle_minutes)

    def _scale_out(
        self, metric: cloudwatch.IMetric, *, max_workers: int, concurrency: int
    ) -> cloudwatch.Alarm:
        """Backlog >= 1: set the exact worker count the backlog needs (protected tasks are never stopped)."""
        action = appscaling.StepScalingAction(
            self,
            "ScaleOutAction",
            scaling_target=self.target,
            adjustment_type=appscaling.AdjustmentType.EXACT_CAPACITY,
            cooldown=Duration.seconds(60),
            metric_aggregation_type=appscaling.MetricAggregationType.MAXIMUM,
        )
        steps = capacity_steps(max_workers=max_workers, concurrency=concurrency)
        for index, (lower, workers) in enumerate(steps):
            upper = steps[index + 1][0] - 1 if index + 1 < len(steps) else None
            # Bounds are relative to the alarm threshold (1).
            action.add_adjustment(adjustment=workers, lower_bound=lower - 1, upper_bound=upper)
        return self._alarm(
            "BacklogAlarm",
            metric,
            action,
            threshold=1,
            periods=1,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            missing=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def _scale_in(
        self, metric: cloudwatch.IMetric, *, min_workers: int, idle_minutes: int
    ) -> cloudwatch.Alarm:
        """Nothing queued or running for ``idle_minutes`` minutes: go to ``min_workers`` (0 by default)."""
        action = appscaling.StepScalingAction(
            self,
            "ScaleInAction",
            scaling_target=self.target,
            adjustment_type=appscaling.AdjustmentType.EXACT_CAPACITY,
            cooldown=Duration.seconds(60),
            metric_aggregation_type=appscaling.MetricAggregationType.MAXIMUM,
        )
        action.add_adjustment(adjustment=min_workers, upper_bound=0)
        return self._alarm(
            "IdleAlarm",
            metric,
            action,
            threshold=0,
            periods=idle_minutes,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
            missing=cloudwatch.TreatMissingData.BREACHING,  # SQS stops publishing for idle queues
        )

    def _alarm(
        self,
        id: str,
        metric: cloudwatch.IMetric,
        action: appscaling.StepScalingAction,
        *,
        threshold: float,
        periods: int,
        comparison: cloudwatch.ComparisonOperator,
        missing: cloudwatch.TreatMissingData,
    ) -> cloudwatch.Alarm:
        """A CloudWatch alarm on the backlog that triggers ``action``."""
        alarm = cloudwatch.Alarm(
            self,
            id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=periods,
            comparison_operator=comparison,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(cw_actions.ApplicationScalingAction(action))
        return alarm
