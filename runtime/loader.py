"""Finding and loading DAG files: ``.airflowignore``, safe mode, and errors with file and line.

A broken file never stops the others: each file's problem becomes a ``DagFileError`` naming
the file, the line and the reason.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import os
import re
import sys
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from runtime.errors import DagFileError, UserError
from runtime.sdk import context_stack
from runtime.sdk.baseoperator import BaseOperator
from runtime.sdk.dag import DAG

EXAMPLES_FOLDER = str(Path(__file__).parent / "example_dags")
IGNORE_FILE = ".airflowignore"


@dataclass
class FileResult:
    """What loading one file gave: its DAGs, or the error that stopped it."""

    path: str
    dags: list[DAG] = field(default_factory=list)
    error: DagFileError | None = None


def _might_contain_dag(path: str) -> bool:
    """Airflow's safe mode: only files mentioning both 'airflow' and 'dag' are parsed."""
    try:
        with open(path, "rb") as handle:
            content = handle.read().lower()
    except OSError:
        return False
    return b"dag" in content and (b"airflow" in content or b"windsock" in content)


def _ignore_patterns(folder: str, syntax: str) -> list[tuple[str, re.Pattern[str] | str]]:
    path = os.path.join(folder, IGNORE_FILE)
    if not os.path.isfile(path):
        return []
    out: list[tuple[str, re.Pattern[str] | str]] = []
    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if syntax == "glob":
                out.append((folder, line))
            else:
                try:
                    out.append((folder, re.compile(line)))
                except re.error as exc:
                    print(f"{path}: ignoring invalid pattern {line!r}: {exc}", file=sys.stderr)
    return out


def _ignored(path: str, patterns: Iterable[tuple[str, re.Pattern[str] | str]]) -> bool:
    for base, pattern in patterns:
        rel = os.path.relpath(path, base)
        if isinstance(pattern, str):
            negate = pattern.startswith("!")
            glob = pattern[1:] if negate else pattern
            if fnmatch.fnmatch(rel, glob) or fnmatch.fnmatch(rel, glob.rstrip("/") + "/*") or fnmatch.fnmatch(os.path.basename(rel), glob):
                return not negate
        elif pattern.search(rel):
            return True
    return False


