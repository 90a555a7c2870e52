"""What every configuration schema of the project shares: pydantic v2 models that refuse unknown keys
and coerce nothing, and one error type whose message names the dotted key (``train.batch_size``,
``experiments.main.tables[0]``).

Pydantic was chosen over OmegaConf structured configs because its constraints (``gt``, ``ge``,
``Literal``) and validators live beside each field, strict mode rejects ``"3"`` for an int and ``true``
for a number, and every error carries its location, so the hand-written coercers are gone.
"""
from __future__ import annotations

import re
import types
import typing
from collections.abc import Collection
from typing import Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

Model = TypeVar("Model", bound=BaseModel)
SHA256_HEX = re.compile(r"[0-9a-f]{64}")  # a sha256 digest as pinned in params, sources and sidecar files


class ConfigError(ValueError):
    """Raised for an invalid configuration; the message names the offending key."""


class Schema(BaseModel):
    """Base of every configuration section: unknown keys and loosely typed values are errors."""

    model_config = ConfigDict(extra="forbid", strict=True)


def one_of(choices: Collection[str], noun: str) -> AfterValidator:
    """A string that must be one of ``choices``; the error says which kind of name was unknown."""
    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"unknown {noun} {value!r}; known: {list(choices)}")
        return value
    return AfterValidator(check)


def parse(model: type[Model], data: Any, prefix: str = "") -> Model:
    """``data`` validated as ``model``, or a :class:`ConfigError` naming the first bad key."""
    try:
        return model.model_validate({} if data is None else data)
    except ValidationError as e:
        raise ConfigError(describe(model, e.errors()[0], prefix)) from None


def dotted(loc: tuple[Any, ...], prefix: str = "") -> str:
    """``("experiments", "main", "tables", 0)`` → ``experiments.main.tables[0]``."""
    key = prefix
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        elif part != "[key]":
            key += f".{part}" if key else str(part)
    return key


_EXPECTED = {
    "int_type": "an integer", "int_from_float": "an integer", "float_type": "a number", "bool_type": "true/false",
    "string_type": "a string", "list_type": "a list", "tuple_type": "a list", "dict_type": "a mapping",
    "model_type": "a mapping", "model_attributes_type": "a mapping", "none_required": "null",
}


def describe(model: type[BaseModel], error: dict[str, Any], prefix: str = "") -> str:
    """One pydantic error as ``<dotted key>: <what is wrong>``, in the project's words."""
    loc = tuple(error["loc"])
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        known = f" (known: {', '.join(parent.model_fields)})" if parent is not None else ""
        return f"unknown key {dotted(loc, prefix)}{known}"
    if loc and loc[-1] == "[key]":
        return f"{dotted(loc[:-1], prefix)}: key {value!r} must be a string"
    key = dotted(loc, prefix) or prefix or "config"
    if kind == "missing":
        return f"{key}: required"
    if kind in _EXPECTED:
        return f"{key}: expected {_EXPECTED[kind]}, got {value!r}"
    if kind == "literal_error":
        return f"{key}: must be one of {ctx['expected']}, got {value!r}"
    if kind == "value_error":
        return f"{key}: {ctx['error']}"
    bounds = {"greater_than": ("gt", ">"), "greater_than_equal": ("ge", ">="), "less_than": ("lt", "<"),
              "less_than_equal": ("le", "<=")}
    if kind in bounds:
        name, sign = bounds[kind]
        rule = "must be positive" if (name, ctx[name]) == ("gt", 0) else f"must be {sign} {ctx[name]}"
        hint = _description(model, loc)
        return f"{key}: {rule}, got {value!r}" + (f" ({hint})" if hint else "")
    if kind == "too_short":
        need = "must not be empty" if ctx["min_length"] == 1 else f"needs at least {ctx['min_length']} entries"
        return f"{key}: {need}, got {value!r}"
    if kind == "too_long":
        return f"{key}: takes at most {ctx['max_length']} entries, got {value!r}"
    return f"{key}: {error['msg']}"


def _unwrap(annotation: Any) -> Any:
    """The model class inside ``X | None``, ``dict[str, X]`` or ``list[X]``, else the annotation."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(inner[0]) if len(inner) == 1 else annotation
    if origin in (dict, list, tuple):
        return _unwrap(typing.get_args(annotation)[-1])
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    return annotation


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that the value at ``loc`` is validated as (dict keys and list indices skipped)."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = _unwrap(current.model_fields[part].annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _description(model: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    parent = _model_at(model, loc[:-1])
    field = parent.model_fields.get(loc[-1]) if parent is not None and loc else None
    return field.description if field is not None else None
