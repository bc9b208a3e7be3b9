"""plugins.zip: validate every entry first, then extract into a versioned folder.

Nothing is written unless the whole archive passes: no absolute paths, no entry escaping the
folder (zip-slip), no symlink entries, and the archive and its unpacked size under the limit.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import stat
import uuid
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from dag_sync.errors import PluginsError

INFO_FILE = ".windsock_plugins.json"
_DRIVE = re.compile(r"^[A-Za-z]:")


def check_entry(info: zipfile.ZipInfo) -> str | None:
    """Why an archive entry is refused, or None when it is safe to extract."""
    name = info.filename
    if name.startswith("/") or _DRIVE.match(name) or "\\" in name:
        return f"absolute or non-POSIX path {name!r}"
    if ".." in PurePosixPath(name).parts:
        return f"path {name!r} escapes the plugins folder (zip-slip)"
    if stat.S_ISLNK(info.external_attr >> 16):
        return f"symlink entry {name!r}"
    return None


def check_archive(archive: zipfile.ZipFile, max_bytes: int) -> None:
    """Raise PluginsError naming the first unsafe entry, or when unpacked size exceeds the limit."""
    total = 0
    for info in archive.infolist():
        reason = check_entry(info)
        if reason:
            raise PluginsError(f"plugins.zip rejected, nothing extracted: {reason}")
        total += info.file_size
    if total > max_bytes:
        raise PluginsError(f"plugins.zip rejected, nothing extracted: unpacks to {total} bytes, "
                           f"limit is {max_bytes} (WINDSOCK_PLUGINS_MAX_BYTES)")


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def extract(zip_path: Path, root: Path, max_bytes: int, info: Mapping[str, object]) -> Path:
    """Validate and extract ``zip_path`` into ``root/<sha>``; returns that folder (reused if there)."""
    if zip_path.stat().st_size > max_bytes:
        raise PluginsError(f"plugins.zip rejected: {zip_path.stat().st_size} bytes, limit is {max_bytes}")
    sha = sha256_file(zip_path)
    dest = root / sha[:16]
    if dest.is_dir():
        return dest
    try:
        with zipfile.ZipFile(zip_path) as archive:
            check_archive(archive, max_bytes)
            staging = root / f".staging-{uuid.uuid4().hex[:8]}"
            _extract_all(archive, staging)
    except zipfile.BadZipFile as exc:
        raise PluginsError(f"plugins.zip is not a valid zip archive: {exc}") from None
    (staging / INFO_FILE).write_text(json.dumps({**info, "sha256": sha}))
    staging.rename(dest)
    return dest


def _extract_all(archive: zipfile.ZipFile, staging: Path) -> None:
    """Write every entry into ``staging``; remove it all on any failure."""
    staging.mkdir(parents=True)
    try:
        for info in archive.infolist():
            target = staging.joinpath(*PurePosixPath(info.filename).parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def empty_folder(root: Path) -> Path:
    """The folder used when there is no plugins.zip."""
    path = root / "empty"
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_info(folder: Path) -> dict[str, object]:
    """The source info recorded in an extracted plugins folder ({} when none)."""
    try:
        data = json.loads((folder / INFO_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
