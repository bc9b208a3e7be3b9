"""Regenerate the settings table of docs/configuration.md from runtime/settings.py."""

from pathlib import Path

from runtime.settings import markdown_table

DOC = Path(__file__).parent.parent / "docs" / "configuration.md"
BEGIN, END = "<!-- BEGIN keys -->", "<!-- END keys -->"

text = DOC.read_text()
start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
DOC.write_text(text[:start] + "\n" + markdown_table() + "\n" + text[stop:])
