"""The benchmarks' throwaway homes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def bench_home(prefix: str = "windsock-bench-") -> Iterator[str]:
    """A throwaway home for one run: removed at its end, or, with ``BENCH_HOMES`` set to a folder, made
    there and kept (whoever set it removes the folder once every run of the sitting is measured).

    On a no-journal ext4 (this box's disk) the kernel skips, for some 30 s, every recently deleted inode
    when it allocates one, reading each one's inode table entry: deleting the 1,500 files of one run just
    before the next makes that run's log files and folders 2-5x dearer (the fork server's CPU for a
    fan-out 0.3 -> 0.9 s; perf shows ``recently_deleted`` in ext4_create and ext4_mkdir), a cost that
    comes from the benchmark's own clean-up, not from a deployment. ``bench/versus_airflow.py`` sets it."""
    keep = os.environ.get("BENCH_HOMES")
    if keep:
        yield tempfile.mkdtemp(prefix=prefix, dir=keep)
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield tmp
