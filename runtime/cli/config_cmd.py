"""``windsock config list|get-value``: the resolved settings, as Airflow's ``config`` commands."""

from __future__ import annotations

import argparse
from typing import Any

from runtime.cli import common
from runtime.cli.output import add_output_flag, render
from runtime.errors import UserError

SECRET_KEYS = {("core", "fernet_key"), ("database", "sql_alchemy_conn")}


def register(tree: Any) -> None:
    """Add ``config list`` and ``config get-value``."""
    config = tree.group("config", help="Show settings")
    p = config.add_parser("list", help="Every setting with its resolved value (secrets masked)")
    add_output_flag(p)
    p.set_defaults(func=cmd_list)
    p = config.add_parser("get-value", help="The resolved value of one setting")
    p.add_argument("section")
    p.add_argument("key")
    p.set_defaults(func=cmd_get)


def _shown(section: str, key: str, value: Any) -> Any:
    if (section, key) in SECRET_KEYS and value:
        return common.masked_url(str(value)) if key == "sql_alchemy_conn" else "***"
    return value


def cmd_list(args: argparse.Namespace) -> int:
    from runtime.settings import SCHEMA

    settings = common.load_settings()
    rows = [
        {"section": s, "key": k, "value": _shown(s, k, settings.get(s, k)), "description": spec.help}
        for s, keys in SCHEMA.items() for k, spec in keys.items()
    ]
    render(rows, ["section", "key", "value", "description"], args.output)
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    from runtime.settings import SCHEMA

    if args.key not in SCHEMA.get(args.section, {}):
        raise UserError(f"unknown setting [{args.section}] {args.key}; see 'windsock config list'")
    print(common.load_settings().get(args.section, args.key))
    return 0
