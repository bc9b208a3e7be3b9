"""Generation directories of the DAG folder: plan a change, stage it, flip the symlink, prune.

The DAG folder path is a symlink to one generation. A change is staged in a fresh directory
(unchanged files hard-linked from the previous generation) and published by replacing the
symlink with ``os.replace``, which is atomic: a reader that resolves the link sees either the
old generation or the new one, never a mix. Readers detect a change by the realpath changing.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from dag_sync.errors import SyncError
from dag_sync.s3 import RemoteObject

MANIFEST = ".windsock_manifest.json"
_STAGING = ".staging-"


@dataclass(frozen=True)
class FileEntry:
    """The synced version of one file, as recorded in the manifest."""

    key: str
    etag: str
    size: int
    version_id: str | None
    synced_at: float


@dataclass(frozen=True)
class Manifest:
    """What a generation holds: its sequence number, source and files."""

    generation: int = 0
    source: str = ""
    synced_at: float = 0.0
    files: dict[str, FileEntry] = field(default_factory=dict)

    def encode(self) -> str:
        """JSON text of the manifest."""
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def decode(cls, text: str) -> Manifest:
        """Parse JSON text written by ``encode``."""
        data = json.loads(text)
        files = {rel: FileEntry(**entry) for rel, entry in data.get("files", {}).items()}
        return cls(int(data.get("generation", 0)), data.get("source", ""), float(data.get("synced_at", 0)), files)


@dataclass(frozen=True)
class Plan:
    """Which files a sync keeps (hard-link), fetches (download) and drops."""

    keep: list[str]
    fetch: list[str]
    removed: list[str]
    added: list[str]

    @property
    def changed(self) -> bool:
        """True when the new generation would differ from the current one."""
        return bool(self.fetch or self.removed)


def safe_rel(rel: str) -> bool:
    """True when an S3 key suffix is a plain relative file path we may write locally."""
    # S3 keys may contain '..' or '//' (or be "folder/" markers); none of those may escape.
    if not rel or rel.endswith("/") or "\\" in rel or "\x00" in rel or rel.startswith("/"):
        return False
    parts = rel.split("/")
    return all(p not in ("", ".", "..") for p in parts) and rel != MANIFEST


NAME_MAX = 255  # bytes in one file or folder name (ext4, xfs, tmpfs...)
PATH_MAX = 4096  # bytes in a whole path passed to the kernel


def usable(listing: Mapping[str, RemoteObject], root_bytes: int) -> tuple[dict[str, RemoteObject], list[tuple[str, str]]]:
    """The objects that can become local files below a root of ``root_bytes``, and (key, reason) of the rest.

    Folder markers (``dir/``) are dropped silently; every other key that cannot be written
    (escaping, a name over NAME_MAX, a path over PATH_MAX, a file that is also a folder) is
    reported, so one bad key never stops the sync of the others.
    """
    remote: dict[str, RemoteObject] = {}
    skipped: list[tuple[str, str]] = []
    for rel, obj in sorted(listing.items()):
        if not rel or (rel.endswith("/") and safe_rel(rel.rstrip("/"))):
            continue  # the prefix itself, or a folder marker the S3 console makes
        why = unusable(rel, root_bytes)
        if why is None:
            remote[rel] = obj
        else:
            skipped.append((obj.key, why))
    for rel in [r for r in remote if any(parent in remote for parent in _parents(r))]:
        skipped.append((remote.pop(rel).key, "a folder on its path is also a file key"))
    return remote, skipped


def unusable(rel: str, root_bytes: int) -> str | None:
    """Why the key suffix ``rel`` cannot be a local file (None when it can)."""
    if not safe_rel(rel):
        return "the key would leave the DAG folder (.., //, \\, NUL or an absolute path)"
    longest = max(len(part.encode()) for part in rel.split("/"))
    if longest > NAME_MAX:
        return f"a file or folder name in it is {longest} bytes long; the limit is {NAME_MAX}"
    if root_bytes + len(rel.encode()) + 1 >= PATH_MAX:
        return f"the local path would be longer than {PATH_MAX} bytes"
    return None


def _parents(rel: str) -> list[str]:
    """``a/b/c.py`` -> ``["a", "a/b"]``."""
    parts = rel.split("/")
    return ["/".join(parts[:n]) for n in range(1, len(parts))]


def plan(previous: Mapping[str, FileEntry], remote: Mapping[str, RemoteObject]) -> Plan:
    """Compare the current manifest with the listing (ETag + size) and decide what to do."""
    keep, fetch, added = [], [], []
    for rel, obj in sorted(remote.items()):
        old = previous.get(rel)
        if old is not None and old.etag == obj.etag and old.size == obj.size:
            keep.append(rel)
        else:
            fetch.append(rel)
            if old is None:
                added.append(rel)
    removed = sorted(set(previous) - set(remote))
    return Plan(keep, fetch, removed, added)


def current_generation(link: Path) -> Path | None:
    """The generation directory the DAG folder symlink points to, if there is one."""
    if not link.is_symlink():
        return None
    target = Path(os.path.realpath(link))
    return target if target.is_dir() else None


def read_manifest(gen: Path | None) -> Manifest:
    """The manifest of a generation (empty when none or unreadable)."""
    if gen is None:
        return Manifest()
    try:
        return Manifest.decode((gen / MANIFEST).read_text())
    except (OSError, ValueError, TypeError):
        return Manifest()


def new_staging(root: Path) -> Path:
    """A fresh, empty staging directory under the generations root."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{_STAGING}{uuid.uuid4().hex[:12]}"
    path.mkdir()
    return path


