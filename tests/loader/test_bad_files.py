"""Broken DAG files give an error naming file, line and reason, and never stop the others."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runtime.loader import DagBag, discover, load_file

BAD = Path(__file__).parent.parent / "dags" / "bad"

CASES = {
    # file: (line or None, words the reason must contain)
    "syntax_error.py": (4, "SyntaxError"),
    "missing_module.py": (2, "pandas_that_does_not_exist"),
    "cycle.py": (9, "Cycle"),
    "duplicate_task.py": (7, "'same'"),
    "bad_cron.py": (4, "invalid cron expression '0 25 * * *'"),
    "bad_trigger_rule.py": (6, "when_ready"),
    "orphan_task.py": (8, "'outside' is not in any DAG"),
    "unsupported_import.py": (2, "does not support"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_file_reports_file_line_and_reason(name: str) -> None:
    line, words = CASES[name]
    result = load_file(str(BAD / name))
    assert result.error is not None and not result.dags
    assert result.error.filename.endswith(name)
    assert result.error.lineno == line
    assert words in result.error.reason


def test_good_file_loads_beside_bad_ones() -> None:
    """The folder's good DAG loads; each bad file is listed as an import error."""
    bag = DagBag(BAD)
    assert list(bag.dags) == ["good_next_to_bad_ones"]
    assert {Path(p).name for p in bag.import_errors} == set(CASES)


def test_airflowignore_and_safe_mode(tmp_path: Path) -> None:
    """.airflowignore patterns hide files and folders; files never mentioning airflow/dag are skipped."""
    shutil.copy(BAD / "good.py", tmp_path / "keep.py")
    (tmp_path / "skipme").mkdir()
    shutil.copy(BAD / "good.py", tmp_path / "skipme" / "hidden.py")
    shutil.copy(BAD / "syntax_error.py", tmp_path / "wip_broken.py")
    (tmp_path / "helper.py").write_text("X = 1\n")
    (tmp_path / ".airflowignore").write_text("skipme\n^wip_\n")
    nested = tmp_path / "nested" / "deeper"
    nested.mkdir(parents=True)
    shutil.copy(BAD / "good.py", nested / "again.py")
    found = sorted(Path(p).relative_to(tmp_path.resolve()).as_posix() for p in discover(tmp_path))
    assert found == ["keep.py", "nested/deeper/again.py"]


def test_symlinked_folder_is_followed(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    shutil.copy(BAD / "good.py", real / "good.py")
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "linked").symlink_to(real, target_is_directory=True)
    assert [Path(p).name for p in discover(dags)] == ["good.py"]


def test_duplicate_dag_id_across_files(tmp_path: Path) -> None:
    shutil.copy(BAD / "good.py", tmp_path / "a.py")
    shutil.copy(BAD / "good.py", tmp_path / "b.py")
    bag = DagBag(tmp_path)
    assert list(bag.dags) == ["good_next_to_bad_ones"]
    (path, message), = bag.import_errors.items()
    assert path.endswith("b.py") and "already defined" in message
