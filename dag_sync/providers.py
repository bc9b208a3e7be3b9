"""Airflow provider packages named in requirements.txt, installed without Apache Airflow.

A provider (``apache-airflow-providers-amazon``) requires ``apache-airflow``; installing that would
put a real ``airflow`` package on the path and turn Windsock's import hook off. So:

- a line naming Apache Airflow itself is refused before pip runs;
- a provider Windsock does not support (``runtime/container/providers.in``) is refused, with why;
- a supported provider is installed at the version this Windsock was tested with (a line asking for
  another version is refused), ``--no-deps``, together with the providers it requires;
- the providers' other requirements are installed as usual (resolved by pip, pinned by the
  runtime's constraints and the providers lock), except those the runtime already satisfies;
- any other requirement that pulls ``apache-airflow`` fails pip's resolution (a constraint no
  version satisfies), and the message names it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from dag_sync.errors import RequirementsError
from dag_sync.reqfile import Line
from runtime.compat import provider_deps

# Makes pip's resolution fail for anything that requires Apache Airflow (no release matches).
AIRFLOW_BLOCKER = "apache-airflow<0.0.1.dev0\napache-airflow-core<0.0.1.dev0\napache-airflow-task-sdk<0.0.1.dev0\n"


@dataclass
class Plan:
    """What requirements.txt asks for, split: supported providers (pinned) and every other line."""

    providers: dict[str, str] = field(default_factory=dict)  # canonical name -> pinned version
    lines: dict[str, int] = field(default_factory=dict)  # provider -> its requirements.txt line
    others: list[Line] = field(default_factory=list)

    def pins(self) -> list[str]:
        return [f"{name}=={version}" for name, version in sorted(self.providers.items())]


def refusal(name: str, number: int, text: str) -> str:
    return f"requirements.txt not installed (requirements.txt line {number}): {text!r}: {name}"


def plan(requirements: Iterable[Line]) -> Plan:
    """Sort the requirement lines; RequirementsError (nothing installed) for a line Windsock cannot honour."""
    supported = provider_deps.supported()
    found = Plan()
    for line in requirements:
        try:
            req = Requirement(line.text.split(" --hash", 1)[0])
        except Exception:  # a URL requirement: not a provider by name
            found.others.append(line)
            continue
        name = canonicalize_name(req.name)
        if provider_deps.is_airflow(name):
            raise RequirementsError(refusal(
                "Windsock replaces Apache Airflow: installing it would turn off Windsock's Airflow import hook. "
                "Remove this line (provider packages install without it)", line.number, line.text), "", line.number)
        if not provider_deps.is_provider(name):
            found.others.append(line)
            continue
        version = supported.get(name)
        if version is None:
            raise RequirementsError(refusal(
                f"{name} is not supported by Windsock (it needs parts of Apache Airflow Windsock does not provide; "
                f"supported: {', '.join(sorted(supported))}; see docs/providers.md)", line.number, line.text),
                "", line.number)
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            raise RequirementsError(refusal(
                f"Windsock runs {name}=={version} (the version tested with this Windsock); this line asks for "
                f"{req.specifier}. Pin =={version} or leave the version out", line.number, line.text), "", line.number)
        found.providers[name] = version
        found.lines[name] = line.number
    return found


def close(found: Plan, house: Path, fetch: Callable[[list[str]], None]) -> list[str]:
    """Download the providers (``fetch(pins)`` puts wheels in ``house``), adding the providers they
    require until none is missing; returns their ordinary requirements the runtime does not satisfy."""
    supported = provider_deps.supported()
    fetched: set[str] = set()
    ordinary: dict[str, Requirement] = {}
    while True:
        missing = [n for n in found.providers if n not in fetched]
        if not missing:
            break
        fetch([f"{n}=={found.providers[n]}" for n in missing])
        for name in missing:
            wheel = _wheel_of(house, name, found.providers[name])
            providers, others = provider_deps.split(provider_deps.wheel_requirements(wheel))
            for req in providers:
                dep = canonicalize_name(req.name)
                if dep in found.providers:
                    continue
                if dep not in supported:
                    line = found.lines.get(name, 0)
                    raise RequirementsError(refusal(f"{name} requires {dep}, which Windsock does not support",
                                                    line, name), "", line or None)
                found.providers[dep] = supported[dep]
                found.lines.setdefault(dep, found.lines.get(name, 0))
            for req in others:
                if not _satisfied(req):
                    ordinary.setdefault(str(req), req)
            fetched.add(name)
    return sorted(ordinary, key=str.lower)


def _wheel_of(house: Path, name: str, version: str) -> Path:
    stem = name.replace("-", "_")
    for wheel in house.glob(f"{stem}-{version}-*.whl"):
        return wheel
    raise RequirementsError(f"requirements.txt not installed: pip did not fetch {name}=={version}")


def _satisfied(req: Requirement) -> bool:
    """Whether the running interpreter already has a version of ``req`` that satisfies it."""
    try:
        version = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        return False
    return req.specifier.contains(version, prereleases=True)


def lock_constraints(runtime_pins: str) -> str:
    """The providers lock's pins for packages the runtime does not pin, plus the Airflow blocker."""
    pinned = {canonicalize_name(line.split("==", 1)[0]) for line in runtime_pins.splitlines() if "==" in line}
    extra = []
    if provider_deps.DEPS_LOCK.exists():
        for line in provider_deps.DEPS_LOCK.read_text().splitlines():
            match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", line)
            if match and canonicalize_name(match.group(1)) not in pinned:
                extra.append(f"{match.group(1)}=={match.group(2)}\n")
    return "".join(extra) + AIRFLOW_BLOCKER


def airflow_left_in(site: Path) -> str | None:
    """A reason when a site dir would shadow Windsock (a real ``airflow`` package landed in it)."""
    if (site / "airflow" / "__init__.py").exists():
        return "a package in requirements.txt installed Apache Airflow itself (airflow/__init__.py)"
    return None


def installed_in(site: Path) -> list[str]:
    """``name==version`` of each provider package installed in a site dir (for ``windsock sync status``)."""
    found = []
    for info in sorted(site.glob("apache_airflow_providers_*.dist-info")):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        found.append(f"{name.replace('_', '-')}=={version}")
    return found


__all__ = ["installed_in", "Plan", "plan", "close", "lock_constraints", "airflow_left_in", "AIRFLOW_BLOCKER"]
