"""The scheduler: due runs, ready task instances, the executor, and how tries ended."""

from runtime.scheduler.scheduler import LoopStats, Scheduler

__all__ = ["LoopStats", "Scheduler"]
