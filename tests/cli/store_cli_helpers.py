"""Shared by the store CLI tests: point ``windsock`` at the test store and run it in-process."""

from __future__ import annotations

import pytest

from runtime.cli.main import main


@pytest.fixture
def cli_env(store, monkeypatch: pytest.MonkeyPatch):
    """Point the CLI's Settings.load() at the test store (same home, so the same Fernet key file)."""
    monkeypatch.setenv("WINDSOCK_HOME", str(store.settings.home))
    monkeypatch.setenv("WINDSOCK__DATABASE__SQL_ALCHEMY_CONN", store.url)
    key = store.settings.get("core", "fernet_key")
    if key:  # PostgreSQL: the store's configured key (a shared database never generates one)
        monkeypatch.setenv("WINDSOCK__CORE__FERNET_KEY", key)
    return store


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of one in-process command."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
