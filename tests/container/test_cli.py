"""`windsock container ROLE` through the real CLI parser."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import pytest

from runtime.cli import main as cli_main
from runtime.container import cli as container_cli
from runtime.errors import ConfigError, WindsockError


@pytest.fixture
def only_container_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CLI whose only command is `container`: no component command is registered."""
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ["runtime.container.cli"])


def test_role_without_component_fails_at_start_with_one_line(
    only_container_command: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """`windsock container worker` before `windsock worker` exists: exit 1, one clear line, nothing started."""
    code = cli_main.main(["container", "worker"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert "container role 'worker'" in err and "'windsock worker'" in err


def test_unknown_role_is_a_usage_error(
    only_container_command: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only scheduler, worker and webserver are roles."""
    with pytest.raises(SystemExit) as exc:
        cli_main.main(["container", "flower"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_component_command_line_runs_the_windsock_cli_module() -> None:
    """A registered component runs as `python -m runtime.cli.main <command>` in the child."""
    argv = container_cli.component_argv("scheduler", {"scheduler", "container"})
    assert argv[1:] == ["-m", "runtime.cli.main", "scheduler"]


def test_worker_runs_with_the_stacks_concurrency() -> None:
    """WINDSOCK_WORKER_CONCURRENCY (from worker_concurrency) becomes `windsock worker -c N`."""
    argv = container_cli.component_argv("worker", {"worker"}, {"WINDSOCK_WORKER_CONCURRENCY": "7"})
    assert argv[3:] == ["worker", "-c", "7"]
    assert container_cli.component_argv("worker", {"worker"}, {})[3:] == ["worker"]


def test_bad_worker_concurrency_is_a_config_error() -> None:
    """A concurrency that is not a whole number >= 1 is refused with the variable's name."""
    with pytest.raises(ConfigError, match="WINDSOCK_WORKER_CONCURRENCY='0'"):
        container_cli.component_argv("worker", {"worker"}, {"WINDSOCK_WORKER_CONCURRENCY": "0"})


def test_check_reports_each_finding_and_readiness(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`windsock container scheduler --check`: one line per check, ready, exit 0 (scheduler exists here)."""
    monkeypatch.setenv("WINDSOCK_HOME", str(tmp_path))
    code = cli_main.main(["container", "scheduler", "--check"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ok   command 'windsock scheduler'" in out and "ok   import runtime.scheduler" in out
    assert out.rstrip().endswith("container scheduler: ready")


def test_check_fails_when_home_is_not_writable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A WINDSOCK_HOME that cannot be written (here: below a plain file) fails the check, exit 1."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = container_cli.self_check(
        "scheduler", {"scheduler", "db"}, {"WINDSOCK_HOME": str(blocker / "home")}
    )
    out = capsys.readouterr().out
    assert code == 1
    assert f"FAIL WINDSOCK_HOME {blocker / 'home'} writable" in out and "1 check(s) failed" in out


def test_check_and_health_are_exclusive(
    only_container_command: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """--check and --health together are a usage error."""
    with pytest.raises(SystemExit) as exc:
        cli_main.main(["container", "worker", "--check", "--health"])
    assert exc.value.code == 2


def test_dag_sync_entry_follows_the_contract() -> None:
    """dag_sync.entry provides prepare_container and start_background_sync (imported lazily)."""
    try:
        entry = container_cli.dag_sync_entry()
    except WindsockError as exc:
        pytest.skip(f"dag_sync.entry not built yet: {exc}")
    assert callable(entry.prepare_container) and callable(entry.start_background_sync)


def test_missing_dag_sync_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """An image without dag_sync.entry fails with a message naming it (None in sys.modules blocks the import)."""
    monkeypatch.setitem(sys.modules, "dag_sync.entry", None)
    with pytest.raises(container_cli.DagSyncUnavailable, match="dag_sync.entry is not importable"):
        container_cli.dag_sync_entry()


def test_init_database_creates_the_schema_before_the_component(tmp_path: Path) -> None:
    """`windsock db init` runs as a child with the component's environment and creates the tables."""
    db_file = tmp_path / "meta.db"
    env = {
        **os.environ,
        "WINDSOCK_HOME": str(tmp_path),
        "WINDSOCK__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db_file}",
    }
    commands = tuple(cli_main.build_parser()._subparsers._group_actions[0].choices)
    assert container_cli.init_database(env, commands) == 0
    with sqlite3.connect(db_file) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "alembic_version" in tables and len(tables) > 3


def test_init_database_is_skipped_when_the_image_has_no_db_command(tmp_path: Path) -> None:
    """Without a `db` command there is nothing to run; the start goes on (exit 0)."""
    assert container_cli.init_database({"WINDSOCK_HOME": str(tmp_path)}, ("container",)) == 0
