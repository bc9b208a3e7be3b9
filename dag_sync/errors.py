"""Errors of dag_sync: one base class, one subclass per stage that can fail."""

from __future__ import annotations

from runtime.errors import WindsockError


class SyncError(WindsockError):
    """Base of every dag_sync failure; the message says what failed and where."""


class S3UnreachableError(SyncError):
    """S3 (or SQS) could not be reached or refused the request."""


class PluginsError(SyncError):
    """plugins.zip was rejected (zip-slip, absolute path, symlink, oversize) or unreadable."""


class RequirementsError(SyncError):
    """requirements.txt could not be installed; the last good environment stays active."""

    def __init__(self, message: str, output: str = "", line: int | None = None) -> None:
        super().__init__(message)
        self.output = output
        self.line = line


class StartupScriptError(SyncError):
    """The startup script exited non-zero or timed out; the component must not start."""

    def __init__(self, message: str, exit_code: int | None, output: str = "") -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.output = output
