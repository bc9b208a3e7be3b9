"""Rendering of listing commands: ``-o table|json|yaml`` as Airflow's CLI does."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO


def add_output_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``-o/--output`` with Airflow's choices."""
    parser.add_argument("-o", "--output", choices=["table", "json", "yaml", "plain"], default="table")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def render(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], fmt: str, out: TextIO | None = None) -> None:
    """Print ``rows`` restricted to ``columns`` in the chosen format."""
    out = out or sys.stdout
    data = [{c: row.get(c) for c in columns} for row in rows]
    if fmt == "json":
        out.write(json.dumps(data, default=str, indent=2) + "\n")
    elif fmt == "yaml":
        import yaml

        out.write(yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False) or "[]\n")
    elif fmt == "plain":
        for row in data:
            out.write("\t".join(_cell(row[c]) for c in columns) + "\n")
    else:
        _table(data, columns, out)


def _table(data: list[dict[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    cells = [[_cell(r[c]) for c in columns] for r in data]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    line = " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out.write(line.rstrip() + "\n")
    out.write("=+=".join("=" * w for w in widths) + "\n")
    for row in cells:
        out.write(" | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")
