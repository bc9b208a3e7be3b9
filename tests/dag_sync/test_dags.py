"""DAG folder mirror: add/change/delete, nested folders, atomic flip, convergence."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from dag_sync.config import SyncConfig
from dag_sync.errors import S3UnreachableError, SyncError
from dag_sync.generations import MANIFEST, safe_rel
from dag_sync.syncer import Syncer
from tests.dag_sync.conftest import make_env

pytestmark = pytest.mark.aws


def _syncer(env: dict[str, str]) -> Syncer:
    return Syncer(SyncConfig.from_env(env))


def _tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` except dot-files the processor ignores, with its text."""
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != MANIFEST}


def test_add_change_delete_nested_files_and_airflowignore(env: dict[str, str], put: Any, s3: Any,
                                                          bucket: str) -> None:
    """Adds, changes and deletes (nested too) land locally; unchanged files are hard-linked."""
    put("dags/a.py", "a1")
    put("dags/team/b.py", "b1")
    put("dags/team/deep/c.py", "c1")
    put("dags/.airflowignore", "team/deep/skip_.*\n")
    syncer = _syncer(env)
    first = syncer.sync_dags()
    folder = syncer.cfg.dags_folder
    assert folder.is_symlink() and first.added == 4
    assert _tree(folder) == {".airflowignore": "team/deep/skip_.*\n", "a.py": "a1", "team/b.py": "b1",
                             "team/deep/c.py": "c1"}
    inode_c = os.stat(folder / "team/deep/c.py").st_ino

    put("dags/a.py", "a2")
    s3.delete_object(Bucket=bucket, Key="env1/dags/team/b.py")
    second = syncer.sync_dags()
    assert (second.added, second.updated, second.removed) == (0, 1, 1)
    assert _tree(folder) == {".airflowignore": "team/deep/skip_.*\n", "a.py": "a2", "team/deep/c.py": "c1"}
    assert os.stat(folder / "team/deep/c.py").st_ino == inode_c, "unchanged file must be linked, not fetched"
    assert os.path.realpath(folder) != str(first.generation)


def test_sync_without_change_keeps_realpath(env: dict[str, str], put: Any) -> None:
    """The DAG processor's cheap change check: no change, same realpath."""
    put("dags/a.py", "a1")
    syncer = _syncer(env)
    syncer.sync_dags()
    before = os.path.realpath(syncer.cfg.dags_folder)
    result = syncer.sync_dags()
    assert not result.changed and os.path.realpath(syncer.cfg.dags_folder) == before


def test_manifest_records_key_etag_size_version_and_time(env: dict[str, str], put: Any) -> None:
    """The manifest (a dot-file inside the generation) has one entry per synced file."""
    version = put("dags/a.py", "hello")
    syncer = _syncer(env)
    syncer.sync_dags()
    manifest = json.loads((syncer.cfg.dags_folder / MANIFEST).read_text())
    entry = manifest["files"]["a.py"]
    assert entry["key"] == "env1/dags/a.py" and entry["size"] == 5 and entry["version_id"] == version
    assert entry["etag"] == "5d41402abc4b2a76b9719d911017c592" and entry["synced_at"] > 0


def test_old_generations_are_pruned(env: dict[str, str], put: Any) -> None:
    """After many changes only the current and the previous generation remain."""
    syncer = _syncer(env)
    for n in range(5):
        put("dags/a.py", f"v{n}")
        syncer.sync_dags()
    generations = [p for p in (syncer.cfg.state_dir / "dags").iterdir()]
    assert len(generations) == 2 and Path(os.path.realpath(syncer.cfg.dags_folder)) in generations


def test_reader_never_sees_a_half_applied_change(env: dict[str, str], put: Any) -> None:
    """A reader resolving the folder's realpath always reads one consistent version of all files."""
    syncer = _syncer(env)
    names = [f"dags/f{i}.py" if i % 2 else f"dags/sub/f{i}.py" for i in range(8)]
    for name in names:
        put(name, "v0")
    syncer.sync_dags()
    mixed, snapshots, stop = [], [0], threading.Event()

    def reader() -> None:
        while not stop.is_set():
            if not syncer.cfg.dags_folder.is_dir():
                mixed.append({"the DAG folder path was missing"})
            real = Path(os.path.realpath(syncer.cfg.dags_folder))
            try:
                versions = {p.read_text() for p in real.rglob("*.py")}
            except FileNotFoundError:  # a generation two flips old was pruned mid-read
                continue
            snapshots[0] += 1
            if len(versions) != 1:
                mixed.append(versions)

    thread = threading.Thread(target=reader)
    thread.start()
    for round_ in range(1, 13):
        for name in names:
            put(name, f"v{round_}")
        syncer.sync_dags()
    stop.set()
    thread.join()
    assert not mixed, f"reader saw mixed versions: {mixed[:3]}"
    assert snapshots[0] > 20
    assert set(_tree(syncer.cfg.dags_folder).values()) == {"v12"}


def test_two_syncers_converge(aws: str, bucket: str, put: Any, s3: Any, tmp_path: Path) -> None:
    """Two containers (two homes) end with the same files and the same manifest entries."""
    one = _syncer(make_env(aws, bucket, tmp_path / "one"))
    two = _syncer(make_env(aws, bucket, tmp_path / "two"))
    put("dags/a.py", "a1")
    one.sync_dags()
    put("dags/b/b.py", "b1")
    put("dags/a.py", "a2")
    two.sync_dags()
    s3.delete_object(Bucket=bucket, Key="env1/dags/b/b.py")
    put("dags/c.py", "c1")
    one.sync_dags()
    two.sync_dags()
    assert _tree(one.cfg.dags_folder) == _tree(two.cfg.dags_folder) == {"a.py": "a2", "c.py": "c1"}
    files = [json.loads((s.cfg.dags_folder / MANIFEST).read_text())["files"] for s in (one, two)]
    assert {k: v["etag"] for k, v in files[0].items()} == {k: v["etag"] for k, v in files[1].items()}


def test_missing_bucket_is_a_clear_sync_error(env: dict[str, str]) -> None:
    """A bucket that does not exist fails with the bucket named, and is recorded in the status."""
    from dag_sync.status import read_status

    cfg = SyncConfig.from_env({**env, "WINDSOCK_S3_BUCKET": "ws-no-such-bucket-here"})
    with pytest.raises(S3UnreachableError, match="ws-no-such-bucket-here.*NoSuchBucket"):
        Syncer(cfg).sync_dags()
    assert read_status(cfg.home)["dags"]["state"] == "failed"


def test_real_directory_with_user_files_is_not_replaced(env: dict[str, str], put: Any, tmp_path: Path) -> None:
    """A DAG folder that is a real directory with files is refused, not deleted."""
    cfg = SyncConfig.from_env(env)
    cfg.dags_folder.mkdir(parents=True)
    (cfg.dags_folder / "mine.py").write_text("x")
    put("dags/a.py", "a1")
    with pytest.raises(SyncError, match="real directory with files"):
        Syncer(cfg).sync_dags()
    assert (cfg.dags_folder / "mine.py").read_text() == "x"


@pytest.mark.parametrize("rel,ok", [("a.py", True), ("x/y.py", True), ("../evil.py", False), ("x/../../e", False),
                                    ("/abs.py", False), ("folder/", False), ("a//b.py", False), (MANIFEST, False)])
def test_keys_that_could_escape_the_folder_are_not_synced(rel: str, ok: bool) -> None:
    """S3 keys may contain '..' or '//'; those never become local paths."""
    assert safe_rel(rel) is ok
