"""What a requirements.txt asks of pip, checked line by line before pip sees it.

Allowed, as on MWAA: PEP 508 requirements, ``name @ https://...`` and archive URLs, and the
options that choose where packages come from (``--index-url``, ``--extra-index-url``,
``--find-links``, ``--trusted-host``, ``--no-index``, ``--constraint URL``) or how they are
picked (``--pre``, ``--prefer-binary``, ``--only-binary``, ``--no-binary``,
``--require-hashes``, a requirement's ``--hash``). The source options are listed in
``windsock sync status`` (credentials in URLs masked), since they decide what code runs.

Refused, with their line numbers: ``-e``/``--editable`` and VCS URLs (``git+...``: a build
from source at sync time), ``-r``/``--requirement`` and local paths or ``file:`` URLs outside
the plugins folder (they read files of the host), build flags (``--global-option``,
``--config-settings``...), and anything pip would not read as a requirement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

# Options that choose where packages come from: allowed, shown in the status.
SOURCE_OPTIONS = {"-i": "--index-url", "--index-url": "--index-url", "--extra-index-url": "--extra-index-url",
                  "-f": "--find-links", "--find-links": "--find-links", "--trusted-host": "--trusted-host",
                  "--no-index": "--no-index", "-c": "--constraint", "--constraint": "--constraint"}
# Options that only narrow pip's choices: allowed.
HARMLESS_OPTIONS = {"--pre", "--prefer-binary", "--only-binary", "--no-binary", "--require-hashes", "--use-feature"}
FLAGS = {"--no-index", "--pre", "--prefer-binary", "--require-hashes"}  # options without a value
REFUSED_OPTIONS = {
    "-e": "editable installs build from source at sync time; publish a wheel instead",
    "--editable": "editable installs build from source at sync time; publish a wheel instead",
    "-r": "nested requirement files are read from the host; put their lines in requirements.txt",
    "--requirement": "nested requirement files are read from the host; put their lines in requirements.txt",
    "--global-option": "build options run arbitrary setup.py flags",
    "--install-option": "build options run arbitrary setup.py flags",
    "--build-option": "build options run arbitrary setup.py flags",
    "--config-settings": "build options run arbitrary build backend settings",
}
_VCS = re.compile(r"^(git|hg|svn|bzr)\+", re.I)
_COMMENT = re.compile(r"(^|\s+)#.*$")
_DIRECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\s*(?:\[[^\]]*\])?\s*@\s*(\S+)")  # name[extras] @ URL


@dataclass(frozen=True)
class Line:
    """One logical line of the file (continuations joined) and the number of its first physical line."""

    number: int
    text: str


@dataclass
class Checked:
    """The file split into requirements, allowed source options and refused lines (with reasons)."""

    requirements: list[Line] = field(default_factory=list)
    sources: list[Line] = field(default_factory=list)
    refused: list[tuple[Line, str]] = field(default_factory=list)

    def shown_sources(self) -> list[str]:
        """``line N: --index-url https://***@host/simple`` for the status."""
        return [f"line {s.number}: {mask_urls(s.text)}" for s in self.sources]

    def refusal(self) -> str:
        """One message naming every refused line and why."""
        return "; ".join(f"line {line.number}: {mask_urls(line.text)!r}: {why}" for line, why in self.refused)


def logical_lines(text: str) -> list[Line]:
    """Lines as pip reads them: comments stripped, ``\\`` continuations joined, blanks dropped."""
    lines: list[Line] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not buffer:
            start = number
        if raw.endswith("\\"):
            buffer += raw[:-1]
            continue
        joined = _COMMENT.sub("", buffer + raw).strip()
        buffer = ""
        if joined:
            lines.append(Line(start, joined))
    last = _COMMENT.sub("", buffer).strip()
    if last:
        lines.append(Line(start, last))
    return lines


def check(text: bytes, plugins_folder: str | None = None) -> Checked:
    """Sort every line of a requirements file into requirement, source option or refused."""
    checked = Checked()
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        checked.refused.append((Line(text[: exc.start].count(b"\n") + 1, "?"), "not UTF-8 text"))
        return checked
    for line in logical_lines(decoded):
        why = _option(line, checked) if line.text.startswith("-") else _requirement(line.text, plugins_folder)
        if why is not None:
            checked.refused.append((line, why))
        elif not line.text.startswith("-"):
            checked.requirements.append(line)
    return checked


def _option(line: Line, checked: Checked) -> str | None:
    """Classify an option line; the reason when it is refused."""
    name, value = _name(line.text), _value(line.text)
    if name in REFUSED_OPTIONS:
        return f"{name} is not allowed: {REFUSED_OPTIONS[name]}"
    if name in SOURCE_OPTIONS:
        if SOURCE_OPTIONS[name] not in FLAGS and not value:
            return f"{name} needs a value"
        if SOURCE_OPTIONS[name] == "--constraint" and not value.lower().startswith(("https://", "http://")):
            return "--constraint is allowed only with an http(s) URL (a local file is read from the host)"
        checked.sources.append(line)
        return None
    if name in HARMLESS_OPTIONS:
        return None
    return f"{name} is not an option Windsock passes to pip from requirements.txt"


def _name(text: str) -> str:
    """The option's name: ``--opt`` of ``--opt=v`` / ``--opt v``, ``-i`` of ``-iURL`` / ``-i URL``."""
    word = re.split(r"[\s=]", text, maxsplit=1)[0]
    return word[:2] if not word.startswith("--") else word


def _value(text: str) -> str:
    """The value of ``--opt value`` / ``--opt=value`` / ``-i value`` / ``-ivalue``."""
    name = _name(text)
    return text[len(name):].lstrip(" \t=")


def _requirement(text: str, plugins_folder: str | None) -> str | None:
    """None for an acceptable requirement line; otherwise why not."""
    spec, *options = re.split(r"\s+(?=--)", text)
    for option in options:
        name = _name(option)
        if name != "--hash":
            return f"{name} is not allowed: {REFUSED_OPTIONS.get(name, 'only --hash may follow a requirement')}"
    direct = _DIRECT.match(spec)
    target = direct.group(1) if direct else spec.split(";", 1)[0].split()[0]
    if _VCS.match(target):
        return "VCS requirements build from source at sync time; publish a wheel (or put it in plugins.zip)"
    if target.lower().startswith("file:") or target.startswith((".", "/", "~")):
        path = target[5:] if target.lower().startswith("file:") else target
        if plugins_folder and path.lstrip("/").startswith(plugins_folder.strip("/") + "/") and ".." not in path:
            return None
        return "local paths and file: URLs are allowed only inside the plugins folder"
    if "://" in target:
        return None if target.lower().startswith(("https://", "http://")) else "only http(s) URLs are allowed"
    return _pep508(spec)


def _pep508(text: str) -> str | None:
    """None when ``text`` is a PEP 508 requirement, else the parser's complaint."""
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # pip always vendors it
        from pip._vendor.packaging.requirements import InvalidRequirement, Requirement  # type: ignore[assignment]
    try:
        Requirement(text)
    except InvalidRequirement as exc:
        return f"not a requirement pip can read: {str(exc).splitlines()[0]}"
    return None


def mask_urls(text: str) -> str:
    """``text`` with the password (or token) of every URL in it replaced by ``***``."""
    return re.sub(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+", lambda m: _mask_url(m.group(0)), text)


def _mask_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        if "@" not in parts.netloc:
            return url
        userinfo, host = parts.netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0] if ":" in userinfo else "***"
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}" if ":" in userinfo else f"***@{host}"))
    except ValueError:
        return "***"
