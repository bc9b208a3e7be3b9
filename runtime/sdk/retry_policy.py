"""Retry policies (Airflow 3.3): look at the exception of a failed try and decide retry, fail or default.

A policy runs in the task's process, after the try failed and before retries are counted; it
can end the task early or change the delay of the next try, never add tries.
"""

from __future__ import annotations

import abc
import importlib
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any


class RetryAction(Enum):
    """What to do after a failure."""

    RETRY = "retry"  # retry (within the task's retries), maybe with another delay
    FAIL = "fail"  # fail now, whatever retries are left
    DEFAULT = "default"  # the task's usual retry rule


@dataclass(frozen=True)
class RetryDecision:
    """A policy's verdict on one failure."""

    action: RetryAction = RetryAction.DEFAULT
    retry_delay: timedelta | None = None
    reason: str | None = None

    @classmethod
    def fail(cls, reason: str | None = None) -> RetryDecision:
        return cls(RetryAction.FAIL, None, reason)

    @classmethod
    def retry(cls, delay: timedelta | None = None, reason: str | None = None) -> RetryDecision:
        return cls(RetryAction.RETRY, delay, reason)

    @classmethod
    def default(cls) -> RetryDecision:
        return cls()


class RetryPolicy(abc.ABC):
    """Base of retry policies: ``evaluate`` sees the exception in the task's process."""

    @abc.abstractmethod
    def evaluate(self, exception: BaseException, try_number: int, max_tries: int, context: Any = None) -> RetryDecision:
        """The decision for this failure."""


def _import(path: str) -> type[BaseException] | None:
    module, _, name = path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


@dataclass
class RetryRule:
    """One exception (class, dotted path, or a list of them) mapped to an action."""

    exception: Any
    action: RetryAction = RetryAction.RETRY
    retry_delay: timedelta | None = None
    reason: str | None = None
    match_subclasses: bool = True
    _classes: list[type[BaseException]] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for spec in self._specs:
            if isinstance(spec, str) and (not spec or "." not in spec):
                raise ValueError(f"RetryRule exception string must be a dotted import path (e.g. 'builtins.ValueError'), got {spec!r}")

    @property
    def _specs(self) -> list[Any]:
        return list(self.exception) if isinstance(self.exception, list) else [self.exception]

    def matches(self, exc: BaseException) -> bool:
        """Whether ``exc`` is (or, with match_subclasses, derives from) one of the rule's exceptions."""
        if self._classes is None:
            found = [s if isinstance(s, type) else _import(s) for s in self._specs]
            self._classes = [c for c in found if c is not None]
        if self.match_subclasses:
            return isinstance(exc, tuple(self._classes))
        return type(exc) in self._classes


class ExceptionRetryPolicy(RetryPolicy):
    """Rules tried in order; the first that matches decides, else ``default``."""

    def __init__(self, rules: list[RetryRule], default: RetryAction = RetryAction.DEFAULT) -> None:
        self.rules = list(rules)
        self.default = default

    def evaluate(self, exception: BaseException, try_number: int, max_tries: int, context: Any = None) -> RetryDecision:
        for rule in self.rules:
            if rule.matches(exception):
                return RetryDecision(rule.action, rule.retry_delay, rule.reason)
        return RetryDecision(self.default)


def decide(policy: Any, exception: BaseException, try_number: int, max_tries: int, context: Any) -> RetryDecision:
    """The policy's decision; a policy that raises falls back to the default rule (and says why)."""
    if policy is None:
        return RetryDecision()
    try:
        decision = policy.evaluate(exception, try_number, max_tries, context)
    except Exception as exc:  # noqa: BLE001 - a broken policy must not hide the task's own failure
        print(f"Retry policy failed, using the task's retry settings: {exc!r}")
        return RetryDecision()
    return decision if isinstance(decision, RetryDecision) else RetryDecision()


__all__ = ["RetryAction", "RetryDecision", "RetryPolicy", "RetryRule", "ExceptionRetryPolicy", "decide"]
