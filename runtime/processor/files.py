"""Which DAG files exist and which of them changed: stat first, content hash only when the stat moved.

A file is recorded under its path inside the configured DAG folder, not under the folder's
real path: dag_sync publishes every change as a new generation directory behind a symlink,
and a DAG must not look deleted and re-created each time the symlink flips.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from runtime.loader import discover, walk


@dataclass(frozen=True)
class FileStamp:
    """What the processor last saw of a file: its stat, its content hash, whether it failed."""

    mtime: float
    size: int
    content_hash: str | None
    errored: bool = False


@dataclass(frozen=True)
class FileCheck:
    """The verdict of one scan on one file: parse it or not, and its current stamp."""

    fileloc: str
    stamp: FileStamp
    parse: bool


def list_files(folders: Iterable[str]) -> list[str]:
    """DAG files of every folder, each under its path inside the folder as configured (not resolved)."""
    found: list[str] = []
    for folder in folders:
        found.extend(_under(folder, discover(folder)))
    return sorted(dict.fromkeys(found))


def _under(folder: str, paths: list[str]) -> list[str]:
    """Re-root discovered real paths below ``folder`` (the symlink path dag_sync keeps stable)."""
    base = os.path.abspath(folder)
    if os.path.isfile(base):
        return [base] if paths else []
    real = os.path.realpath(base)
    return [os.path.join(base, os.path.relpath(p, real)) for p in paths]


def content_hash(path: str) -> str | None:
    """SHA-256 of the file's bytes, None if it vanished."""
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


def check_file(fileloc: str, known: FileStamp | None, *, force: bool, retry_errors: bool) -> FileCheck | None:
    """Whether ``fileloc`` must be parsed; None if it vanished since discovery."""
    try:
        st = os.stat(fileloc)
    except OSError:
        return None
    same_stat = known is not None and (known.mtime, known.size) == (st.st_mtime, st.st_size)
    if known is not None and same_stat and not force and not (known.errored and retry_errors):
        return FileCheck(fileloc, known, parse=False)
    digest = content_hash(fileloc)
    if digest is None:
        return None
    stamp = FileStamp(st.st_mtime, st.st_size, digest)
    unchanged = known is not None and known.content_hash == digest and not known.errored
    return FileCheck(fileloc, stamp, parse=force or not unchanged or known is None)


def check_files(
    filelocs: Iterable[str], known: Mapping[str, FileStamp], *, force: bool, retry_errors: bool
) -> list[FileCheck]:
    """``check_file`` for every file that still exists."""
    checks = (check_file(f, known.get(f), force=force, retry_errors=retry_errors) for f in filelocs)
    return [c for c in checks if c is not None]


def folder_stamp(folders: Iterable[str]) -> tuple[tuple[str, int, int], ...]:
    """What changes when anything a scan would see changes: each folder's real path and the path, mtime
    and size of every file below it (ignore files included; ``__pycache__`` and dot-folders left out, as
    :func:`runtime.loader.discover` leaves them out). Stats only: no file is read."""
    seen: list[tuple[str, int, int]] = []
    for folder in folders:
        root = os.path.realpath(folder)
        seen.append((root, 0, 0))
        if os.path.isfile(root):
            seen.append(_stat_entry(root))
            continue
        for dirpath, dirnames, filenames in walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__pycache__")))
            seen.extend(_stat_entry(os.path.join(dirpath, name)) for name in filenames)
    return tuple(seen)


def _stat_entry(path: str) -> tuple[str, int, int]:
    try:
        st = os.stat(path)
    except OSError:  # vanished since the listing (or a dangling symlink): it counts as absent
        return (path, -1, -1)
    return (path, st.st_mtime_ns, st.st_size)
