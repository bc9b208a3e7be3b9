"""FileSensor: wait for a file or a non-empty directory (glob patterns allowed)."""

from __future__ import annotations

import os
from datetime import timedelta
from glob import glob
from typing import Any

from runtime.sdk.exceptions import AirflowException, AirflowNotFoundException
from runtime.sdk.hooks.base import BaseHook
from runtime.sdk.sensors.base import BaseSensorOperator


def base_path(fs_conn_id: str) -> str:
    """The ``path`` in the connection's extra; empty when the connection is not defined."""
    try:
        conn = BaseHook.get_connection(fs_conn_id)
    except AirflowNotFoundException:
        return ""
    return str(conn.extra_dejson.get("path", ""))


def path_exists(pattern: str, recursive: bool) -> bool:
    """Whether a file matches ``pattern``, or a matching directory holds at least one file."""
    for path in glob(pattern, recursive=recursive):
        if os.path.isfile(path):
            print(f"Found file: {path}")
            return True
        for _, _, files in os.walk(path):
            if files:
                print(f"Found a file in directory: {path}")
                return True
    return False


class FileSensor(BaseSensorOperator):
    """Waits for ``filepath`` (templated; joined to the ``fs_conn_id`` connection's base path)."""

    template_fields = ("filepath",)
    ui_color = "#91818a"

    def __init__(self, *, filepath: str, fs_conn_id: str = "fs_default", recursive: bool = False,
                 deferrable: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filepath = filepath
        self.fs_conn_id = fs_conn_id
        self.recursive = recursive
        self.deferrable = deferrable

    def poke(self, context: Any) -> bool:
        full_path = os.path.join(base_path(self.fs_conn_id), self.filepath)
        print(f"Poking for file {full_path}")
        return path_exists(full_path, self.recursive)

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):  # there already: no deferral
            return None
        from runtime.sdk.triggers.file import FileTrigger

        full_path = os.path.join(base_path(self.fs_conn_id), self.filepath)
        self.defer(trigger=FileTrigger(full_path, self.recursive, self.poke_interval), method_name="execute_complete",
                   timeout=timedelta(seconds=self.timeout))

    def execute_complete(self, context: Any, event: Any = None) -> None:
        """The file appeared (the trigger fired)."""
        if not event:
            raise AirflowException("Stopping FileSensor: the trigger gave no event")
        print(f"Found file {self.filepath}")


__all__ = ["FileSensor"]
