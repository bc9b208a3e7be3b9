"""The trigger form: fields generated from a DAG's params schema, and the conf they make."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from runtime.errors import UserError

SIMPLE = ("string", "integer", "number", "boolean")


@dataclass(frozen=True)
class ParamField:
    """One input of the trigger form."""

    name: str
    kind: str  # string | integer | number | boolean | enum | json
    value: Any
    description: str | None
    schema: dict[str, Any]
    options: list[Any]

    @property
    def text(self) -> str:
        """The default as the input shows it."""
        if self.kind == "json":
            return json.dumps(self.value, indent=2)
        return "" if self.value is None else str(self.value)


def _kind(schema: dict[str, Any], value: Any) -> str:
    if "enum" in schema:
        return "enum"
    declared = schema.get("type")
    types = [t for t in (declared if isinstance(declared, list) else [declared]) if t and t != "null"]
    if len(types) == 1 and types[0] in SIMPLE:
        return str(types[0])
    if not types:
        guess = {bool: "boolean", int: "integer", float: "number", str: "string"}.get(type(value))
        if guess:
            return guess
    return "json"


def param_fields(params: dict[str, Any]) -> list[ParamField]:
    """One field per param, in the DAG's order."""
    fields = []
    for name, dumped in params.items():
        schema = dict(dumped.get("schema") or {})
        value = dumped.get("value")
        fields.append(ParamField(name, _kind(schema, value), value, dumped.get("description"), schema,
                                 list(schema.get("enum") or [])))
    return fields


def conf_from_form(params: dict[str, Any], form: dict[str, str]) -> dict[str, Any]:
    """The run conf: the JSON editor's object if given, else each param field converted to its type."""
    raw = form.get("conf_json", "").strip()
    if raw:
        try:
            conf = json.loads(raw)
        except ValueError as exc:
            raise UserError(f"conf JSON is not valid: {exc}") from None
        if not isinstance(conf, dict):
            raise UserError("conf JSON must be an object, e.g. {\"key\": \"value\"}")
        return conf
    return {f.name: _convert(f, form) for f in param_fields(params) if _given(f, form)}


def _given(field: ParamField, form: dict[str, str]) -> bool:
    return field.kind == "boolean" or form.get(f"param.{field.name}", "") != ""


def _convert(field: ParamField, form: dict[str, str]) -> Any:
    text = form.get(f"param.{field.name}", "")
    try:
        if field.kind == "boolean":
            return text.lower() in ("on", "true", "1")
        if field.kind == "integer":
            return int(text)
        if field.kind == "number":
            return float(text)
        if field.kind == "json":
            return json.loads(text)
        if field.kind == "enum":
            return next((o for o in field.options if str(o) == text), text)
    except ValueError:
        raise UserError(f"param {field.name!r}: {text!r} is not a valid {field.kind}") from None
    return text
