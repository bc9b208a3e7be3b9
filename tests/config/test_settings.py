"""Settings resolve defaults < config file < environment, and every key is documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.errors import ConfigError
from runtime.settings import SCHEMA, Settings

DOC = Path(__file__).parent.parent.parent / "docs" / "configuration.md"


def test_precedence(tmp_path: Path) -> None:
    """Environment beats the config file, which beats the default; WINDSOCK beats AIRFLOW names."""
    (tmp_path / "windsock.cfg").write_text("[core]\nparallelism = 7\nmax_active_runs_per_dag = 3\n")
    env = {"WINDSOCK_HOME": str(tmp_path), "AIRFLOW__CORE__PARALLELISM": "9", "AIRFLOW__CORE__DAGS_FOLDER": "/a",
           "WINDSOCK__CORE__DAGS_FOLDER": "/b"}
    settings = Settings.load(env)
    assert settings.get("core", "parallelism") == 9
    assert settings.get("core", "max_active_runs_per_dag") == 3
    assert settings.get("core", "max_active_tasks_per_dag") == 16
    assert settings.get("core", "dags_folder") == "/b"
    assert settings.get("database", "sql_alchemy_conn") == f"sqlite:///{tmp_path}/windsock.db"


def test_bad_value_names_the_key(tmp_path: Path) -> None:
    settings = Settings.load({"WINDSOCK_HOME": str(tmp_path), "WINDSOCK__CORE__PARALLELISM": "many"})
    with pytest.raises(ConfigError, match=r"\[core\] parallelism"):
        settings.get("core", "parallelism")


def test_every_key_is_documented() -> None:
    """docs/configuration.md lists every key of runtime/settings.py."""
    text = DOC.read_text()
    missing = [f"[{s}] {k}" for s, keys in SCHEMA.items() for k in keys if f"| {s} | `{k}` |" not in text]
    assert not missing, f"undocumented settings (regenerate with python scripts/gen_config_doc.py): {missing}"
