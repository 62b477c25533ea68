from __future__ import annotations

import pytest

from service.mapping import CoercionError, coerce, map_fields
from service.tenants import FieldMapping


def rule(source: str, type_: str | None = None) -> FieldMapping:
    return FieldMapping.model_validate({"from": source, "type": type_})


def test_maps_renames_and_leaves_out_absent_and_null_sources() -> None:
    mapped = map_fields(
        {"sentiment.label": "neg", "score": None, "unmapped": 1},
        {"Sentiment": rule("sentiment.label"), "Score": rule("score"), "Missing": rule("nope")},
    )
    assert mapped.values == {"Sentiment": "neg"}
    assert mapped.problems == ()


def test_a_value_that_cannot_be_coerced_is_reported_not_dropped() -> None:
    mapped = map_fields(
        {"a": "n/a", "b": "7"}, {"A": rule("a", "number"), "B": rule("b", "number")}
    )
    assert mapped.values == {"B": 7}
    assert [(p.target, p.source) for p in mapped.problems] == [("A", "a")]


@pytest.mark.parametrize(
    ("value", "type_", "expected"),
    [
        ("x", None, "x"),
        (3, None, 3),
        (("billing", "cancel"), None, "billing, cancel"),
        (4711, "string", "4711"),
        (True, "string", "true"),
        (("a", None, 2), "string", "a, 2"),
        ("-0.62", "number", -0.62),
        ("42", "number", 42),
        (1.5, "number", 1.5),
        ("Yes", "boolean", True),
        ("off", "boolean", False),
        (0, "boolean", False),
        (True, "boolean", True),
    ],
)
def test_coercion(value: object, type_: str | None, expected: object) -> None:
    result = coerce(value, type_)  # type: ignore[arg-type]
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("value", "type_"),
    [
        (True, "number"),
        ("abc", "number"),
        ("nan", "number"),
        (("1",), "number"),
        (2, "boolean"),
        ("maybe", "boolean"),
    ],
)
def test_coercion_refuses_what_it_would_have_to_guess(value: object, type_: str) -> None:
    with pytest.raises(CoercionError):
        coerce(value, type_)  # type: ignore[arg-type]
