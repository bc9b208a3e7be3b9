"""startup.sh: run it once with bash, log its output, return the variables it exported."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

from dag_sync.errors import StartupScriptError

log = logging.getLogger("dag_sync.startup")

# Sourcing the script in a wrapper lets us read its exported variables afterwards; the EXIT
# trap also fires when the script calls ``exit`` itself.
_WRAPPER = r"""
__ws_out="$1"; __ws_script="$2"; shift 2
trap '__ws_rc=$?; if [ "$__ws_rc" -eq 0 ]; then env -0 > "$__ws_out"; fi; exit "$__ws_rc"' EXIT
. "$__ws_script"
"""
# Noise bash adds on its own, and names the runtime owns (a script may not redirect the sync).
_IGNORED = {"_", "SHLVL", "PWD", "OLDPWD"}
_RESERVED_PREFIX = "WINDSOCK_"


def run_startup(script: Path, environ: Mapping[str, str], timeout: float, log_path: Path) -> dict[str, str]:
    """Run ``script``; return the variables it exported or changed; raise on non-zero exit."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="windsock-startup-") as tmp:
        dump = Path(tmp) / "env"
        code, output = _run(["bash", "-c", _WRAPPER, "windsock-startup", str(dump), str(script)],
                            environ, timeout, log_path, cwd=tmp)
        if code != 0:
            raise StartupScriptError(_failure_message(code, output, timeout), code, "\n".join(output))
        return exported(environ, _parse_env(dump.read_bytes()))


def exported(before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, str]:
    """Variables that are new or changed, minus bash noise and reserved WINDSOCK_* names."""
    changed = {k: v for k, v in after.items() if before.get(k) != v and k not in _IGNORED}
    for name in [k for k in changed if k.startswith(_RESERVED_PREFIX)]:
        log.warning("startup script set reserved variable %s; ignored", name)
        del changed[name]
    return changed


def _run(argv: list[str], environ: Mapping[str, str], timeout: float, log_path: Path,
         cwd: str) -> tuple[int | None, list[str]]:
    """Run ``argv``, streaming output to the log; returns the exit code (None on timeout)."""
    proc = subprocess.Popen(argv, env=dict(environ), cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=_pump, args=(proc, lines, log_path), daemon=True)
    reader.start()
    try:
        code: int | None = proc.wait(timeout=timeout or None)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the script's own children go with it
        proc.wait()
        code = None
    reader.join(timeout=5)
    return code, lines


def _pump(proc: subprocess.Popen[bytes], lines: list[str], log_path: Path) -> None:
    """Copy the script's output lines to the log file, the logger and ``lines``."""
    assert proc.stdout is not None
    with open(log_path, "a", encoding="utf-8") as out:
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            lines.append(line)
            out.write(line + "\n")
            log.info("startup.sh: %s", line)


def _failure_message(code: int | None, output: list[str], timeout: float) -> str:
    """The one-line reason the start stops, with the last lines of output."""
    if code is None:
        head = f"startup script timed out after {timeout:g} s; the component will not start"
    else:
        head = f"startup script exited with code {code}; the component will not start"
    tail = " | ".join(output[-3:])
    return f"{head}" + (f" (last output: {tail})" if tail else "")


def _parse_env(raw: bytes) -> dict[str, str]:
    """Parse ``env -0`` output."""
    env: dict[str, str] = {}
    for item in raw.decode("utf-8", "replace").split("\0"):
        name, sep, value = item.partition("=")
        if sep and name:
            env[name] = value
    return env
