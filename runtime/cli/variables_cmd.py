"""``windsock variables get|set|delete|list|import|export`` (Airflow's flags)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from runtime.cli import common
from runtime.cli.main import CommandTree
from runtime.cli.output import add_output_flag, render


def register(tree: CommandTree) -> None:
    """Add the ``variables`` group."""
    group = tree.group("variables", "Manage variables.")
    get = group.add_parser("get", help="Print a variable's value.")
    get.add_argument("key")
    get.add_argument("-d", "--default", default=None, help="Printed when the variable does not exist.")
    get.add_argument(
        "-j", "--json", action="store_true", help="Parse the value as JSON and print it as JSON."
    )
    get.set_defaults(func=_get)
    put = group.add_parser("set", help="Create or replace a variable.")
    put.add_argument("key")
    put.add_argument("value")
    put.add_argument("--description", default=None)
    put.add_argument(
        "-j", "--json", action="store_true", help="Check that VALUE is JSON and store it normalised."
    )
    put.set_defaults(func=_set)
    delete = group.add_parser("delete", help="Delete a variable.")
    delete.add_argument("key")
    delete.set_defaults(func=_delete)
    listing = group.add_parser("list", help="List the variables' keys.")
    add_output_flag(listing)
    listing.set_defaults(func=_list)
    imp = group.add_parser("import", help="Create or replace variables from a JSON file.")
    imp.add_argument("file")
    imp.add_argument(
        "-a", "--action-on-existing-key", choices=["overwrite", "fail", "skip"], default="overwrite"
    )
    imp.set_defaults(func=_import)
    exp = group.add_parser("export", help="Write every variable to a JSON file ('-' for stdout).")
    exp.add_argument("file")
    exp.set_defaults(func=_export)


def _context() -> tuple[Any, Any]:
    from runtime.settings import Settings
    from runtime.store.crypto import get_fernet

    settings = Settings.load()
    return settings, get_fernet(settings)


def _audit(session: Any, event: str, **extra: Any) -> None:
    from runtime.store.audit import log_event

    log_event(session, f"cli_variables_{event}", owner=common.audit_owner(), extra=extra or None)


def _get(args: argparse.Namespace) -> int:
    from runtime.errors import UserError
    from runtime.store.session import store_session
    from runtime.store.variables import get_variable

    settings, fernet = _context()
    with store_session(settings) as session:
        value = get_variable(session, args.key, fernet=fernet)
    if value is None:
        if args.default is None:
            raise UserError(f"variable {args.key!r} does not exist")
        value = args.default
    elif args.json:
        value = json.dumps(_parse_json(args.key, value), indent=2)
    print(value)
    return 0


def _parse_json(key: str, text: str) -> Any:
    from runtime.cli.common import load_json

    return load_json(text, f"variable {key!r}: value")


def _set(args: argparse.Namespace) -> int:
    from runtime.store.session import store_session
    from runtime.store.variables import set_variable

    value = json.dumps(_parse_json(args.key, args.value)) if args.json else args.value
    settings, fernet = _context()
    with store_session(settings) as session:
        set_variable(session, args.key, value, description=args.description, fernet=fernet)
        _audit(session, "set", key=args.key)
    print(f"Variable {args.key} set")
    return 0


def _delete(args: argparse.Namespace) -> int:
    from runtime.errors import UserError
    from runtime.settings import Settings
    from runtime.store.session import store_session
    from runtime.store.variables import delete_variable

    settings = Settings.load()  # deleting needs no key: a value the key cannot read can still go
    with store_session(settings) as session:
        if not delete_variable(session, args.key):
            raise UserError(f"variable {args.key!r} does not exist")
        _audit(session, "delete", key=args.key)
    print(f"Variable {args.key} deleted")
    return 0


def _list(args: argparse.Namespace) -> int:
    from runtime.settings import Settings
    from runtime.store.session import store_session
    from runtime.store.variables import list_variables

    with store_session(Settings.load()) as session:
        rows = [{"key": row.key, "description": row.description} for row in list_variables(session)]
    render(rows, ["key", "description"], args.output)
    return 0


def _import(args: argparse.Namespace) -> int:
    from runtime.errors import UserError
    from runtime.store.session import store_session
    from runtime.store.variables import get_variable, set_variable

    entries = _read_import_file(Path(args.file))
    settings, fernet = _context()
    written, skipped = 0, 0
    with store_session(settings) as session:
        for key, (value, description) in entries.items():
            if (
                args.action_on_existing_key != "overwrite"
                and get_variable(session, key, fernet=fernet) is not None
            ):
                if args.action_on_existing_key == "fail":
                    raise UserError(f"variable {key!r} already exists (--action-on-existing-key fail)")
                skipped += 1
                continue
            set_variable(session, key, value, description=description, fernet=fernet)
            written += 1
        _audit(session, "import", file=str(args.file), written=written, skipped=skipped)
    print(
        f"{written} of {len(entries)} variables imported from {args.file}"
        + (f", {skipped} skipped" if skipped else "")
    )
    return 0


def _read_import_file(path: Path) -> dict[str, tuple[str, str | None]]:
    """``{key: (value text, description)}`` from Airflow's export format (values may be any JSON)."""
    from runtime.cli.common import load_json
    from runtime.errors import UserError

    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    data = load_json(text, str(path))
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object of key: value")
    return {str(k): _import_entry(v) for k, v in data.items()}


def _import_entry(value: Any) -> tuple[str, str | None]:
    if isinstance(value, dict) and "value" in value and set(value) <= {"value", "description"}:
        return _as_text(value["value"]), value.get("description")
    return _as_text(value), None


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _export(args: argparse.Namespace) -> int:
    import sys

    from runtime.errors import UserError
    from runtime.store.session import store_session
    from runtime.store.variables import list_variables, variable_value

    settings, fernet = _context()
    with store_session(settings) as session:
        data = {row.key: _exported(variable_value(row, fernet)) for row in list_variables(session)}
    text = json.dumps(data, indent=4, sort_keys=True) + "\n"
    if args.file == "-":
        sys.stdout.write(text)
        return 0
    try:
        Path(args.file).write_text(text)
    except OSError as exc:
        raise UserError(f"cannot write {args.file}: {exc.strerror}") from None
    print(f"{len(data)} variables exported to {args.file}")
    return 0


def _exported(text: str | None) -> Any:
    """JSON values export as JSON (as Airflow does), anything else as a string."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text
