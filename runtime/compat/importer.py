"""A ``sys.meta_path`` finder that serves ``import airflow...`` from Windsock when Apache Airflow is absent.

Each ``airflow.*`` module is an alias module built on first import: its names resolve lazily
to SDK objects (see ``modules.py``). No ``airflow`` package is ever put on disk.

Real provider packages (``apache-airflow-providers-*`` installed without Apache Airflow) put
``airflow/providers/<name>/`` on disk as a namespace package. Their modules load from disk:
a module of an installed provider is taken from the provider first (Windsock's stand-in for it,
if any, only serves a module the installed version does not have), except for the providers
Windsock implements itself (``BUILTIN_PROVIDERS``), whose mapped modules stay Windsock's.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import sys
import threading
import types
from collections.abc import Sequence
from typing import Any

from runtime.compat.modules import MODULES, packages

ROOT = "airflow"
PROVIDERS = ROOT + ".providers"
# Providers whose mapped modules Windsock serves even when the real package is installed: their
# operators are Windsock's own (the real ones lean on Airflow's task runner internals).
BUILTIN_PROVIDERS = frozenset({"standard"})
_lock = threading.Lock()


class UnsupportedAirflowModule(ImportError):
    """A DAG file imported an Airflow module (or name) that Windsock does not provide."""


def airflow_installed() -> bool:
    """Whether real Apache Airflow is importable from sys.path (our finder is not consulted)."""
    spec = importlib.machinery.PathFinder.find_spec(ROOT)
    return spec is not None and spec.origin not in (None, "namespace")


def _parse(source: str) -> tuple[str, dict[str, str] | None]:
    """``"mod:a,b=c"`` -> ("mod", {"a": "a", "b": "c"}); ``"mod"`` -> ("mod", None) meaning every public name."""
    module, _, names = source.partition(":")
    if not names:
        return module, None
    pairs = (item.split("=", 1) if "=" in item else (item, item) for item in names.split(","))
    return module, {alias.strip(): name.strip() for alias, name in pairs}


def _public_names(module: types.ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    return list(names) if names is not None else [n for n in vars(module) if not n.startswith("_")]


class _AliasModule(types.ModuleType):
    """An ``airflow.*`` module whose attributes come from Windsock modules on first access."""

    __windsock_alias__ = True

    def __init__(self, name: str, sources: Sequence[str]) -> None:
        super().__init__(name)
        self.__path__: list[str] = []  # a package: submodule imports come back to the finder
        self._ws_sources = [_parse(s) for s in sources]

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr != "__version__" and attr != "__all__":
            raise AttributeError(attr)
        if attr == "__all__":
            value: Any = self._ws_all()
        else:
            value = self._ws_lookup(attr)
        setattr(self, attr, value)
        return value

    def _ws_lookup(self, attr: str) -> Any:
        for module_name, names in self._ws_sources:
            if names is None:
                module = importlib.import_module(module_name)
                if not attr.startswith("_") and hasattr(module, attr):
                    return getattr(module, attr)
            elif attr in names:
                return getattr(importlib.import_module(module_name), names[attr])
        child = f"{self.__name__}.{attr}"
        if child in packages():
            return importlib.import_module(child)
        raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r} (Windsock does not support '{child}')")

    def _ws_all(self) -> list[str]:
        names: list[str] = []
        for module_name, mapping in self._ws_sources:
            names.extend(mapping if mapping is not None else _public_names(importlib.import_module(module_name)))
        return names

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._ws_all()))


def disk_dirs(fullname: str) -> list[str]:
    """Directories on sys.path that hold ``fullname`` as a package folder (``airflow/providers/...``)."""
    rel = os.path.join(*fullname.split("."))
    found: list[str] = []
    for entry in sys.path:
        folder = os.path.join(entry or os.getcwd(), rel)
        if folder not in found and os.path.isdir(folder):
            found.append(folder)
    return found


def _disk_spec(fullname: str) -> importlib.machinery.ModuleSpec | None:
    """The spec of a real (non-namespace) module file for ``fullname`` on sys.path, or None."""
    parent, _, _ = fullname.rpartition(".")
    spec = importlib.machinery.PathFinder.find_spec(fullname, disk_dirs(parent))
    if spec is None or spec.loader is None or spec.origin in (None, "namespace"):
        return None
    return spec


def provider_of(fullname: str) -> str | None:
    """``airflow.providers.common.sql.hooks.sql`` -> ``common.sql``; None outside providers."""
    if not fullname.startswith(PROVIDERS + "."):
        return None
    parts = fullname[len(PROVIDERS) + 1:].split(".")
    return ".".join(parts[:2]) if parts[0] == "common" and len(parts) > 1 else parts[0]


def provider_installed(provider: str) -> bool:
    """Whether the real package of ``provider`` (e.g. ``amazon``, ``common.sql``) is on sys.path."""
    return _disk_spec(f"{PROVIDERS}.{provider}") is not None


def _real_first(fullname: str) -> bool:
    provider = provider_of(fullname)
    return provider is not None and provider not in BUILTIN_PROVIDERS and provider_installed(provider)


class AirflowAliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds and loads ``airflow`` and ``airflow.*``: Windsock alias modules, or real provider files."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != ROOT and not fullname.startswith(ROOT + "."):
            return None
        supported = fullname in packages()
        if not supported or _real_first(fullname):
            real = _disk_spec(fullname) if fullname != ROOT else None
            if real is not None:
                return real
        if not supported:
            raise UnsupportedAirflowModule(_unsupported_message(fullname), name=fullname)
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = _AliasModule(spec.name, MODULES.get(spec.name, ()))
        module.__loader__ = self
        module.__spec__ = spec
        # Namespace folders of installed providers (``airflow/providers``) stay visible to pkgutil & co.
        module.__path__ = disk_dirs(spec.name)
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: names resolve lazily."""


def _unsupported_message(fullname: str) -> str:
    parent, _, last = fullname.rpartition(".")
    if last[:1].isupper() and parent in packages():
        return f"cannot import name {last!r} from {parent!r}: Windsock does not support '{fullname}'"
    provider = provider_of(fullname)
    if provider is not None and provider not in BUILTIN_PROVIDERS and not provider_installed(provider):
        package = "apache-airflow-providers-" + provider.replace(".", "-")
        return (
            f"No module named {fullname!r}: Windsock does not support '{fullname}' without the provider "
            f"package {package} (name it in requirements.txt; docs/providers.md lists the supported providers)"
        )
    return (
        f"No module named {fullname!r}: Windsock does not support '{fullname}' "
        "(Apache Airflow is not installed; Windsock provides the core, SQL and standard-provider modules)"
    )


def _installed_finder() -> AirflowAliasFinder | None:
    return next((f for f in sys.meta_path if isinstance(f, AirflowAliasFinder)), None)


def install_import_hook() -> bool:
    """Serve ``import airflow...`` from Windsock unless real Airflow is installed; idempotent. True when active."""
    with _lock:
        if _installed_finder() is not None:
            return True
        if airflow_installed():
            return False
        sys.meta_path.insert(0, AirflowAliasFinder())
        return True


def uninstall_import_hook() -> None:
    """Remove the finder and forget every alias module it created."""
    with _lock:
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, AirflowAliasFinder)]
        for name in [n for n, m in sys.modules.items() if getattr(m, "__windsock_alias__", False) is True]:
            del sys.modules[name]


__all__ = ["install_import_hook", "uninstall_import_hook", "airflow_installed", "AirflowAliasFinder", "UnsupportedAirflowModule"]
