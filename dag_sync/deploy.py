"""``windsock dags deploy``: upload a local DAG folder to S3, only what changed.

A file is unchanged when its MD5 equals the object's ETag (true for single-part uploads
without SSE-KMS, which is how this helper uploads); anything else is uploaded again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dag_sync import s3 as s3io

# Never uploaded: caches and editor/VCS litter. ``.airflowignore`` is a real DAG-folder file.
_SKIP_DIRS = {"__pycache__"}
_KEEP_DOTFILES = {".airflowignore"}


@dataclass
class DeployPlan:
    """Which relative paths to upload, delete, or leave alone."""

    upload: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def local_files(root: Path) -> dict[str, Path]:
    """Every file to deploy under ``root``, keyed by its POSIX path relative to ``root``."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not _skipped(rel.parts):
            found[rel.as_posix()] = path
    return found


def _skipped(parts: tuple[str, ...]) -> bool:
    """True for caches, hidden folders and hidden files other than .airflowignore."""
    *dirs, name = parts
    if any(d in _SKIP_DIRS or d.startswith(".") for d in dirs):
        return True
    return name.endswith(".pyc") or (name.startswith(".") and name not in _KEEP_DOTFILES)


def md5_file(path: Path) -> str:
    """Hex MD5 of a file (what S3 reports as the ETag of a single-part upload)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def plan_deploy(local: dict[str, Path], remote: dict[str, s3io.RemoteObject], delete: bool) -> DeployPlan:
    """Compare local files with the listing; deletions only when asked for."""
    plan = DeployPlan()
    for rel, path in local.items():
        obj = remote.get(rel)
        same = obj is not None and obj.size == path.stat().st_size and obj.etag == md5_file(path)
        (plan.unchanged if same else plan.upload).append(rel)
    if delete:
        plan.delete = sorted(rel for rel in remote if rel not in local)
    return plan


def deploy(s3: Any, root: Path, bucket: str, key_prefix: str, delete: bool = False,
           dry_run: bool = False, say: Callable[[str], None] = print) -> DeployPlan:
    """Upload changed files under ``key_prefix`` (ends in '/'), optionally delete extra objects."""
    remote = s3io.list_prefix(s3, bucket, key_prefix)
    plan = plan_deploy(local_files(root), remote, delete)
    verb = "would " if dry_run else ""
    for rel in plan.upload:
        say(f"{verb}upload {root / rel} -> s3://{bucket}/{key_prefix}{rel}")
        if not dry_run:
            _put(s3, root / rel, bucket, key_prefix + rel)
    for rel in plan.delete:
        say(f"{verb}delete s3://{bucket}/{key_prefix}{rel}")
    if plan.delete and not dry_run:
        _delete(s3, bucket, [key_prefix + rel for rel in plan.delete])
    say(f"{len(plan.upload)} uploaded, {len(plan.delete)} deleted, {len(plan.unchanged)} unchanged")
    return plan


def _put(s3: Any, path: Path, bucket: str, key: str) -> None:
    """Upload one file in a single part (so its ETag is its MD5)."""
    with s3io.translated(f"cannot upload to s3://{bucket}/{key}"), open(path, "rb") as body:
        s3.put_object(Bucket=bucket, Key=key, Body=body)


def _delete(s3: Any, bucket: str, keys: list[str]) -> None:
    """Delete keys, 1 000 per request."""
    with s3io.translated(f"cannot delete from s3://{bucket}"):
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start:start + 1000]]
            s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
