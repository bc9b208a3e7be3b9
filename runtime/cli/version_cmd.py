"""``windsock version`` and ``windsock --version``: version, Python, database and executor.

Reads only the settings: no SQLAlchemy, no SDK, no connection to the database.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from runtime.cli import common


def register(tree: Any) -> None:
    """Add ``version``."""
    tree.command("version", help="Print the version, Python, database and executor", func=cmd_version)


def facts() -> dict[str, str]:
    """What ``version`` prints, in order."""
    settings = common.load_settings()
    return {
        "windsock": windsock_version(),
        "python": f"{sys.version.split()[0]} ({sys.executable})",
        "database": common.masked_url(str(settings.get("database", "sql_alchemy_conn"))),
        "executor": str(settings.get("core", "executor")),
    }


def windsock_version() -> str:
    """The installed distribution's version, else the package's own."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("windsock")
    except PackageNotFoundError:
        from runtime import __version__

        return __version__


def one_line() -> str:
    """``windsock X.Y.Z (Python ..., database ..., executor ...)`` for ``--version``."""
    f = facts()
    python = f["python"].split(" ", 1)[0]
    return f"windsock {f['windsock']} (Python {python}, database {f['database']}, executor {f['executor']})"


def cmd_version(args: argparse.Namespace) -> int:
    """Print one ``name  value`` line per fact."""
    for name, value in facts().items():
        print(f"{name:<9} {value}")
    return 0
