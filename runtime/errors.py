"""The one base exception of the package, and the user-facing error kinds."""

from __future__ import annotations


class WindsockError(Exception):
    """Base of every error Windsock raises on purpose."""


class UserError(WindsockError):
    """A mistake by the user (bad argument, unknown DAG): shown as one line, exit code 1."""


class ConfigError(UserError):
    """A setting has a value Windsock cannot use; the message names the key."""


class DagFileError(WindsockError):
    """A DAG file could not be loaded; carries the file, the line and the reason."""

    def __init__(self, filename: str, reason: str, lineno: int | None = None) -> None:
        self.filename = filename
        self.lineno = lineno
        self.reason = reason
        where = f"{filename}:{lineno}" if lineno else filename
        super().__init__(f"{where}: {reason}")
