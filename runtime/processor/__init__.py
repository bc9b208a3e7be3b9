"""DAG processor: parse DAG files in child processes and keep the store's view of them current."""

from runtime.processor.parse import ParseLimits, ParseOutcome
from runtime.processor.processor import DagProcessor, ProcessorStats

__all__ = ["DagProcessor", "ProcessorStats", "ParseLimits", "ParseOutcome"]
