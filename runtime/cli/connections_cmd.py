"""``windsock connections add|get|delete|list`` (Airflow's flags); passwords are never printed."""

from __future__ import annotations

import argparse
import json
from typing import Any

from runtime.cli import common
from runtime.cli.main import CommandTree
from runtime.cli.output import add_output_flag, render

MASK = "***"
UNREADABLE = "<cannot decrypt>"
COLUMNS = [
    "conn_id",
    "conn_type",
    "description",
    "host",
    "schema",
    "login",
    "password",
    "port",
    "extra",
    "uri",
]
_FIELDS = ("type", "host", "login", "password", "schema", "port", "extra", "description")


def register(tree: CommandTree) -> None:
    """Add the ``connections`` group."""
    group = tree.group("connections", "Manage connections.")
    add = group.add_parser("add", help="Add a connection (from a URI, JSON, or fields).")
    add.add_argument("conn_id")
    source = add.add_mutually_exclusive_group()
    source.add_argument("--conn-uri", help="Airflow URI, e.g. postgres://user:pw@host:5432/db")
    source.add_argument("--conn-json", help='Airflow JSON, e.g. {"conn_type": "http", "host": "x"}')
    for name in _FIELDS:
        add.add_argument(f"--conn-{name}", dest=f"conn_{name}", default=None)
    add.set_defaults(func=_add)
    get = group.add_parser("get", help="Show one connection (password masked).")
    get.add_argument("conn_id")
    add_output_flag(get)
    get.set_defaults(func=_get)
    delete = group.add_parser("delete", help="Delete a connection.")
    delete.add_argument("conn_id")
    delete.set_defaults(func=_delete)
    listing = group.add_parser("list", help="List connections (passwords masked).")
    listing.add_argument("--conn-id", default=None, help="Only this connection.")
    add_output_flag(listing)
    listing.set_defaults(func=_list)
    test = group.add_parser("test", help="Test a connection with its type's hook (an installed provider's).")
    test.add_argument("conn_id")
    test.set_defaults(func=_test)


def connection_from_args(args: argparse.Namespace) -> Any:
    """The Connection described by ``--conn-uri``, ``--conn-json`` or the ``--conn-*`` fields."""
    from runtime.errors import UserError
    from runtime.sdk.connection import Connection

    fields = {name: getattr(args, f"conn_{name}") for name in _FIELDS}
    given = [f"--conn-{k}" for k, v in fields.items() if v is not None and k != "description"]
    if (args.conn_uri or args.conn_json) and given:
        raise UserError(f"{', '.join(given)} cannot be combined with --conn-uri or --conn-json")
    if args.conn_json:
        common.load_json(args.conn_json, "--conn-json")  # one line for bad or hostile JSON
    if fields["extra"] is not None:
        common.load_json(fields["extra"], "--conn-extra")
    try:
        if args.conn_uri:
            conn = Connection.from_uri(args.conn_id, args.conn_uri)
        elif args.conn_json:
            conn = Connection.from_json(args.conn_id, args.conn_json)
        else:
            conn = _from_fields(args.conn_id, fields)
    except ValueError as exc:
        raise UserError(f"connection {args.conn_id!r}: {exc}") from None
    if fields["description"] is not None:
        conn.description = fields["description"]
    if not conn.conn_type:
        raise UserError("a connection needs a type: --conn-type, or a scheme in --conn-uri")
    return conn


def _from_fields(conn_id: str, fields: dict[str, str | None]) -> Any:
    from runtime.sdk.connection import Connection

    port = fields["port"]
    if port is not None and not port.isdigit():
        raise ValueError(f"--conn-port must be a number, got {port!r}")
    extra = fields["extra"]
    if extra is not None:
        json.loads(extra)  # Airflow requires extra to be JSON; ValueError names the problem
    return Connection(
        conn_id=conn_id,
        conn_type=fields["type"],
        host=fields["host"],
        login=fields["login"],
        password=fields["password"],
        schema=fields["schema"],
        port=int(port) if port is not None else None,
        extra=extra,
    )


def _context() -> tuple[Any, Any]:
    from runtime.settings import Settings
    from runtime.store.crypto import get_fernet

    settings = Settings.load()
    return settings, get_fernet(settings)


def _audit(session: Any, event: str, conn_id: str) -> None:
    from runtime.store.audit import log_event

    log_event(session, f"cli_connections_{event}", owner=common.audit_owner(), extra={"conn_id": conn_id})


