"""Provider packages without Apache Airflow: which are supported, and what they need instead.

``apache-airflow-providers-*`` wheels require ``apache-airflow``; Windsock installs them with
``--no-deps`` and installs their other requirements itself. This module reads a provider wheel's
metadata and answers: is this provider supported (``runtime/container/providers.in``), which of
its requirements are other providers, and which are ordinary packages.

``python -m runtime.compat.provider_deps WHEEL_DIR`` prints the ordinary requirements of every
provider wheel in WHEEL_DIR (scripts/lock_providers compiles them into providers-deps.lock).
"""

from __future__ import annotations

import re
import sys
import zipfile
from collections.abc import Iterable
from email.parser import Parser
from pathlib import Path
from typing import Any

from packaging.markers import default_environment
from packaging.requirements import Requirement

LOCKS = Path(__file__).resolve().parent.parent / "container"
PROVIDERS_IN = LOCKS / "providers.in"
DEPS_LOCK = LOCKS / "providers-deps.lock"
PROVIDER_PREFIX = "apache-airflow-providers-"
# Requirements left out: a C build at install time (the mysql provider also speaks
# mysql-connector-python, which ships wheels: extra {"client": "mysql-connector-python"}).
LEFT_OUT = {"mysqlclient": "needs a C compiler and libmariadb-dev; use extra {\"client\": \"mysql-connector-python\"}"}
# Packages Apache Airflow itself brings that provider modules import without declaring them.
AIRFLOW_CORE_EXTRAS = ("python-slugify>=5", "Deprecated>=1.2", "packaging>=23")


def canonical(name: str) -> str:
    """PEP 503 name: ``Apache_Airflow.Providers`` -> ``apache-airflow-providers``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def is_airflow(name: str) -> bool:
    """Apache Airflow itself (core, task SDK, its meta packages), which Windsock replaces."""
    n = canonical(name)
    return n in ("apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk")


def is_provider(name: str) -> bool:
    return canonical(name).startswith(PROVIDER_PREFIX)


def supported() -> dict[str, str]:
    """``{"apache-airflow-providers-amazon": "9.39.0", ...}``: the providers this Windsock supports."""
    pins: dict[str, str] = {}
    for line in PROVIDERS_IN.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonical(name)] = version.strip()
    return pins


def wheel_requirements(wheel: Path) -> list[Requirement]:
    """The unconditional requirements (markers evaluated for this interpreter, no extras) of a wheel."""
    with zipfile.ZipFile(wheel) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(meta_name).decode("utf-8"))
    env: dict[str, Any] = {**default_environment(), "extra": ""}
    found = []
    for text in meta.get_all("Requires-Dist") or []:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate(env):
            found.append(req)
    return found


def split(requirements: Iterable[Requirement]) -> tuple[list[Requirement], list[Requirement]]:
    """(providers, ordinary packages); Apache Airflow and the left-out packages are dropped."""
    providers: list[Requirement] = []
    ordinary: list[Requirement] = []
    for req in requirements:
        if is_airflow(req.name) or canonical(req.name) in LEFT_OUT:
            continue
        (providers if is_provider(req.name) else ordinary).append(req)
    return providers, ordinary


def ordinary_requirements(wheels: Iterable[Path]) -> list[str]:
    """The ordinary requirement lines of these provider wheels, plus what Airflow core would bring."""
    lines: set[str] = set(AIRFLOW_CORE_EXTRAS)
    for wheel in wheels:
        _, ordinary = split(wheel_requirements(wheel))
        lines.update(str(req) for req in ordinary)
    return sorted(lines, key=str.lower)


def main(argv: list[str]) -> int:
    folder = Path(argv[0])
    print("# The non-Airflow requirements of the supported provider packages (scripts/lock_providers).")
    for line in ordinary_requirements(sorted(folder.glob("*.whl"))):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
