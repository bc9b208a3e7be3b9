"""``windsock providers list|install``: the Airflow provider packages this Windsock supports.

A provider wheel requires ``apache-airflow``, which Windsock replaces, so ``pip install
apache-airflow-providers-amazon`` would pull Airflow in and turn the import hook off. ``install``
does what the image and dag_sync do instead: the providers' own dependencies from the hash-checked
lock (``runtime/container/providers-deps.lock``), then the providers at their supported versions
with ``--no-deps``. ``list`` says which are installed, and at which version.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from runtime.cli.output import add_output_flag, render
from runtime.errors import UserError


def register(tree: Any) -> None:
    """Add ``providers list`` and ``providers install``."""
    group = tree.group("providers", help="Airflow provider packages: which are supported, install them")
    listing = group.add_parser("list", help="Supported providers, their versions and whether they are installed")
    add_output_flag(listing)
    listing.set_defaults(func=cmd_list)
    install = group.add_parser("install", help="Install supported providers (all by default) without Apache Airflow")
    install.add_argument("names", nargs="*", metavar="NAME",
                         help="provider, e.g. amazon, common-sql or apache-airflow-providers-http (default: all)")
    install.add_argument("--target", metavar="DIR", help="install the providers into DIR instead of this environment "
                         "(their dependencies still go into this environment)")
    install.add_argument("--dry-run", action="store_true", help="print the pip commands instead of running them")
    install.set_defaults(func=cmd_install)


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name`` on sys.path, or None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def cmd_list(args: argparse.Namespace) -> int:
    from runtime.compat.provider_deps import supported

    rows = []
    for name, pinned in sorted(supported().items()):
        have = installed_version(name)
        state = "installed" if have == pinned else "missing" if have is None else f"other version ({have})"
        rows.append({"provider": name, "supported": pinned, "installed": have or "", "state": state})
    render(rows, ["provider", "supported", "installed", "state"], args.output)
    return 0


def chosen(names: list[str]) -> dict[str, str]:
    """The supported providers ``names`` stand for (all when empty); UserError naming an unsupported one."""
    from runtime.compat.provider_deps import PROVIDER_PREFIX, canonical, supported

    pins = supported()
    if not names:
        return pins
    picked: dict[str, str] = {}
    for raw in names:
        name = canonical(raw.split("==", 1)[0])
        full = name if name.startswith(PROVIDER_PREFIX) else PROVIDER_PREFIX + name.replace(".", "-")
        if full not in pins:
            short = ", ".join(sorted(p.removeprefix(PROVIDER_PREFIX) for p in pins))
            raise UserError(f"provider {raw!r} is not supported by this Windsock (supported: {short}); "
                            "see docs/providers.md")
        picked[full] = pins[full]
    return picked


def _pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", *args, "--disable-pip-version-check"]
    done = subprocess.run(cmd, check=False)
    if done.returncode != 0:
        raise UserError(f"pip exited {done.returncode} installing providers (its output is above)")


def cmd_install(args: argparse.Namespace) -> int:
    from dag_sync.providers import Plan, close
    from runtime.compat.provider_deps import DEPS_LOCK

    picked = chosen(args.names)
    deps = ["install", "--require-hashes", "-r", str(DEPS_LOCK)]
    if args.dry_run:
        print(" ".join(["pip", *deps]))
        print(" ".join(["pip", "install", "--no-deps", *(f"{n}=={v}" for n, v in sorted(picked.items())),
                        "(and the supported providers they require)"]))
        return 0
    _pip(*deps)
    found = Plan(providers=dict(picked))
    with tempfile.TemporaryDirectory(prefix="windsock-providers-") as house:
        lacking = close(found, Path(house), lambda pins: _pip("download", "-q", "--no-deps", "-d", house, *pins))
        target = ["--upgrade", "--target", args.target] if args.target else []
        _pip("install", "-q", "--no-deps", *target, *sorted(str(w) for w in Path(house).glob("*.whl")))
    print(f"installed {len(found.providers)} provider package(s) without Apache Airflow: "
          + ", ".join(sorted(found.providers)))
    if lacking:
        print("not installed (not in the providers lock): " + ", ".join(lacking), file=sys.stderr)
    return 0
