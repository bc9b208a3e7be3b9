"""Python callables in their own interpreter: PythonVirtualenvOperator, ExternalPythonOperator and their
TaskFlow forms. MWAA users isolate conflicting dependencies this way.

The virtualenv is built once per requirements hash under ``$WINDSOCK_HOME/venvs`` (with ``uv`` when it
is installed, else ``venv`` + pip) and reused. The callable travels as its source code (as Airflow
does: it must not use names from the DAG file), its arguments and return value as pickle or JSON
(``serializer``); the return value becomes the XCom.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from runtime.sdk.exceptions import AirflowException, AirflowSkipException
from runtime.sdk.operators.python import BranchMixIn, PythonOperator

SERIALIZERS = ("pickle", "json")
# dill and cloudpickle exist to ship functions and closures; the function travels as source here, so
# pickle carries the arguments and the result (the venv needs neither library).
PICKLE_LIKE = ("dill", "cloudpickle")
# Context entries that can cross into another interpreter (plain values), as Airflow passes them.
PORTABLE_CONTEXT = ("ds", "ds_nodash", "ts", "ts_nodash", "ts_nodash_with_tz", "run_id", "params", "logical_date",
                    "execution_date", "data_interval_start", "data_interval_end", "prev_ds", "next_ds",
                    "yesterday_ds", "tomorrow_ds", "task_instance_key_str", "test_mode", "templates_dict")
_RUNNER = '''from __future__ import annotations
import json, pickle, sys
{source}
with open(sys.argv[1], "rb") as handle:
    args, kwargs = {load}(handle)
result = {name}(*args, **kwargs)
with open(sys.argv[2], "wb") as handle:
    {dump}(result, handle)
'''


def is_venv_installed() -> bool:
    """Whether virtualenvs can be made here (Airflow's check; ``venv`` is in the standard library)."""
    return shutil.which("uv") is not None or _has_venv()


def _has_venv() -> bool:
    try:
        import venv  # noqa: F401
    except ImportError:
        return False
    return True


def callable_source(func: Callable[..., Any]) -> str:
    """The function's source without its decorators, dedented (it runs in a fresh interpreter)."""
    lines = textwrap.dedent(inspect.getsource(func)).splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith(("def ", "async def ")))
    return "\n".join(lines[start:]) + "\n"


def venvs_root() -> Path:
    """Where built virtualenvs are cached."""
    return Path(os.environ.get("WINDSOCK_HOME") or Path.home() / "windsock") / "venvs"


