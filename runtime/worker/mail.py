"""E-mail on task failure and retry through the ``smtp`` settings, sent from the task side.

A failed try's own process sends it (as Airflow's task runner does); a try whose process died
gets it from the callback child its executor starts. The scheduler never talks SMTP.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any

from runtime.store.states import TI


def compose(*, sender: str, to: list[str], state: str, label: str, error: str | None, log: str) -> EmailMessage:
    """The message Airflow sends for a failed or retried try."""
    verb = TI.UP_FOR_RETRY.value if state == TI.UP_FOR_RETRY else TI.FAILED.value
    msg = EmailMessage()
    msg["Subject"] = f"Airflow alert: {label} {verb}"
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    body = f"Try {label} ended as {state}.\n\nLog: {log}\n\n{error or ''}\n"
    msg.set_content(body)
    return msg


def deliver(settings: Any, msg: EmailMessage) -> None:
    """Send one message through the configured SMTP server (raises on failure)."""
    get = settings.get
    with smtplib.SMTP(get("smtp", "smtp_host"), int(get("smtp", "smtp_port")), timeout=int(get("smtp", "smtp_timeout"))) as smtp:
        if get("smtp", "smtp_starttls"):
            smtp.starttls()
        smtp.send_message(msg)
