"""The image's install recipe, checked without a Docker engine (none exists on these machines).

The Dockerfile installs through ``runtime/container/install.sh`` (``deps`` from the hash-checked
lock, then ``project``); these tests check that layering in the Dockerfile, that the lock still
satisfies pyproject.toml, and then run the very same script with the image's Python minor
version in a fresh venv and start every role from it: ``windsock container ROLE --check``, and
the scheduler for real (DAG sync from moto's S3, schema on SQLite, health check, SIGTERM).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from runtime.cli.main import build_parser
from runtime.container.cli import COMPONENTS
from tests import services

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "runtime" / "container"
LOCK = RECIPE / "requirements.lock"
IMAGE_EXTRAS = ("aws", "postgres")
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)")


def locked() -> dict[str, tuple[Version, int]]:
    """Normalized name -> (pinned version, number of hashes) from the lock file."""
    pins: dict[str, tuple[Version, int]] = {}
    name = ""
    for line in LOCK.read_text().splitlines():
        match = PIN.match(line)
        if match:
            name = match.group(1).lower().replace("_", "-")
            pins[name] = (Version(match.group(2)), 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            version, hashes = pins[name]
            pins[name] = (version, hashes + 1)
    return pins


def image_requirements() -> list[Requirement]:
    """What the image must satisfy: base dependencies, the image's extras, the build requirements."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    texts = list(project["project"]["dependencies"])
    for extra in IMAGE_EXTRAS:
        texts += project["project"]["optional-dependencies"][extra]
    texts += project["build-system"]["requires"]
    return [Requirement(text) for text in texts]


def test_dockerfile_installs_locked_dependencies_in_a_layer_before_the_source() -> None:
    """Layer 1 copies only the recipe and the lock and runs `install.sh deps`; the source comes after."""
    lines = [line.strip() for line in (REPO / "Dockerfile").read_text().splitlines()]
    deps = lines.index("RUN sh /opt/windsock/recipe/install.sh deps")
    copies = [i for i, line in enumerate(lines) if line.startswith("COPY ")]
    assert (
        lines[copies[0]]
        == "COPY runtime/container/install.sh runtime/container/requirements.lock /opt/windsock/recipe/"
    )
    assert copies[0] < deps < copies[1]
    project = next(i for i, line in enumerate(lines) if "install.sh project" in line)
    assert max(copies) < project
    assert 'VOLUME ["/opt/windsock/home", "/tmp"]' in lines


def test_lock_pins_every_image_requirement_with_hashes() -> None:
    """Every requirement of the image is pinned (a version its specifier accepts) with sha256 hashes."""
    pins = locked()
    for requirement in image_requirements():
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not in {LOCK.name}: run scripts/lock_image"
        version, hashes = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (requirement, version)
        assert hashes >= 1, name
    assert all(hashes >= 1 for _, hashes in pins.values())


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of the image: no pip configuration of this machine, no project on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(
        {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    )
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A venv built exactly as the image is: `install.sh deps`, then `install.sh project` on a copy of the context."""
    if sys.version_info[:2] != (3, 11):
        services.unavailable(
            f"the image uses Python 3.11; this is {sys.version_info[0]}.{sys.version_info[1]}"
        )
    root = tmp_path_factory.mktemp("image")
    venv, src = root / "venv", root / "src"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name if src.exists() else _mkdir(src) / name)
    for package in ("runtime", "dag_sync"):
        shutil.copytree(REPO / package, src / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = _clean_env(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}")
    for step in (["deps"], ["project", str(src)]):
        result = subprocess.run(
            ["sh", str(RECIPE / "install.sh"), *step],
            env=env,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0 and "deps" in step and _offline(result.stderr):
            services.unavailable(
                f"PyPI is not reachable for the image's dependencies: {result.stderr[-300:]}"
            )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    yield venv


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _offline(stderr: str) -> bool:
    return any(
        text in stderr for text in ("Temporary failure in name resolution", "No matching distribution")
    )


def registered_commands() -> set[str]:
    """Top-level commands of this source tree's CLI (the venv installs the same tree)."""
    return set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


@pytest.mark.parametrize("role", sorted(COMPONENTS))
def test_recipe_venv_can_start_every_role(image_venv: Path, role: str, tmp_path: Path) -> None:
    """`windsock container ROLE --check` from the recipe venv: ready for every role whose command exists.

    A role whose component command is not built yet fails its check with a line naming that command.
    """
    env = _clean_env(WINDSOCK_HOME=str(tmp_path / "home"), TMPDIR=str(tmp_path))
    result = subprocess.run(
        [str(image_venv / "bin" / "windsock"), "container", role, "--check"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "ok   python 3.11" in result.stdout and "ok   import psycopg2" in result.stdout
    if COMPONENTS[role] in registered_commands():
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.rstrip().endswith(f"container {role}: ready")
    else:
        assert result.returncode == 1
        assert f"FAIL command 'windsock {COMPONENTS[role]}': not registered" in result.stdout


@pytest.mark.aws
def test_recipe_venv_runs_the_scheduler_container_until_sigterm(
    image_venv: Path, moto_endpoint: str, tmp_path: Path
) -> None:
    """The scheduler container from the recipe venv syncs, creates the schema, runs, is healthy, stops on SIGTERM."""
    boto3 = pytest.importorskip("boto3")
    aws = services.aws_env(moto_endpoint)
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = f"recipe-{int(time.time() * 1000)}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="dags/hello.py", Body=b"# no DAG here\n")
    home = tmp_path / "home"
    env = _clean_env(
        **aws,
        WINDSOCK_HOME=str(home),
        WINDSOCK_ROLE="scheduler",
        WINDSOCK_S3_BUCKET=bucket,
        WINDSOCK_S3_PREFIX="",
        WINDSOCK_FERNET_SECRET="f" * 64,
        WINDSOCK__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/windsock.db",
        WINDSOCK__CORE__EXECUTOR="LocalExecutor",
        WINDSOCK__LOGGING__LOGGING_LEVEL="INFO",
        TMPDIR=str(tmp_path),
    )
    windsock = str(image_venv / "bin" / "windsock")
    proc = subprocess.Popen(
        [windsock, "container", "scheduler"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    try:
        _wait_for_line(
            lines, "scheduler: executor", proc, within=90
        )  # printed once the scheduler loop starts
        healthy = subprocess.run(
            [windsock, "container", "scheduler", "--health"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert healthy.returncode == 0, healthy.stdout
        assert list(home.rglob("hello.py")), "the DAG file was synced from S3"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        reader.join(timeout=10)
        assert proc.returncode == 0, "".join(lines)[-3000:]
        assert _group_gone(proc.pid, within=15), "the container left processes behind after SIGTERM"
    finally:
        _stop_group(proc)


def _wait_for_line(lines: list[str], text: str, proc: subprocess.Popen[Any], *, within: float) -> None:
    """Until a line of the container's output contains ``text``; fails if the container exits first."""
    deadline = time.monotonic() + within
    while not any(text in line for line in list(lines)):
        assert proc.poll() is None, "".join(lines)[-3000:]
        assert time.monotonic() < deadline, f"no {text!r} within {within:.0f}s:\n" + "".join(lines)[-3000:]
        time.sleep(0.2)


def _group_gone(pgid: int, *, within: float) -> bool:
    """Whether every process of the group has exited within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def _stop_group(proc: subprocess.Popen[Any]) -> None:
    """Kill what is left of the container's process group (only ours), then reap it."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return
    os.killpg(proc.pid, signal.SIGKILL)
