"""``windsock assets list|events``: the assets DAGs produce and wait for, and their recorded events."""

from __future__ import annotations

import argparse
import json
from typing import Any

from runtime.cli.main import CommandTree
from runtime.cli.output import add_output_flag, render

LIST_COLUMNS = ["uri", "name", "producers", "consumers", "events", "last_event"]
EVENT_COLUMNS = ["id", "uri", "timestamp", "source_dag_id", "source_task_id", "source_run_id", "source_alias_name", "extra"]


def register(tree: CommandTree) -> None:
    """Add the ``assets`` group."""
    group = tree.group("assets", "Assets (datasets): what produces and consumes them, and their events.")
    listing = group.add_parser("list", help="List the assets named by DAGs or events.")
    add_output_flag(listing)
    listing.set_defaults(func=_list)
    events = group.add_parser("events", help="List the events of one asset (or of all), newest last.")
    events.add_argument("uri", nargs="?", help="The asset's URI; all assets when omitted.")
    events.add_argument("--alias", help="Only events recorded through this asset alias.")
    events.add_argument("-n", "--limit", type=int, default=50, help="Show at most this many (the newest); default 50.")
    add_output_flag(events)
    events.set_defaults(func=_events)


def _settings() -> Any:
    from runtime.settings import Settings

    return Settings.load()


def _list(args: argparse.Namespace) -> int:
    from runtime.store.assets import list_assets
    from runtime.store.session import store_session

    with store_session(_settings()) as session:
        rows = [{"uri": a.uri, "name": a.name, "producers": ", ".join(sorted(a.producers)),
                 "consumers": ", ".join(sorted(a.consumers)), "events": a.events, "last_event": a.last_event}
                for a in list_assets(session)]
    render(rows, LIST_COLUMNS, args.output)
    return 0


def _events(args: argparse.Namespace) -> int:
    from runtime.errors import UserError
    from runtime.store.assets import events_for
    from runtime.store.session import store_session

    if args.limit < 1:
        raise UserError(f"--limit must be at least 1, got {args.limit}")
    with store_session(_settings()) as session:
        rows = events_for(session, uri=args.uri, alias=args.alias, limit=args.limit)
    render([{**r, "extra": json.dumps(r["extra"], sort_keys=True)} for r in rows], EVENT_COLUMNS, args.output)
    return 0
