"""Log levels from settings: the container's per-component level, task and DAG-processing levels."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.errors import ConfigError
from runtime.logsetup import TASK_LOGGER, configure, levels_for
from runtime.settings import Settings


def settings(tmp_path: Path, **env: str) -> Settings:
    """Settings from an explicit environment (no config file)."""
    return Settings.load({"WINDSOCK_HOME": str(tmp_path), **env})


@pytest.fixture
def clean_logging() -> Iterator[None]:
    """Restore the root handlers and the task logger level after a test configured them."""
    root = logging.getLogger()
    handlers, level, task_level = list(root.handlers), root.level, logging.getLogger(TASK_LOGGER).level
    root.handlers = []
    yield
    root.handlers, root.level = handlers, level
    logging.getLogger(TASK_LOGGER).setLevel(task_level)


def test_unset_levels_change_nothing(tmp_path: Path) -> None:
    """No [logging] level set (the CLI default): nothing is configured."""
    assert levels_for(settings(tmp_path), "dags") == ("", "")


def test_component_level_and_task_level(tmp_path: Path) -> None:
    """logging_level sets the root; task_log_level the airflow.task loggers; both upper-cased."""
    s = settings(
        tmp_path, WINDSOCK__LOGGING__LOGGING_LEVEL="warning", WINDSOCK__LOGGING__TASK_LOG_LEVEL="debug"
    )
    assert levels_for(s, "worker") == ("WARNING", "DEBUG")


def test_dag_processor_uses_its_own_level(tmp_path: Path) -> None:
    """The dag-processor command takes dag_processing_log_level over logging_level; others do not."""
    s = settings(
        tmp_path, WINDSOCK__LOGGING__LOGGING_LEVEL="INFO", WINDSOCK__LOGGING__DAG_PROCESSING_LOG_LEVEL="ERROR"
    )
    assert levels_for(s, "dag-processor") == ("ERROR", "ERROR")
    assert levels_for(s, "scheduler") == ("INFO", "INFO")


def test_airflow_name_of_the_level_is_honoured(tmp_path: Path) -> None:
    """AIRFLOW__LOGGING__LOGGING_LEVEL works as in Airflow."""
    assert levels_for(settings(tmp_path, AIRFLOW__LOGGING__LOGGING_LEVEL="error"), None)[0] == "ERROR"


def test_a_bad_level_names_the_setting(tmp_path: Path) -> None:
    """An unknown level is a ConfigError naming the key."""
    with pytest.raises(ConfigError, match=r"\[logging\] task_log_level: 'LOUD'"):
        levels_for(settings(tmp_path, WINDSOCK__LOGGING__TASK_LOG_LEVEL="loud"), "worker")


def test_configure_installs_the_levels(tmp_path: Path, clean_logging: None) -> None:
    """configure() sets the root level with a handler and the task logger level."""
    s = settings(
        tmp_path, WINDSOCK__LOGGING__LOGGING_LEVEL="WARNING", WINDSOCK__LOGGING__TASK_LOG_LEVEL="DEBUG"
    )
    configure(s, "worker")
    assert logging.getLogger().level == logging.WARNING and logging.getLogger().handlers
    assert logging.getLogger(TASK_LOGGER).level == logging.DEBUG
