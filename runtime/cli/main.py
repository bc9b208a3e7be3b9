"""Entry point of the ``windsock`` command: builds the parser from the command modules."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from runtime.errors import UserError, WindsockError

# Each module has ``register(tree: CommandTree)``. Imports inside handlers stay lazy so
# that ``windsock --help`` does not pay for SQLAlchemy or boto3.
COMMAND_MODULES = [
    "runtime.container.cli",
    "runtime.cli.dags_cmd",
    "runtime.cli.tasks_cmd",
    "runtime.cli.dags_db_cmd",
    "runtime.cli.tasks_db_cmd",
    "runtime.cli.config_cmd",
    "dag_sync.cli",
    "runtime.cli.db_cmd",
    "runtime.cli.variables_cmd",
    "runtime.cli.connections_cmd",
    "runtime.cli.pools_cmd",
    "runtime.cli.scheduler_cmd",
    "runtime.cli.backfill_cmd",
    "runtime.cli.assets_cmd",
]


class CommandTree:
    """Holds the top-level parser; command modules add groups and commands to it."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser
        self._top = parser.add_subparsers(dest="command", metavar="COMMAND")
        self._groups: dict[str, Any] = {}

    def group(self, name: str, help: str) -> Any:
        """The sub-command set of group ``name`` (``windsock NAME ...``), made on first use."""
        if name not in self._groups:
            parser = self._top.add_parser(name, help=help)
            parser.set_defaults(func=lambda args: _usage(parser))
            self._groups[name] = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
        return self._groups[name]

    def command(self, name: str, help: str, func: Callable[[argparse.Namespace], int | None]) -> argparse.ArgumentParser:
        """A top-level command (``windsock NAME``)."""
        parser = self._top.add_parser(name, help=help)
        parser.set_defaults(func=func)
        return parser


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2, as argparse does but terser
        sys.stderr.write(f"windsock: error: {self.prog}: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every command module registered."""
    parser = _Parser(prog="windsock", description="Windsock: run Airflow DAGs, locally or on AWS.")
    parser.set_defaults(func=lambda args: _usage(parser))
    tree = CommandTree(parser)
    tree._top._parser_class = _Parser  # sub-parsers share the terse error
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(tree)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user mistakes print one line and return non-zero."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except UserError as exc:
        sys.stderr.write(f"windsock: error: {exc}\n")
        return 1
    except WindsockError as exc:
        sys.stderr.write(f"windsock: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
