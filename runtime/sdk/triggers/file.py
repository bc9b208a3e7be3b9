"""FileTrigger: fires once a file (or glob) exists."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from runtime.sdk.triggers.base import BaseTrigger, TriggerEvent, classpath_of


class FileTrigger(BaseTrigger):
    """Polls ``filepath`` (a path or glob) every ``poke_interval`` seconds; fires with True when found."""

    def __init__(self, filepath: str, recursive: bool = False, poke_interval: float = 5.0, **kwargs: Any) -> None:
        super().__init__()
        self.filepath = filepath
        self.recursive = recursive
        self.poke_interval = float(poke_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Path, recursion and interval."""
        return classpath_of(FileTrigger), {"filepath": self.filepath, "recursive": self.recursive,
                                           "poke_interval": self.poke_interval}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Check, sleep, check again."""
        from runtime.sdk.sensors.filesystem import path_exists

        while not await asyncio.to_thread(path_exists, self.filepath, self.recursive):
            await asyncio.sleep(self.poke_interval)
        yield TriggerEvent(True)


__all__ = ["FileTrigger"]
