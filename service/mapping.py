"""Pure field mapping: pick merged fields, rename them for the platform, coerce.

A value that cannot be coerced is not dropped silently: it comes back as a
:class:`FieldProblem`, which the pipeline dead-letters beside the delivery of the other fields.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from service.events import Scalar, Value
from service.tenant_fields import FieldMapping, FieldType

__all__ = ["CoercionError", "FieldProblem", "Mapped", "coerce", "map_fields"]

_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off"})


class CoercionError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class FieldProblem:
    target: str
    source: str
    message: str


@dataclass(frozen=True, slots=True)
class Mapped:
    values: dict[str, Scalar]
    problems: tuple[FieldProblem, ...] = ()


def map_fields(fields: Mapping[str, Value], mapping: Mapping[str, FieldMapping]) -> Mapped:
    """Absent and null sources are left out: the platform keeps whatever it had."""
    values: dict[str, Scalar] = {}
    problems: list[FieldProblem] = []
    for target, rule in mapping.items():
        value = fields.get(rule.source)
        if value is None:
            continue
        try:
            values[target] = coerce(value, rule.type)
        except CoercionError as exc:
            # A private value never reaches a message: the message goes to the DLQ and logs.
            message = f"the private value is not a {rule.type}" if rule.privacy else str(exc)
            problems.append(FieldProblem(target, rule.source, message))
    return Mapped(values, tuple(problems))


def coerce(value: Value, target: FieldType | None) -> Scalar:
    """Coerce to the platform field's type; with no type, scalars pass as they are and lists
    become comma-separated text (no platform stores a list)."""
    if target is None:
        return _to_string(value) if isinstance(value, tuple) else value
    if target == "string":
        return _to_string(value)
    if target == "number":
        return _to_number(value)
    return _to_boolean(value)


def _to_string(value: Value) -> str:
    if isinstance(value, tuple):
        return ", ".join(_to_string(item) for item in value if item is not None)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _to_number(value: Value) -> int | float:
    if isinstance(value, bool | tuple) or value is None:
        raise CoercionError(f"{value!r} is not a number")
    if isinstance(value, int | float):
        return value
    text = value.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise CoercionError(f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise CoercionError(f"{value!r} is not a finite number")
    return number


def _to_boolean(value: Value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise CoercionError(f"{value!r} is not a boolean")