def walk(root: str) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk`` of ``root`` following symlinks, each real folder once (a symlink loop ends); the
    caller may prune ``dirnames`` in place, as with ``os.walk``."""
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        yield dirpath, dirnames, filenames


def discover(folder: str | os.PathLike[str], *, safe_mode: bool = True, ignore_syntax: str | None = None) -> list[str]:
    """Python DAG files under ``folder`` (sub-folders and symlinks followed), sorted."""
    root = os.path.realpath(folder)
    if os.path.isfile(root):
        return [root]
    if not os.path.isdir(root):
        return []
    syntax = ignore_syntax or os.environ.get("WINDSOCK__CORE__DAG_IGNORE_FILE_SYNTAX") or os.environ.get("AIRFLOW__CORE__DAG_IGNORE_FILE_SYNTAX") or "regexp"
    found: list[str] = []
    patterns_at: dict[str, list[tuple[str, re.Pattern[str] | str]]] = {}
    for dirpath, dirnames, filenames in walk(root):
        parent = patterns_at.get(os.path.dirname(dirpath), [])
        patterns = parent + _ignore_patterns(dirpath, syntax)
        patterns_at[dirpath] = patterns
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__pycache__")) and not _ignored(os.path.join(dirpath, d), patterns))
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if not name.endswith(".py") or name.startswith(".") or _ignored(path, patterns):
                continue
            if safe_mode and not _might_contain_dag(path):
                continue
            found.append(path)
    return sorted(found)


def _module_name(path: str) -> str:
    digest = hashlib.sha1(path.encode()).hexdigest()[:12]
    return f"windsock_dag_{digest}_{re.sub(r'[^0-9a-zA-Z_]', '_', Path(path).stem)}"


def _line_in(path: str, exc: BaseException) -> int | None:
    if isinstance(exc, SyntaxError) and exc.filename and os.path.realpath(exc.filename) == os.path.realpath(path):
        return exc.lineno
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.realpath(frame.filename) == os.path.realpath(path):
            line = frame.lineno
    return line


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg}"
    return f"{type(exc).__name__}: {exc}"


def load_file(path: str) -> FileResult:
    """Import one DAG file and collect its DAGs; user errors are returned, not raised."""
    from runtime.compat import install_import_hook

    install_import_hook()
    result = FileResult(path)
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = _module_name(path)
    token = context_stack.start_collecting()
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - any failure of the file is reported against it
        if isinstance(exc, KeyboardInterrupt):
            raise
        sys.modules.pop(name, None)
        result.error = DagFileError(path, _reason(exc), _line_in(path, exc))
        context_stack.stop_collecting(token)
        return result
    collected = context_stack.stop_collecting(token)
    dags = _unique([o for o in collected if isinstance(o, DAG)] + [v for v in vars(module).values() if isinstance(v, DAG)])
    result.error = _check(path, dags, [o for o in collected if isinstance(o, BaseOperator)])
    if result.error is None:
        for dag in dags:
            dag.fileloc = path
        result.dags = dags
    return result


def _unique(dags: list[DAG]) -> list[DAG]:
    seen: dict[int, DAG] = {}
    for dag in dags:
        seen.setdefault(id(dag), dag)
    return list(seen.values())


def _check(path: str, dags: list[DAG], tasks: list[BaseOperator]) -> DagFileError | None:
    """Problems found after import: cycles, duplicate dag ids, tasks in no DAG."""
    ids: dict[str, DAG] = {}
    for dag in dags:
        if dag.dag_id in ids:
            return DagFileError(path, f"AirflowDagDuplicatedIdException: Ignoring DAG {dag.dag_id!r}: the id is defined twice in this file")
        ids[dag.dag_id] = dag
        try:
            dag.check_cycle()
        except Exception as exc:  # noqa: BLE001
            line = getattr(exc, "lineno", None)
            return DagFileError(path, f"{type(exc).__name__}: {exc}", line)
    for task in tasks:
        if not task.has_dag():
            file, line = getattr(task, "_created_at", (path, None))
            return DagFileError(path, f"task {task.task_id!r} is not in any DAG: pass dag=... or create it inside 'with DAG(...)'",
                                line if file == path else None)
    return None


class DagBag:
    """Every DAG of a folder (plus the bundled examples when asked), and every file's error."""

    def __init__(self, dag_folder: str | os.PathLike[str] | None = None, include_examples: bool = False, safe_mode: bool = True) -> None:
        self.dag_folder = str(dag_folder) if dag_folder is not None else None
        self.dags: dict[str, DAG] = {}
        self.import_errors: dict[str, str] = {}
        self.errors: list[DagFileError] = []
        self.files: list[str] = []
        folders = [self.dag_folder] if self.dag_folder else []
        if include_examples:
            folders.append(EXAMPLES_FOLDER)
        for folder in folders:
            for path in discover(folder, safe_mode=safe_mode):
                self._add(load_file(path))

    def _add(self, result: FileResult) -> None:
        self.files.append(result.path)
        if result.error is None:
            for dag in result.dags:
                if dag.dag_id in self.dags and self.dags[dag.dag_id].fileloc != result.path:
                    other = self.dags[dag.dag_id].fileloc
                    result.error = DagFileError(result.path, f"AirflowDagDuplicatedIdException: DAG {dag.dag_id!r} is already defined in {other}")
                    break
            else:
                self.dags.update((d.dag_id, d) for d in result.dags)
                return
        assert result.error is not None
        self.errors.append(result.error)
        self.import_errors[result.path] = str(result.error)

    def get_dag(self, dag_id: str) -> DAG:
        """The DAG ``dag_id``; a UserError naming the folder (and any import errors) if absent."""
        if dag_id in self.dags:
            return self.dags[dag_id]
        hint = f" ({len(self.errors)} file(s) failed to load: run 'windsock dags list-import-errors')" if self.errors else ""
        raise UserError(f"DAG {dag_id!r} not found in {self.dag_folder or EXAMPLES_FOLDER}{hint}")

    def size(self) -> int:
        return len(self.dags)
