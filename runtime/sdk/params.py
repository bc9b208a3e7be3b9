"""DAG and task params: ``Param`` with a default and JSON-schema-like validation."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from runtime.sdk.exceptions import ParamValidationError

_NOTSET = object()

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}


class Param:
    """A param with a default value and optional schema keywords (type, enum, minimum, ...)."""

    def __init__(self, default: Any = _NOTSET, description: str | None = None, **schema: Any) -> None:
        self.value = default
        self.description = description
        self.schema = schema

    def has_value(self) -> bool:
        """Whether a default (or a resolved value) is set."""
        return self.value is not _NOTSET

    def resolve(self, value: Any = _NOTSET, name: str = "param") -> Any:
        """Validate ``value`` (or the default) against the schema and return it."""
        final = self.value if value is _NOTSET else value
        if final is _NOTSET:
            raise ParamValidationError(f"param {name!r}: no value given and no default")
        _validate(name, final, self.schema)
        return final

    def dump(self) -> dict[str, Any]:
        """JSON-friendly form for serialization."""
        return {"value": None if self.value is _NOTSET else self.value, "description": self.description, "schema": self.schema,
                "has_value": self.has_value()}

    def __repr__(self) -> str:
        return f"Param({self.value!r})"


def _validate(name: str, value: Any, schema: Mapping[str, Any]) -> None:
    kind = schema.get("type")
    if kind:
        kinds = kind if isinstance(kind, list) else [kind]
        allowed = tuple(t for k in kinds for t in _TYPES.get(k, (object,)))
        bad_bool = isinstance(value, bool) and "boolean" not in kinds
        if not isinstance(value, allowed) or bad_bool:
            raise ParamValidationError(f"param {name!r}: {value!r} is not of type {kind}")
    if "enum" in schema and value not in schema["enum"]:
        raise ParamValidationError(f"param {name!r}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise ParamValidationError(f"param {name!r}: {value} is less than the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise ParamValidationError(f"param {name!r}: {value} is more than the maximum {schema['maximum']}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            raise ParamValidationError(f"param {name!r}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise ParamValidationError(f"param {name!r}: longer than {schema['maxLength']} characters")


class ParamsDict(MutableMapping[str, Any]):
    """Params of a DAG or task: reading a key gives the param's value, not the Param."""

    def __init__(self, params: Mapping[str, Any] | None = None, suppress_exception: bool = False) -> None:
        self._params: dict[str, Param] = {}
        for key, value in (params or {}).items():
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, Param):
            self._params[key] = value
        elif key in self._params and not isinstance(value, Param):
            param = copy.copy(self._params[key])
            param.value = value
            self._params[key] = param
        else:
            self._params[key] = Param(value)

    def __getitem__(self, key: str) -> Any:
        param = self._params[key]
        return param.value if param.has_value() else None

    def __delitem__(self, key: str) -> None:
        del self._params[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def get_param(self, key: str) -> Param:
        """The Param object itself."""
        return self._params[key]

    def update(self, other: Any = (), /, **kwargs: Any) -> None:  # type: ignore[override]
        items = other.items() if hasattr(other, "items") else other
        if isinstance(other, ParamsDict):
            items = other._params.items()
        for key, value in items:
            self[key] = value
        for key, value in kwargs.items():
            self[key] = value

    def copy(self) -> ParamsDict:
        """A shallow copy with copied Params."""
        new = ParamsDict()
        new._params = {k: copy.copy(v) for k, v in self._params.items()}
        return new

    def resolve(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Validate every param (with run-conf overrides) and return the plain values."""
        overrides = overrides or {}
        out: dict[str, Any] = {}
        for key, param in self._params.items():
            if key in overrides:
                out[key] = param.resolve(overrides[key], key)
            else:  # a Param with no default and no value fails, as Airflow's validation does
                out[key] = param.resolve(name=key)
        return out

    def dump(self) -> dict[str, Any]:
        """JSON-friendly form of every param."""
        return {k: json.loads(json.dumps(v.dump(), default=str)) for k, v in self._params.items()}

    def __repr__(self) -> str:
        return f"ParamsDict({dict(self)!r})"


def validate_conf(dumped: Mapping[str, Any], conf: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check a run's ``conf`` against serialized params (as Airflow does at trigger); the resolved values."""
    params = ParamsDict()
    for key, data in dumped.items():
        default = data.get("value") if data.get("has_value", True) else _NOTSET
        params[key] = Param(default, data.get("description"), **(data.get("schema") or {}))
    return params.resolve(conf or {})
