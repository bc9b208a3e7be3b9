"""``windsock db init|upgrade|reset|check``: the metadata database (Airflow's initdb/resetdb)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from runtime.cli.main import CommandTree


def register(tree: CommandTree) -> None:
    """Add the ``db`` group."""
    group = tree.group("db", "Create, upgrade, reset or check the metadata database.")
    group.add_parser("init", help="Create the tables (or upgrade them) and default_pool.").set_defaults(
        func=_init
    )
    group.add_parser("upgrade", help="Apply pending schema migrations.").set_defaults(func=_upgrade)
    reset = group.add_parser("reset", help="Drop every table and create them again (all data is lost).")
    reset.add_argument("-y", "--yes", action="store_true", help="Do not ask for confirmation.")
    reset.set_defaults(func=_reset)
    group.add_parser("check", help="Connect and report the schema revision.").set_defaults(func=_check)


def _engine() -> Any:
    from runtime.settings import Settings
    from runtime.store.session import open_store

    return open_store(Settings.load())[0]


def _url(engine: Any) -> str:
    return str(engine.url.render_as_string(hide_password=True))


def _guarded(action: Any, engine: Any) -> None:
    """Run ``action(engine)``; database errors become one line."""
    import sqlalchemy as sa

    from runtime.errors import WindsockError
    from runtime.store.session import describe_db_error

    try:
        action(engine)
    except sa.exc.DBAPIError as exc:
        raise WindsockError(describe_db_error(engine, exc)) from None


def _init(args: argparse.Namespace) -> int:
    from runtime.store import db

    engine = _engine()
    _guarded(db.init, engine)
    print(f"Initialised metadata database {_url(engine)} at revision {db.head_revision()}")
    return 0


def _upgrade(args: argparse.Namespace) -> int:
    from runtime.store import db

    engine = _engine()
    _guarded(db.upgrade, engine)
    print(f"Upgraded metadata database {_url(engine)} to revision {db.head_revision()}")
    return 0


def _reset(args: argparse.Namespace) -> int:
    from runtime.errors import UserError
    from runtime.store import db

    engine = _engine()
    if not args.yes and not _confirm(f"This drops every table of {_url(engine)}. Proceed? (y/n) "):
        raise UserError("reset cancelled (pass -y to skip the question)")
    _guarded(db.reset, engine)
    print(f"Reset metadata database {_url(engine)} at revision {db.head_revision()}")
    return 0


def _confirm(question: str) -> bool:
    sys.stderr.write(question)
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def _check(args: argparse.Namespace) -> int:
    from runtime.store import db

    engine = _engine()
    revision = db.check(engine)
    print(f"Connection to {_url(engine)} OK; schema at revision {revision} (head)")
    return 0
