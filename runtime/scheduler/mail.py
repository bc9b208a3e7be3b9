"""E-mail on task failure and retry through the ``smtp`` settings, sent off the scheduler loop."""

from __future__ import annotations

import queue
import smtplib
import sys
import threading
from email.message import EmailMessage

from runtime.settings import Settings


def compose(*, sender: str, to: list[str], state: str, label: str, error: str | None, log: str) -> EmailMessage:
    """The message Airflow sends for a failed or retried try."""
    verb = "up_for_retry" if state == "up_for_retry" else "failed"
    msg = EmailMessage()
    msg["Subject"] = f"Airflow alert: {label} {verb}"
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    body = f"Try {label} ended as {state}.\n\nLog: {log}\n\n{error or ''}\n"
    msg.set_content(body)
    return msg


class Mailer:
    """Sends messages on a background thread so SMTP never stalls the scheduler."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._queue: queue.Queue[EmailMessage | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def send(self, msg: EmailMessage) -> None:
        """Queue one message."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="windsock-mail", daemon=True)
            self._thread.start()
        self._queue.put(msg)

    def _loop(self) -> None:
        while True:
            msg = self._queue.get()
            if msg is None:
                return
            try:
                self._deliver(msg)
            except Exception as exc:  # noqa: BLE001 - a mail failure is logged, never fatal
                print(f"[windsock] e-mail to {msg['To']} failed: {exc}", file=sys.stderr)

    def _deliver(self, msg: EmailMessage) -> None:
        get = self.settings.get
        with smtplib.SMTP(get("smtp", "smtp_host"), int(get("smtp", "smtp_port")), timeout=int(get("smtp", "smtp_timeout"))) as smtp:
            if get("smtp", "smtp_starttls"):
                smtp.starttls()
            smtp.send_message(msg)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued, then stop the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None
