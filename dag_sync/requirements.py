"""requirements.txt: versioned site directories, a shared wheelhouse, and a protected runtime.

Each requirements text (by SHA-256) gets its own ``pip install --target`` directory; the
``current`` symlink moves to it only after pip succeeded, so a broken file keeps the last good
environment. Wheels are built once (``pip wheel``) and stored in S3 under
``<prefix>/.windsock/wheelhouse/<sha256>/<python-platform>/``; other containers install from
there offline. A constraints file pins every distribution of the running interpreter, so a
user requirement cannot replace the runtime's own packages. Airflow provider packages install
without Apache Airflow (``providers.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from dag_sync import providers, reqfile
from dag_sync import s3 as s3io
from dag_sync.config import SyncConfig
from dag_sync.errors import RequirementsError
from dag_sync.generations import flip

COMPLETE = ".windsock_complete"
INDEX = "index.json"
_LINE_PATTERNS = [re.compile(r"\(line (\d+)\)"), re.compile(r"from line (\d+) of"), re.compile(r"line (\d+) of ")]


@dataclass(frozen=True)
class Installed:
    """Outcome of a successful ``ensure``: the active site dir and how it was obtained."""

    sha256: str
    site: Path
    how: str  # "reused" | "wheelhouse" | "built" | "empty"


def requirements_hash(text: bytes) -> str:
    """Hex SHA-256 of a requirements file's bytes: the key of its site dir and wheelhouse."""
    return hashlib.sha256(text).hexdigest()


def env_tag() -> str:
    """Interpreter + platform + provider-pins tag; wheels built here are only reused by the same kind of
    host running a Windsock that supports the same provider versions."""
    from runtime.compat.provider_deps import PROVIDERS_IN

    plat = re.sub(r"[^A-Za-z0-9]+", "_", sysconfig.get_platform())
    pins = hashlib.sha256(PROVIDERS_IN.read_bytes()).hexdigest()[:8] if PROVIDERS_IN.exists() else "none"
    return f"cp{sys.version_info.major}{sys.version_info.minor}-{plat}-p{pins}"


def constraints_text() -> str:
    """``name==version`` for every distribution the runtime has installed."""
    from importlib.metadata import distributions

    pins: dict[str, str] = {}
    for dist in distributions():
        name, version = dist.metadata["Name"], dist.version
        if name and version and _valid_version(version):
            pins.setdefault(re.sub(r"[-_.]+", "-", name).lower(), version)
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def _valid_version(version: str) -> bool:
    """True when ``version`` is a PEP 440 version (pip rejects others in constraints)."""
    try:
        from packaging.version import InvalidVersion, Version
    except ImportError:  # pip always vendors it
        from pip._vendor.packaging.version import InvalidVersion, Version  # type: ignore[assignment]
    try:
        Version(version)
    except InvalidVersion:
        return False
    return True


def error_line(output: str, text: bytes) -> int | None:
    """The requirements.txt line pip complained about, from its message or by package name."""
    for pattern in _LINE_PATTERNS:
        match = pattern.search(output)
        if match:
            return int(match.group(1))
    return _line_by_name(output, text.decode("utf-8", "replace").splitlines())


def _line_by_name(output: str, lines: list[str]) -> int | None:
    """The first requirements line whose package name appears in pip's errors."""
    error_text = "\n".join(line for line in output.splitlines() if "ERROR" in line or "error" in line)
    for number, line in enumerate(lines, start=1):
        name = re.split(r"[\s<>=!~;\[@]", line.split("#", 1)[0].strip(), maxsplit=1)[0]
        if name and not name.startswith("-") and re.search(rf"\b{re.escape(name)}\b", error_text, re.I):
            return number
    return None


