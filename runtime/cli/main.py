"""Entry point of the ``windsock`` command: builds the parser from the command modules."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from runtime.errors import WindsockError

# Each module has ``register(tree: CommandTree)`` and adds the top-level commands listed here
# (tests/cli/test_fast_start.py checks the list against what it registers). ``windsock NAME ...``
# imports and registers only the modules that add NAME; ``--help`` and unknown names build all.
# Imports inside handlers stay lazy so that ``windsock --help`` does not pay for SQLAlchemy,
# Jinja2, the SDK or boto3 (tests/cli/test_fast_start.py checks it too).
REGISTERS: dict[str, tuple[str, ...]] = {
    "runtime.cli.version_cmd": ("version",),
    "runtime.container.cli": ("container",),
    "runtime.cli.dags_cmd": ("dags",),
    "runtime.cli.tasks_cmd": ("tasks",),
    "runtime.cli.dags_db_cmd": ("dags",),
    "runtime.cli.tasks_db_cmd": ("tasks",),
    "runtime.cli.config_cmd": ("config",),
    "dag_sync.cli": ("sync", "dags"),
    "runtime.cli.db_cmd": ("db",),
    "runtime.cli.variables_cmd": ("variables",),
    "runtime.cli.connections_cmd": ("connections",),
    "runtime.cli.providers_cmd": ("providers",),
    "runtime.cli.pools_cmd": ("pools",),
    "runtime.cli.scheduler_cmd": ("scheduler", "standalone", "dag-processor"),
    "runtime.cli.worker_cmd": ("worker",),
    "runtime.cli.triggerer_cmd": ("triggerer",),
    "runtime.cli.backfill_cmd": ("dags", "tasks"),
    "runtime.cli.webserver_cmd": ("webserver",),
    "runtime.cli.assets_cmd": ("assets",),
    "runtime.cli.login_cmd": ("login",),
}
COMMAND_MODULES = list(REGISTERS)
SEES_ALL = ("container",)  # ``windsock container ROLE`` runs the other commands: it needs them registered


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
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


class _VersionAction(argparse.Action):
    """``--version``: one line with the version, Python, database and executor; exit 0."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version, Python, database and executor")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        from runtime.cli.version_cmd import one_line

        try:
            print(one_line())
        except WindsockError as exc:
            parser.exit(1, f"windsock: error: {exc}\n")
        parser.exit(0)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command module registered, or only those that add top-level ``command``."""
    parser = _Parser(prog="windsock", description="Windsock: run Airflow DAGs, locally or on AWS.")
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument("--env", metavar="NAME", help="run the command in deployed environment NAME through its CLI "
                        "endpoint, signed in with your AWS identity (e.g. windsock --env prod dags list)")
    parser.set_defaults(func=lambda args: _usage(parser))
    tree = CommandTree(parser)
    tree._top._parser_class = _Parser  # sub-parsers share the terse error
    modules = [name for name, commands in REGISTERS.items() if command in commands and command not in SEES_ALL]
    for name in modules or COMMAND_MODULES:
        importlib.import_module(name).register(tree)
    return parser


def _configure_logging(command: str | None) -> None:
    """Log levels from [logging] settings (deployed containers set them); nothing when unset."""
    from runtime.logsetup import configure
    from runtime.settings import Settings

    configure(Settings.load(), command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user mistakes print one line and return non-zero."""
    from runtime.cli.remote import run_remote, split_env

    try:
        env_name, rest = split_env(sys.argv[1:] if argv is None else argv)
        if env_name is not None and rest[:1] == ["login"]:
            argv = ["login", "--env", env_name, *rest[1:]]
        elif env_name is not None and rest[:1] not in (["-h"], ["--help"]):
            return run_remote(env_name, rest)
    except WindsockError as exc:
        return _fail(str(exc))
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)  # only the command's own modules: no options before it
    args = parser.parse_args(argv)
    try:
        _configure_logging(args.command)
        code = args.func(args)
    except WindsockError as exc:  # UserError, ConfigError, DagFileError, SyncError...
        return _fail(str(exc))
    except RecursionError:  # hostile nesting that slipped past a check: still one line
        return _fail("input is nested too deeply")
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a file or folder the user named: unreadable, missing, full disk
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{where}")
    return int(code or 0)


def _fail(message: str) -> int:
    """Print one error line (the first line of ``message``) and return exit code 1."""
    first = message.strip().splitlines()[0] if message.strip() else "it did not work"
    sys.stderr.write(f"windsock: error: {first}\n")
    return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
