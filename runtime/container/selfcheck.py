"""``windsock container ROLE --check``: can this image start ROLE? No AWS, no database needed.

Run inside the built image (or a venv built from the image's exact recipe) to prove that the
role's command is registered, that the modules the role imports at run time are installed, that
the PostgreSQL driver and boto3 are present, and that the only writable places a read-only root
filesystem leaves (``WINDSOCK_HOME`` and the temp dir) are writable.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

# Modules every role imports at run time, beyond the CLI itself.
COMMON_MODULES = ("dag_sync.entry", "boto3", "psycopg2", "sqlalchemy", "alembic", "cryptography")
ROLE_MODULES = {
    "scheduler": ("runtime.scheduler", "runtime.processor", "runtime.executors", "croniter", "pendulum"),
    "worker": ("runtime.worker",),
    "webserver": (),
}
PYTHON = (3, 11)  # the image's base (python:3.11-slim)


@dataclass(frozen=True)
class Finding:
    """One check: what was checked and whether it passed (with the reason when not)."""

    what: str
    ok: bool
    detail: str = ""

    def line(self) -> str:
        """``ok   what`` or ``FAIL what: detail``."""
        return f"ok   {self.what}" if self.ok else f"FAIL {self.what}: {self.detail}"


def check_modules(names: Collection[str]) -> list[Finding]:
    """Each module imports."""
    findings = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any import failure is the finding
            findings.append(Finding(f"import {name}", False, f"{type(exc).__name__}: {exc}"))
        else:
            findings.append(Finding(f"import {name}", True))
    return findings


def check_writable(path: Path, what: str) -> Finding:
    """A file can be created and removed in ``path``."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".windsock-check-"):
            pass
    except OSError as exc:
        return Finding(f"{what} {path} writable", False, exc.strerror or str(exc))
    return Finding(f"{what} {path} writable", True)


def check_commands(role: str, commands: Collection[str], component: str) -> list[Finding]:
    """The role's component command and ``windsock db`` are registered in this CLI."""
    return [
        Finding(
            f"command 'windsock {component}'", component in commands, f"not registered; {role} cannot start"
        ),
        Finding("command 'windsock db'", "db" in commands, "not registered; the schema cannot be created"),
    ]


def run_checks(
    role: str, commands: Collection[str], component: str, environ: Mapping[str, str]
) -> list[Finding]:
    """Every check for ``role``."""
    from runtime.settings import Settings

    version = sys.version_info[:2]
    findings = [
        Finding(f"python {PYTHON[0]}.{PYTHON[1]}", version == PYTHON, f"this is {version[0]}.{version[1]}")
    ]
    findings += check_commands(role, commands, component)
    findings += check_modules(COMMON_MODULES + ROLE_MODULES[role])
    findings.append(check_writable(Settings.load(environ).home, "WINDSOCK_HOME"))
    findings.append(check_writable(Path(tempfile.gettempdir()), "temp dir"))
    return findings