def requirements_key(requirements: Iterable[str], python_version: str | None, system_site_packages: bool) -> str:
    """The cache key of a virtualenv: its sorted requirements, Python version and site-packages flag."""
    text = json.dumps([sorted(r.strip() for r in requirements if r.strip()), python_version, system_site_packages])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ensure_venv(requirements: list[str], *, python_version: str | None = None, system_site_packages: bool = False,
                pip_install_options: list[str] | None = None, root: Path | None = None) -> Path:
    """The Python of a virtualenv with ``requirements`` (built once; a failed build leaves nothing behind)."""
    target = (root or venvs_root()) / requirements_key(requirements, python_version, system_site_packages)
    python = target / "bin" / "python"
    if (target / ".complete").exists():
        return python
    building = Path(tempfile.mkdtemp(prefix=".build-", dir=_mkdir(target.parent)))
    try:
        _build(building, requirements, python_version, system_site_packages, pip_install_options or [])
        shutil.rmtree(target, ignore_errors=True)
        os.replace(building, target)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return python


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _build(where: Path, requirements: list[str], python_version: str | None, system_site: bool, options: list[str]) -> None:
    interpreter = f"python{python_version}" if python_version else sys.executable
    uv = shutil.which("uv")
    if uv:
        cmd = [uv, "venv", "--python", interpreter, str(where)] + (["--system-site-packages"] if system_site else [])
        _check(cmd, "creating the virtualenv")
        install = [uv, "pip", "install", "--python", str(where / "bin" / "python"), *options]
    else:
        _check([interpreter, "-m", "venv", str(where)] + (["--system-site-packages"] if system_site else []),
               "creating the virtualenv")
        install = [str(where / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", *options]
    if requirements:
        _check([*install, *requirements], "installing " + " ".join(requirements))
    # The interpreter path inside the venv does not depend on the folder name, so it can be renamed.
    (where / ".complete").write_text("\n".join(requirements))


def _check(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    if proc.returncode != 0:
        raise AirflowException(f"virtualenv: {what} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}")


def run_in_python(python: str | Path, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any],
                  serializer: str = "pickle") -> Any:
    """Call ``func`` (by its source) with ``args``/``kwargs`` in the interpreter ``python``; its result."""
    if serializer not in SERIALIZERS:
        raise AirflowException(f"serializer {serializer!r} is not supported by Windsock (use one of {SERIALIZERS})")
    codec: Any = pickle if serializer == "pickle" else json
    binary = serializer == "pickle"
    with tempfile.TemporaryDirectory(prefix="windsock-venv-") as tmp:
        args_path, out_path, script = Path(tmp, "args"), Path(tmp, "result"), Path(tmp, "script.py")
        with open(args_path, "wb" if binary else "w") as handle:
            codec.dump([list(args), dict(kwargs)], handle)
        load = "pickle.load" if binary else "json.load"
        dump = "pickle.dump" if binary else "json.dump"
        body = _RUNNER.format(source=callable_source(func), load=load, dump=dump, name=func.__name__)
        if not binary:
            body = body.replace('open(sys.argv[1], "rb")', 'open(sys.argv[1])').replace('open(sys.argv[2], "wb")', 'open(sys.argv[2], "w")')
        script.write_text(body)
        proc = subprocess.run([str(python), str(script), str(args_path), str(out_path)], check=False)
        if proc.returncode == 99:
            raise AirflowSkipException("the process exited with code 99: skipping")
        if proc.returncode != 0:
            raise AirflowException(f"the callable failed in {python} (exit code {proc.returncode})")
        with open(out_path, "rb" if binary else "r") as handle:
            return codec.load(handle)


class _ExternalBase(PythonOperator):
    """Runs the callable in another interpreter; only portable context entries are passed."""

    template_fields = ("op_args", "op_kwargs", "templates_dict")  # type: ignore[assignment]

    def __init__(self, *, python_callable: Callable[..., Any], serializer: str | None = None,
                 use_dill: bool = False, expect_airflow: bool = True, skip_on_exit_code: Any = None,
                 env_vars: dict[str, str] | None = None, inherit_env: bool = True, string_args: Any = None,
                 use_airflow_context: bool = False, **kwargs: Any) -> None:
        super().__init__(python_callable=python_callable, **kwargs)
        if not callable(python_callable) or inspect.isclass(python_callable) or python_callable.__name__ == "<lambda>":
            raise AirflowException(f"task {self.task_id!r}: PythonVirtualenvOperator only supports functions for python_callable arg")
        self.serializer = serializer or ("dill" if use_dill else "pickle")
        self.serializer = "pickle" if self.serializer in PICKLE_LIKE else self.serializer
        if self.serializer not in SERIALIZERS:
            raise AirflowException(f"task {self.task_id!r}: serializer {self.serializer!r} is not supported by Windsock (use pickle or json)")

    def _python(self) -> Path | str:
        raise NotImplementedError

    def execute_callable(self, kwargs: dict[str, Any]) -> Any:
        wanted = set(inspect.signature(self.python_callable).parameters)
        portable = {k: v for k, v in kwargs.items() if k in self.op_kwargs or (k in PORTABLE_CONTEXT and k in wanted)}
        portable = {k: dict(v) if k == "params" else v for k, v in portable.items()}
        return run_in_python(self._python(), self.python_callable, self.op_args, portable, self.serializer)


class PythonVirtualenvOperator(_ExternalBase):
    """Runs ``python_callable`` in a virtualenv with ``requirements`` (built once per requirements hash)."""

    template_fields = (*_ExternalBase.template_fields, "requirements")  # type: ignore[assignment]

    def __init__(self, *, python_callable: Callable[..., Any], requirements: str | Iterable[str] | None = None,
                 python_version: str | None = None, system_site_packages: bool = True,
                 pip_install_options: list[str] | None = None, index_urls: Any = None, venv_cache_path: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(python_callable=python_callable, **kwargs)
        self.requirements = [requirements] if isinstance(requirements, str) else list(requirements or [])
        self.python_version = python_version
        self.system_site_packages = system_site_packages
        self.pip_install_options = pip_install_options

    def _python(self) -> Path:
        return ensure_venv(self.requirements, python_version=self.python_version,
                           system_site_packages=self.system_site_packages, pip_install_options=self.pip_install_options)


class ExternalPythonOperator(_ExternalBase):
    """Runs ``python_callable`` with an existing interpreter (``python``: a path, e.g. a pre-built venv's)."""

    template_fields = (*_ExternalBase.template_fields, "python")  # type: ignore[assignment]

    def __init__(self, *, python: str, python_callable: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(python_callable=python_callable, **kwargs)
        self.python = python

    def _python(self) -> str:
        if not os.path.exists(self.python):
            raise AirflowException(f"task {self.task_id!r}: Python path {self.python!r} does not exist")
        return self.python


class BranchPythonVirtualenvOperator(PythonVirtualenvOperator, BranchMixIn):
    """A virtualenv callable whose return value picks the branch."""

    inherits_from_skipmixin = True

    def execute(self, context: Any) -> Any:
        return self.do_branch(context, super().execute(context))


class BranchExternalPythonOperator(ExternalPythonOperator, BranchMixIn):
    """An external-Python callable whose return value picks the branch."""

    inherits_from_skipmixin = True

    def execute(self, context: Any) -> Any:
        return self.do_branch(context, super().execute(context))


__all__ = ["PythonVirtualenvOperator", "ExternalPythonOperator", "BranchPythonVirtualenvOperator",
           "BranchExternalPythonOperator", "is_venv_installed", "ensure_venv", "run_in_python", "callable_source"]
