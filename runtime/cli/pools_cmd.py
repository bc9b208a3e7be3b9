"""``windsock pools set|get|delete|list``."""

from __future__ import annotations

import argparse
from typing import Any

from runtime.cli import common
from runtime.cli.main import CommandTree
from runtime.cli.output import add_output_flag, render

COLUMNS = ["pool", "slots", "description", "occupied_slots"]


def register(tree: CommandTree) -> None:
    """Add the ``pools`` group."""
    group = tree.group("pools", "Manage pools.")
    put = group.add_parser("set", help="Create or update a pool.")
    put.add_argument("name")
    put.add_argument("slots", type=int, help="Number of slots; -1 for unlimited.")
    put.add_argument("description")
    put.set_defaults(func=_set)
    get = group.add_parser("get", help="Show one pool.")
    get.add_argument("name")
    add_output_flag(get)
    get.set_defaults(func=_get)
    delete = group.add_parser("delete", help="Delete a pool (not default_pool).")
    delete.add_argument("name")
    delete.set_defaults(func=_delete)
    listing = group.add_parser("list", help="List pools.")
    add_output_flag(listing)
    listing.set_defaults(func=_list)


def _settings() -> Any:
    from runtime.settings import Settings

    return Settings.load()


def _audit(session: Any, event: str, **extra: Any) -> None:
    from runtime.store.audit import log_event

    log_event(session, f"cli_pools_{event}", owner=common.audit_owner(), extra=extra)


def _row(pool: Any, occupied: dict[str, int]) -> dict[str, Any]:
    return {
        "pool": pool.pool,
        "slots": pool.slots,
        "description": pool.description,
        "occupied_slots": occupied.get(pool.pool, 0),
    }


def _set(args: argparse.Namespace) -> int:
    from runtime.store.pools import set_pool
    from runtime.store.session import store_session

    with store_session(_settings()) as session:
        set_pool(session, args.name, args.slots, args.description)
        _audit(session, "set", pool=args.name, slots=args.slots)
    print(f"Pool {args.name} set to {args.slots} slots")
    return 0


def _get(args: argparse.Namespace) -> int:
    from runtime.errors import UserError
    from runtime.store.pools import get_pool, occupied_slots
    from runtime.store.session import store_session

    with store_session(_settings()) as session:
        pool = get_pool(session, args.name)
        if pool is None:
            raise UserError(f"pool {args.name!r} does not exist")
        row = _row(pool, occupied_slots(session))
    render([row], COLUMNS, args.output)
    return 0


def _delete(args: argparse.Namespace) -> int:
    from runtime.errors import UserError
    from runtime.store.pools import delete_pool
    from runtime.store.session import store_session

    with store_session(_settings()) as session:
        if not delete_pool(session, args.name):
            raise UserError(f"pool {args.name!r} does not exist")
        _audit(session, "delete", pool=args.name)
    print(f"Pool {args.name} deleted")
    return 0


def _list(args: argparse.Namespace) -> int:
    from runtime.store.pools import list_pools, occupied_slots
    from runtime.store.session import store_session

    with store_session(_settings()) as session:
        occupied = occupied_slots(session)
        rows = [_row(pool, occupied) for pool in list_pools(session)]
    render(rows, COLUMNS, args.output)
    return 0
