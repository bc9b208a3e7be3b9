"""Child processes of a long-running command (the DAG processor, the web server) that die with it."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
from collections.abc import Sequence

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_child(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    """Start ``argv``; on Linux it gets SIGTERM when this process dies, even by kill -9 (no orphans)."""
    hook = _die_with_parent if sys.platform.startswith("linux") else None
    return subprocess.Popen(list(argv), preexec_fn=hook)
