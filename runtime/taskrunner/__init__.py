"""Running one try of one task: render, execute, map the outcome. Shared by every executor."""

from runtime.taskrunner.outcome import Outcome, TryResult
from runtime.taskrunner.run import run_task

__all__ = ["Outcome", "TryResult", "run_task"]
