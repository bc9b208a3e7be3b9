"""DAG processor: parse DAG files in child processes and keep the store's view of them current."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.processor.parse import ParseLimits, ParseOutcome

if TYPE_CHECKING:
    from runtime.processor.processor import DagProcessor, ProcessorStats

__all__ = ["DagProcessor", "ProcessorStats", "ParseLimits", "ParseOutcome"]


def __getattr__(name: str) -> Any:
    """``DagProcessor`` and ``ProcessorStats`` on first use: the CLI's local parse needs no SQLAlchemy."""
    if name in ("DagProcessor", "ProcessorStats"):
        from runtime.processor import processor

        return getattr(processor, name)
    raise AttributeError(f"module 'runtime.processor' has no attribute {name!r}")