class Installer:
    """Installs one requirements text into its own site dir and switches ``current`` to it."""

    def __init__(self, cfg: SyncConfig, s3: Any, env: Mapping[str, str] | None = None) -> None:
        self.cfg = cfg
        self.s3 = s3
        self.env = dict(os.environ if env is None else env)  # pip sees the startup script's exports
        self.root = cfg.state_dir / "requirements"

    def ensure(self, text: bytes) -> Installed:
        """Make ``text`` the active environment; RequirementsError keeps the previous one."""
        sha = requirements_hash(text)
        checked = reqfile.check(text, str(self.cfg.plugins_folder))
        if checked.refused:  # before pip: a refused line never reaches it, and nothing is dropped silently
            first = checked.refused[0][0].number
            raise RequirementsError(f"requirements.txt not installed: {checked.refusal()}", "", first)
        plan = providers.plan(checked.requirements)  # a refused provider never reaches pip either
        site = self.root / f"site-{sha[:16]}"
        if (site / COMPLETE).exists():
            return self._activate(Installed(sha, site, "reused"))
        if not checked.requirements:
            return self._activate(Installed(sha, self._finish(self._staging(), site, text), "empty"))
        how = self._fill_wheelhouse(sha, text, checked, plan)
        staging = self._staging()
        try:
            self._pip(["install", "--no-index", "--no-deps", "--target", str(staging), *self._wheels(sha)], text)
            shadowing = providers.airflow_left_in(staging)
            if shadowing:
                raise RequirementsError(f"requirements.txt not installed: {shadowing}; Windsock replaces Apache "
                                        "Airflow and its import hook would be off")
        except RequirementsError:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self._activate(Installed(sha, self._finish(staging, site, text), how))

    def active_sha(self) -> str | None:
        """SHA-256 prefix of the active environment, from the ``current`` link."""
        if not self.cfg.site_dir.is_symlink():
            return None
        return Path(self.cfg.site_dir.resolve()).name.removeprefix("site-")

    def _wheelhouse(self, sha: str) -> Path:
        """Local folder of the wheels for one requirements hash."""
        return self.root / "wheelhouse" / sha[:16]

    def _wheels(self, sha: str) -> list[str]:
        """The wheel files in the local wheelhouse of ``sha``."""
        return sorted(str(p) for p in self._wheelhouse(sha).glob("*.whl"))

    def _remote(self, sha: str) -> str:
        """S3 key prefix of the shared wheelhouse for ``sha`` on this interpreter/platform."""
        return f"{self.cfg.wheelhouse_prefix}{sha}/{env_tag()}/"

    def _fill_wheelhouse(self, sha: str, text: bytes, checked: reqfile.Checked | None = None,
                         plan: providers.Plan | None = None) -> str:
        """Get the wheels for ``text``: from the shared wheelhouse, or build and share them."""
        house = self._wheelhouse(sha)
        if (house / INDEX).exists():
            return "wheelhouse"
        shutil.rmtree(house, ignore_errors=True)
        house.mkdir(parents=True)
        if self._download_wheelhouse(sha, house):
            return "wheelhouse"
        if checked is not None and plan is not None and plan.providers:
            self._build_with_providers(house, text, checked, plan)
        else:
            self._pip(["wheel", "--wheel-dir", str(house), "-r", "{req}", "-c", "{constraints}"], text)
        self._upload_wheelhouse(sha, house)
        return "built"

    def _build_with_providers(self, house: Path, text: bytes, checked: reqfile.Checked, plan: providers.Plan) -> None:
        """Provider wheels without their Airflow requirement, then everything else resolved by pip."""
        sources = [line.text for line in checked.sources]

        def fetch(pins: list[str]) -> None:
            self._pip(["wheel", "--no-deps", "--wheel-dir", str(house), "-r", "{req}"], text,
                      req_text="\n".join(sources + pins) + "\n")

        ordinary = providers.close(plan, house, fetch)
        rest = [line.text for line in plan.others] + ordinary
        if rest:
            self._pip(["wheel", "--wheel-dir", str(house), "-r", "{req}", "-c", "{constraints}"], text,
                      req_text="\n".join(sources + rest) + "\n")

    def _download_wheelhouse(self, sha: str, house: Path) -> bool:
        """Fetch a complete shared wheelhouse (index first); False when there is none."""
        found = s3io.get_bytes(self.s3, self.cfg.bucket, self._remote(sha) + INDEX)
        if found is None:
            return False
        index = json.loads(found[0])
        for name in index["wheels"]:
            s3io.download(self.s3, self.cfg.bucket, self._remote(sha) + name, house / name)
        (house / INDEX).write_bytes(found[0])
        return True

    def _upload_wheelhouse(self, sha: str, house: Path) -> None:
        """Upload every wheel, then the index last: readers trust only a complete wheelhouse."""
        wheels = sorted(p.name for p in house.glob("*.whl"))
        with s3io.translated(f"cannot upload the wheelhouse to s3://{self.cfg.bucket}/{self._remote(sha)}"):
            for name in wheels:
                self.s3.upload_file(str(house / name), self.cfg.bucket, self._remote(sha) + name)
            index = json.dumps({"sha256": sha, "tag": env_tag(), "wheels": wheels}).encode()
            self.s3.put_object(Bucket=self.cfg.bucket, Key=self._remote(sha) + INDEX, Body=index)
        (house / INDEX).write_bytes(index)

    def _pip(self, args: list[str], text: bytes, req_text: str | None = None) -> None:
        """Run pip with the requirements (``req_text``, else ``text``) and constraints files; RequirementsError on failure."""
        work = self.root / "work"
        work.mkdir(parents=True, exist_ok=True)
        req, cons = work / "requirements.txt", work / "constraints.txt"
        req.write_bytes(text if req_text is None else req_text.encode())
        runtime_pins = constraints_text()
        cons.write_text(runtime_pins + providers.lock_constraints(runtime_pins))
        argv = [a.replace("{req}", str(req)).replace("{constraints}", str(cons)) for a in args]
        try:
            done = subprocess.run([sys.executable, "-m", "pip", *argv, "--disable-pip-version-check",
                                   "--no-input"], capture_output=True, text=True, timeout=self.cfg.pip_timeout,
                                  env=self.env)
        except subprocess.TimeoutExpired:
            raise RequirementsError(f"pip {args[0]} timed out after {self.cfg.pip_timeout:g} s") from None
        if done.returncode != 0:
            self._fail(args[0], done.stdout + done.stderr, text)

    def _fail(self, verb: str, output: str, text: bytes) -> NoReturn:
        """Raise RequirementsError with pip's first ERROR line, the line number and the output."""
        line = error_line(output, text)
        errors = [ln.strip() for ln in output.splitlines() if ln.startswith("ERROR")]
        where = f" (requirements.txt line {line})" if line else ""
        reason = errors[0] if errors else f"pip {verb} failed"
        if re.search(r"apache-airflow(-core|-task-sdk)?[<>=! ]", output) and "constraint" in output.lower():
            reason = ("a requirement needs Apache Airflow itself, which Windsock replaces (its import hook would be "
                      f"off); only the supported provider packages install without it. pip: {reason}")
        raise RequirementsError(f"requirements.txt not installed{where}: {reason}", output, line)

    def _staging(self) -> Path:
        """A fresh staging directory for a site dir."""
        path = self.root / f".staging-{uuid.uuid4().hex[:8]}"
        path.mkdir(parents=True)
        return path

    def _finish(self, staging: Path, site: Path, text: bytes) -> Path:
        """Mark a staged site dir complete and move it to its final name."""
        (staging / ".windsock_requirements.txt").write_bytes(text)
        (staging / COMPLETE).write_text("ok\n")
        if site.exists():  # a racing process in the same home finished first
            shutil.rmtree(staging, ignore_errors=True)
        else:
            staging.rename(site)
        return site

    def _activate(self, installed: Installed) -> Installed:
        """Point ``current`` at the site dir and prune old ones."""
        os.utime(installed.site)  # pruning keeps the most recently active dirs
        flip(self.cfg.site_dir, installed.site)
        self._prune(installed.site)
        return installed

    def _prune(self, active: Path) -> None:
        """Keep the active site dir and the previous one; drop older ones and stale staging."""
        sites = sorted(self.root.glob("site-*"), key=lambda p: p.stat().st_mtime, reverse=True)
        doomed = [p for p in sites if p != active][1:] + list(self.root.glob(".staging-*"))
        kept = {p.name.removeprefix("site-") for p in sites if p not in doomed}
        doomed += [p for p in self.root.glob("wheelhouse/*") if p.name not in kept]
        for old in doomed:
            shutil.rmtree(old, ignore_errors=True)
