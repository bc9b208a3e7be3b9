"""Signal forwarding with real child processes: the component gets SIGTERM and a grace period."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from runtime.container.process import exit_code, run_forwarding_signals

# A component that writes 'ready', then on SIGTERM writes the signal number and exits 7.
GRACEFUL = """
import signal, sys, time, pathlib
out = pathlib.Path(sys.argv[1])
def stop(signum, frame):
    out.write_text(f"got {signum}")
    sys.exit(7)
signal.signal(signal.SIGTERM, stop)
out.write_text("ready")
time.sleep(60)
"""
# A component that ignores SIGTERM (a hung task): it must be killed when the grace period ends.
STUBBORN = """
import signal, sys, time, pathlib
signal.signal(signal.SIGTERM, signal.SIG_IGN)
pathlib.Path(sys.argv[1]).write_text("ready")
time.sleep(60)
"""


def signal_when_ready(marker: Path, signum: int) -> threading.Thread:
    """Send ``signum`` to this process (the entrypoint) once the child has written 'ready'."""

    def wait_and_signal() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if marker.exists() and marker.read_text() == "ready":
                os.kill(os.getpid(), signum)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=wait_and_signal, daemon=True)
    thread.start()
    return thread


def test_sigterm_is_forwarded_and_the_child_exit_code_returned(tmp_path: Path) -> None:
    """SIGTERM to the entrypoint reaches the child, which exits 7; the entrypoint returns 7."""
    marker = tmp_path / "state"
    signal_when_ready(marker, signal.SIGTERM)
    code = run_forwarding_signals(
        [sys.executable, "-c", GRACEFUL, str(marker)], dict(os.environ), grace_seconds=10
    )
    assert code == 7
    assert marker.read_text() == f"got {int(signal.SIGTERM)}"


def test_sigint_is_forwarded_too(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) reaches the child as SIGINT, not as some other signal."""
    marker = tmp_path / "state"
    script = GRACEFUL.replace("signal.SIGTERM, stop", "signal.SIGINT, stop")
    signal_when_ready(marker, signal.SIGINT)
    code = run_forwarding_signals(
        [sys.executable, "-c", script, str(marker)], dict(os.environ), grace_seconds=10
    )
    assert code == 7 and marker.read_text() == f"got {int(signal.SIGINT)}"


def test_child_outliving_the_grace_period_is_killed(tmp_path: Path) -> None:
    """A child that ignores SIGTERM is SIGKILLed after the grace period; exit code 128 + 9."""
    marker = tmp_path / "state"
    signal_when_ready(marker, signal.SIGTERM)
    started = time.monotonic()
    code = run_forwarding_signals(
        [sys.executable, "-c", STUBBORN, str(marker)], dict(os.environ), grace_seconds=0.5
    )
    assert code == 128 + signal.SIGKILL
    assert time.monotonic() - started < 15


def test_normal_exit_code_passes_through_and_handlers_are_restored(tmp_path: Path) -> None:
    """Without signals the child's own code is returned; the previous SIGTERM handler is back afterwards."""
    before = signal.getsignal(signal.SIGTERM)
    code = run_forwarding_signals([sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ))
    assert code == 3
    assert signal.getsignal(signal.SIGTERM) == before


def test_child_gets_exactly_the_given_environment() -> None:
    """The prepared environment is the child's whole environment."""
    code = run_forwarding_signals(
        [sys.executable, "-c", "import os,sys; sys.exit(0 if os.environ.get('X_PREPARED') == 'yes' else 4)"],
        {"X_PREPARED": "yes", "PATH": os.environ.get("PATH", "")},
    )
    assert code == 0


def test_exit_code_of_a_signalled_child_follows_the_shell_convention() -> None:
    """-15 (killed by SIGTERM) becomes 143; normal codes are unchanged."""
    assert exit_code(-15) == 143 and exit_code(0) == 0 and exit_code(2) == 2
