"""Run a component as a child process, forward SIGTERM/SIGINT to it, and return its exit code."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from types import FrameType

FORWARDED = (signal.SIGTERM, signal.SIGINT)
# ECS sends SIGKILL 120 s (the task definition's stopTimeout) after SIGTERM; stop a little earlier.
DEFAULT_GRACE_SECONDS = 110.0


def exit_code(returncode: int) -> int:
    """Shell convention: a child killed by signal N exits 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


class _Forwarder:
    """Signal handler that passes the signal on to the child and notes when the grace period ends."""

    def __init__(self, child: subprocess.Popen[bytes], grace_seconds: float) -> None:
        self.child = child
        self.grace_seconds = grace_seconds
        self.kill_at: float | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        """Forward ``signum``; the first one starts the grace period."""
        if self.child.poll() is None:
            self.child.send_signal(signum)
        if self.kill_at is None:
            self.kill_at = time.monotonic() + self.grace_seconds


def run_forwarding_signals(
    argv: Sequence[str], env: Mapping[str, str], *, grace_seconds: float = DEFAULT_GRACE_SECONDS
) -> int:
    """Start ``argv``; forward SIGTERM/SIGINT; SIGKILL it if it outlives the grace period; return its code."""
    child = subprocess.Popen(list(argv), env=dict(env))
    forwarder = _Forwarder(child, grace_seconds)
    previous = {sig: signal.signal(sig, forwarder) for sig in FORWARDED}
    try:
        while True:
            try:
                return exit_code(child.wait(timeout=0.2))
            except subprocess.TimeoutExpired:
                if forwarder.kill_at is not None and time.monotonic() >= forwarder.kill_at:
                    child.kill()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
