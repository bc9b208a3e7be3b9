"""Syncer: one full or partial sync of DAGs, plugins and requirements; each part a method.

One file lock per part under $WINDSOCK_HOME serialises syncers sharing a home (the
background thread and a ``windsock sync once``, say) without making a DAG sync wait for a
long pip run. Each part records its outcome in the status file.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dag_sync import generations as gens
from dag_sync import plugins as plug
from dag_sync import providers, reqfile
from dag_sync import s3 as s3io
from dag_sync.config import SyncConfig
from dag_sync.errors import PluginsError, RequirementsError, S3UnreachableError, StartupScriptError, SyncError
from dag_sync.requirements import Installer, requirements_hash
from dag_sync.startup import run_startup
from dag_sync.status import file_lock, read_status, update_status

log = logging.getLogger("dag_sync")
PARTS = ("dags", "plugins", "requirements")


@dataclass(frozen=True)
class DagsResult:
    """Outcome of a DAG folder sync: the active generation and what changed."""

    changed: bool
    generation: Path
    added: int = 0
    updated: int = 0
    removed: int = 0
    files: int = 0
    skipped: tuple[tuple[str, str], ...] = ()

    def summary(self) -> str:
        """One line for the CLI and the log."""
        note = f"; {len(self.skipped)} key(s) skipped, see 'windsock sync status'" if self.skipped else ""
        if not self.changed:
            return f"dags: unchanged ({self.files} files) -> {self.generation}{note}"
        return (f"dags: {self.added} added, {self.updated} changed, {self.removed} removed "
                f"({self.files} files) -> {self.generation}{note}")


class Syncer:
    """Syncs one bucket/prefix into one Windsock home."""

    def __init__(self, cfg: SyncConfig, s3: Any = None, clock: Callable[[], float] = time.time,
                 pip_env: Mapping[str, str] | None = None) -> None:
        self.cfg = cfg
        self.s3 = s3 if s3 is not None else s3io.client(cfg)
        self.clock = clock
        self.installer = Installer(cfg, self.s3, pip_env)

    @contextmanager
    def _locked(self, part: str) -> Iterator[None]:
        """Hold the home's lock of one part (threads and processes alike)."""
        with file_lock(self.cfg.state_dir / f".lock-{part}"):
            yield

    # -- all parts ------------------------------------------------------------------------

    def sync(self, parts: tuple[str, ...] | set[str] = PARTS) -> list[str]:
        """Sync the given parts; plugin/requirement failures are recorded, S3 failures raise."""
        lines = []
        for part in PARTS:
            if part in parts:
                lines.append(self._sync_part(part))
        return lines

    def _sync_part(self, part: str) -> str:
        """Sync one part; plugin/requirement failures become a FAILED line."""
        try:
            if part == "dags":
                return self.sync_dags().summary()
            return self.sync_plugins() if part == "plugins" else self.sync_requirements()
        except (PluginsError, RequirementsError) as exc:
            log.error("%s", exc)
            return f"{part}: FAILED, last good kept: {exc}"

    # -- DAG folder -----------------------------------------------------------------------

    def sync_dags(self) -> DagsResult:
        """Mirror the DAG prefix into a new generation and flip to it, if anything changed."""
        with self._locked("dags"):
            try:
                result = self._sync_dags()
            except SyncError as exc:
                update_status(self.cfg.home, "dags", self._dags_status(None, error=str(exc)))
                raise
            except OSError as exc:  # the local side (a full disk, a permission): the status must say so
                error = f"cannot write the DAG folder: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
                update_status(self.cfg.home, "dags", self._dags_status(None, error=error))
                raise SyncError(error) from None
            for key, why in result.skipped:
                log.warning("dags: skipped s3://%s/%s: %s", self.cfg.bucket, key, why)
            update_status(self.cfg.home, "dags", self._dags_status(result))
            return result

    def _sync_dags(self) -> DagsResult:
        """List, plan, stage, flip and prune; the caller holds the lock."""
        current = gens.current_generation(self.cfg.dags_folder)
        before = gens.read_manifest(current)
        listing = s3io.list_prefix(self.s3, self.cfg.bucket, self.cfg.dags_key_prefix)
        # the longest local root a key lands under: <state>/dags/.staging-<12 hex>/
        remote, skipped = gens.usable(listing, len(str(self.cfg.state_dir / "dags").encode()) + 24)
        plan = gens.plan(before.files, remote)
        if current is not None and not plan.changed:
            return DagsResult(False, current, files=len(remote), skipped=tuple(skipped))
        gen = self._stage(current, before, remote, plan)
        gens.flip(self.cfg.dags_folder, gen)
        gens.prune(gen.parent, self.cfg.keep_generations, gen)
        updated = len(plan.fetch) - len(plan.added)
        return DagsResult(True, gen, len(plan.added), updated, len(plan.removed), len(remote), tuple(skipped))

    def _stage(self, current: Path | None, before: gens.Manifest, remote: Mapping[str, s3io.RemoteObject],
               plan: gens.Plan) -> Path:
        """Build the new generation: link unchanged files, download the rest in parallel."""
        staging = gens.new_staging(self.cfg.state_dir / "dags")
        try:
            kept = self._link_unchanged(current, staging, plan.keep)
            fetch = [rel for rel in remote if rel not in kept]
            fetched = self._download_all(staging, [remote[rel] for rel in fetch])
            now = self.clock()
            files = {rel: before.files[rel] for rel in kept}
            files.update({rel: gens.FileEntry(remote[rel].key, f.etag, f.size, f.version_id, now)
                          for rel, f in fetched.items()})
            manifest = gens.Manifest(before.generation + 1, self.cfg.describe(), now, files)
            return gens.publish(staging, manifest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _link_unchanged(self, current: Path | None, staging: Path, keep: list[str]) -> set[str]:
        """Hard-link kept files into the staging dir; returns those that were linked."""
        kept = set()
        for rel in keep:
            try:
                gens.link_or_copy(gens.local_path(current, rel), gens.local_path(staging, rel))  # type: ignore[arg-type]
                kept.add(rel)
            except OSError:  # the local copy went missing: download it again
                continue
        return kept

    def _download_all(self, staging: Path, objects: list[s3io.RemoteObject]) -> dict[str, s3io.Fetched]:
        """Download objects into the staging dir, in parallel."""
        for obj in objects:
            gens.local_path(staging, obj.rel).parent.mkdir(parents=True, exist_ok=True)
        if not objects:
            return {}
        workers = max(1, min(self.cfg.download_workers, len(objects)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dag-sync-dl") as pool:
            futures = {obj.rel: pool.submit(s3io.download, self.s3, self.cfg.bucket, obj.key,
                                            gens.local_path(staging, obj.rel)) for obj in objects}
            return {rel: fut.result() for rel, fut in futures.items()}

    def _dags_status(self, result: DagsResult | None, error: str | None = None) -> dict[str, Any]:
        """The ``dags`` status section after a sync (or a failure)."""
        previous = read_status(self.cfg.home).get("dags", {})
        if result is None:
            return {**previous, "state": "failed", "error": error, "checked_at": self.clock()}
        manifest = gens.read_manifest(result.generation)
        changed_at = manifest.synced_at if result.changed else previous.get("changed_at", manifest.synced_at)
        return {"state": "ok", "error": None, "checked_at": self.clock(), "changed_at": changed_at,
                "generation": manifest.generation, "path": str(result.generation), "files": result.files,
                "last_change": result.summary() if result.changed else previous.get("last_change"),
                "skipped": [f"s3://{self.cfg.bucket}/{key}: {why}" for key, why in result.skipped]}

    # -- plugins --------------------------------------------------------------------------

    def sync_plugins(self) -> str:
        """Extract plugins.zip (if it changed) into a new folder and flip the plugins link."""
        with self._locked("plugins"):
            try:
                line = self._sync_plugins()
            except (PluginsError, S3UnreachableError) as exc:
                update_status(self.cfg.home, "plugins", {**self._plugins_status(), "state": "failed",
                                                         "error": str(exc)})
                raise
            update_status(self.cfg.home, "plugins", {**self._plugins_status(), "state": "ok", "error": None})
            return line

    def _sync_plugins(self) -> str:
        """Resolve plugins.zip to an extracted folder and flip the plugins link to it."""
        root = self.cfg.state_dir / "plugins"
        root.mkdir(parents=True, exist_ok=True)
        key = self.cfg.key(self.cfg.plugins_path)
        meta = s3io.head(self.s3, self.cfg.bucket, key, self.cfg.plugins_version)
        if meta is None and self.cfg.plugins_version:
            raise PluginsError(f"pinned version {self.cfg.plugins_version} of s3://{self.cfg.bucket}/{key} "
                               "not found")
        target = plug.empty_folder(root) if meta is None else self._plugins_folder_for(root, key, meta)
        active = Path(os.path.realpath(self.cfg.plugins_folder)) if self.cfg.plugins_folder.is_symlink() else None
        if active == target:
            return f"plugins: unchanged -> {target}"
        gens.flip(self.cfg.plugins_folder, target)
        self._prune_plugins(root, target, active)
        return f"plugins: {'none' if meta is None else key} -> {target}"

    def _plugins_folder_for(self, root: Path, key: str, meta: s3io.Fetched) -> Path:
        """The extracted folder for this plugins.zip version, extracting it if needed."""
        info = {"key": key, "etag": meta.etag, "version_id": meta.version_id}
        active = plug.read_info(self.cfg.plugins_folder)
        if all(active.get(k) == v for k, v in info.items()):
            return Path(os.path.realpath(self.cfg.plugins_folder))
        if meta.size > self.cfg.max_plugins_bytes:
            raise PluginsError(f"plugins.zip rejected: {meta.size} bytes, limit is {self.cfg.max_plugins_bytes} "
                               "(WINDSOCK_PLUGINS_MAX_BYTES); nothing extracted")
        tmp = root / f".download-{uuid.uuid4().hex[:8]}.zip"
        try:
            s3io.download(self.s3, self.cfg.bucket, key, tmp, self.cfg.plugins_version or meta.version_id)
            return plug.extract(tmp, root, self.cfg.max_plugins_bytes, info)
        finally:
            tmp.unlink(missing_ok=True)

    def _prune_plugins(self, root: Path, target: Path, previous: Path | None) -> None:
        """Remove plugin folders other than the active, the previous and the empty one."""
        for path in root.iterdir():
            if path not in (target, previous) and path.name != "empty":
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)

    def _plugins_status(self) -> dict[str, Any]:
        """The ``plugins`` status section."""
        folder = self.cfg.plugins_folder
        return {"checked_at": self.clock(), "folder": str(folder), "active": os.path.realpath(folder),
                "source": plug.read_info(folder)}

    # -- requirements ---------------------------------------------------------------------

    def sync_requirements(self) -> str:
        """Install requirements.txt if it changed; a failure keeps the active environment."""
        with self._locked("requirements"):
            key = self.cfg.key(self.cfg.requirements_path)
            text, version = self._fetch_requirements(key)
            sha = requirements_hash(text)
            previous = read_status(self.cfg.home).get("requirements", {})
            if self.installer.active_sha() == sha[:16] and previous.get("requested") == sha:
                if previous.get("state") != "ok":  # a fetch failed earlier; this one worked
                    update_status(self.cfg.home, "requirements", {**previous, "state": "ok", "error": None})
                return f"requirements: unchanged ({sha[:12]})"
            if previous.get("requested") == sha and previous.get("state") == "failed":
                return f"requirements: unchanged, still failing ({sha[:12]}): {previous.get('error', {}).get('message')}"
            return self._install(text, sha, key, version)

    def _fetch_requirements(self, key: str) -> tuple[bytes, str | None]:
        """The requirements text (empty when there is none) and its version id."""
        try:
            found = s3io.get_bytes(self.s3, self.cfg.bucket, key, self.cfg.requirements_version)
        except S3UnreachableError as exc:
            error = {"message": str(exc), "line": None, "output": ""}
            update_status(self.cfg.home, "requirements", {**read_status(self.cfg.home).get("requirements", {}),
                                                          "state": "failed", "error": error})
            raise
        return (found[0], found[1].version_id) if found else (b"", None)

    def _install(self, text: bytes, sha: str, key: str, version: str | None) -> str:
        """Install via the Installer and record the outcome in the status."""
        sources = reqfile.check(text).shown_sources()  # where packages come from: an index is a trust decision
        base = {"requested": sha, "key": key, "version_id": version, "checked_at": self.clock(), "sources": sources}
        try:
            done = self.installer.ensure(text)
        except RequirementsError as exc:
            error = {"message": str(exc), "line": exc.line, "output": exc.output[-20000:]}
            update_status(self.cfg.home, "requirements", {**base, "state": "failed", "error": error,
                                                          "active": self.installer.active_sha()})
            raise
        update_status(self.cfg.home, "requirements", {**base, "state": "ok", "error": None,
                                                      "active": done.sha256[:16], "site": str(done.site),
                                                      "providers": providers.installed_in(done.site)})
        return f"requirements: {done.how} ({sha[:12]}) -> {done.site}"

    # -- startup script -------------------------------------------------------------------

    def run_startup_script(self, environ: Mapping[str, str]) -> dict[str, str]:
        """Download and run startup.sh (if any); return its exported variables."""
        key = self.cfg.key(self.cfg.startup_path)
        found = s3io.get_bytes(self.s3, self.cfg.bucket, key, self.cfg.startup_version)
        if found is None:
            update_status(self.cfg.home, "startup", {"state": "absent", "key": key, "ran_at": self.clock()})
            return {}
        script = self.cfg.state_dir / "startup.sh"
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_bytes(found[0])
        base = {"key": key, "version_id": found[1].version_id, "ran_at": self.clock(),
                "log": str(self.cfg.state_dir / "startup.log")}
        try:
            exports = run_startup(script, environ, self.cfg.startup_timeout, self.cfg.state_dir / "startup.log")
        except StartupScriptError as exc:
            update_status(self.cfg.home, "startup", {**base, "state": "failed", "exit_code": exc.exit_code,
                                                     "error": str(exc)})
            raise
        update_status(self.cfg.home, "startup", {**base, "state": "ok", "exported": sorted(exports)})
        return exports