def link_or_copy(src: Path, dest: Path) -> None:
    """Hard-link ``src`` to ``dest`` (same inode, no I/O); copy if linking is impossible."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def publish(staging: Path, manifest: Manifest) -> Path:
    """Write the manifest and give the staged directory its final generation name."""
    (staging / MANIFEST).write_text(manifest.encode())
    final = staging.parent / f"g{manifest.generation:08d}-{uuid.uuid4().hex[:8]}"
    staging.rename(final)
    return final


def flip(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` atomically (symlink to a temp name, then rename over)."""
    link.parent.mkdir(parents=True, exist_ok=True)
    _adopt_plain_dir(link)
    tmp = link.parent / f".{link.name}.tmp-{uuid.uuid4().hex[:8]}"
    os.symlink(target, tmp, target_is_directory=True)
    try:
        os.replace(tmp, link)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def _adopt_plain_dir(link: Path) -> None:
    """Make room for the symlink at ``link`` on a first sync."""
    # First sync on a machine where the folder already exists as a real directory: an empty
    # one is replaced; one with files is the user's, and we refuse rather than delete it.
    if link.is_symlink() or not link.exists():
        return
    if link.is_dir() and not any(link.iterdir()):
        link.rmdir()
        return
    raise SyncError(f"{link} is a real directory with files in it; dag_sync manages it as a symlink. "
                    "Move the files away or point core.dags_folder elsewhere.")


def prune(root: Path, keep: int, active: Path) -> list[Path]:
    """Remove generations beyond the newest ``keep`` (never ``active``) and stale staging dirs."""
    if not root.is_dir():
        return []
    gens = sorted((p for p in root.iterdir() if p.name.startswith("g") and p.is_dir()), key=_seq, reverse=True)
    doomed = [p for p in gens[max(keep, 1):] if p != active]
    doomed += [p for p in root.iterdir() if p.name.startswith(_STAGING)]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    return doomed


def _seq(path: Path) -> int:
    """The sequence number in a generation directory name (-1 if none)."""
    try:
        return int(path.name[1:].split("-", 1)[0])
    except ValueError:
        return -1


def local_path(gen: Path, rel: str) -> Path:
    """Where file ``rel`` lives inside a generation directory."""
    return gen.joinpath(*PurePosixPath(rel).parts)


def as_dict(manifest: Manifest) -> dict[str, Any]:
    """The manifest as plain data (for status output)."""
    return asdict(manifest)