def _add(args: argparse.Namespace) -> int:
    from runtime.errors import UserError
    from runtime.store.connections import connection_exists, set_connection
    from runtime.store.session import store_session

    conn = connection_from_args(args)
    settings, fernet = _context()
    with store_session(settings) as session:
        if connection_exists(session, conn.conn_id):
            raise UserError(f"a connection with conn_id {conn.conn_id!r} already exists; delete it first")
        set_connection(session, conn, fernet=fernet)
        _audit(session, "add", conn.conn_id)
    print(f"Successfully added conn_id={conn.conn_id} : {masked_uri(conn)}")
    return 0


def masked_uri(conn: Any) -> str:
    """The connection's URI with the password replaced by ``***``."""
    from dataclasses import replace

    if not conn.password:
        return str(conn.get_uri())
    return str(replace(conn, password=MASK).get_uri()).replace(":%2A%2A%2A@", f":{MASK}@", 1)


def masked_row(conn: Any) -> dict[str, Any]:
    """A printable row of ``conn``: the password masked, everything else as stored."""
    return {
        "conn_id": conn.conn_id,
        "conn_type": conn.conn_type,
        "description": conn.description,
        "host": conn.host,
        "schema": conn.schema,
        "login": conn.login,
        "password": MASK if conn.password else None,
        "port": conn.port,
        "extra": conn.extra,
        "uri": masked_uri(conn),
    }


def _get(args: argparse.Namespace) -> int:
    from runtime.errors import UserError
    from runtime.store.connections import get_connection
    from runtime.store.session import store_session

    settings, fernet = _context()
    with store_session(settings) as session:
        conn = get_connection(session, args.conn_id, fernet=fernet)
    if conn is None:
        raise UserError(f"connection {args.conn_id!r} does not exist")
    render([masked_row(conn)], COLUMNS, args.output)
    return 0


def _delete(args: argparse.Namespace) -> int:
    from runtime.errors import UserError
    from runtime.store.connections import delete_connection
    from runtime.store.session import store_session

    settings = common.load_settings()  # deleting needs no key: a row the key cannot read can still go
    with store_session(settings) as session:
        if not delete_connection(session, args.conn_id):
            raise UserError(f"connection {args.conn_id!r} does not exist")
        _audit(session, "delete", args.conn_id)
    print(f"Successfully deleted connection with conn_id={args.conn_id}")
    return 0


def _list(args: argparse.Namespace) -> int:
    import sys

    from runtime.store.connections import list_connections_tolerant
    from runtime.store.session import store_session

    settings, fernet = _context()
    with store_session(settings) as session:
        listed = list_connections_tolerant(session, fernet=fernet)
    listed = [(c, error) for c, error in listed if args.conn_id is None or c.conn_id == args.conn_id]
    render([_listed_row(c, error) for c, error in listed], COLUMNS, args.output)
    broken = [c.conn_id for c, error in listed if error]
    if broken:
        sys.stderr.write(f"windsock: warning: {len(broken)} connection(s) cannot be decrypted with the current "
                         f"Fernet key (it changed?): {', '.join(broken)}\n")
    return 0


def _listed_row(conn: Any, error: str | None) -> dict[str, Any]:
    """A listing row; a connection whose secrets do not decrypt says so in their columns."""
    row = masked_row(conn)
    if error:
        row.update(password=UNREADABLE, extra=UNREADABLE, uri=f"{row['uri']} ({UNREADABLE})")
    return row


def _test(args: argparse.Namespace) -> int:
    """Look the connection up as a task would, then ask its type's hook to test it (Airflow's ``connections test``)."""
    from runtime.compat import install_import_hook
    from runtime.errors import UserError
    from runtime.sdk.exceptions import AirflowNotFoundException
    from runtime.sdk.hooks.base import lookup_connection

    install_import_hook()  # provider hooks import airflow.*
    try:
        conn = lookup_connection(args.conn_id)
    except AirflowNotFoundException:
        raise UserError(f"connection {args.conn_id!r} is not defined (checked the secrets backend, "
                        "WINDSOCK_CONN_/AIRFLOW_CONN_ and the metastore)") from None
    ok, message = conn.test_connection()
    if ok:
        print(f"Connection success! ({conn.conn_type}: {message})")
        return 0
    print(f"Connection failed! ({conn.conn_type}: {message})")
    return 1
