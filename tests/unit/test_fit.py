"""Copies of a record that the producer will take: sized as the producer sizes them, and
written without the value (or bare) exactly when the whole would not fit."""

from __future__ import annotations

import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from service.delivery.fit import (
    DEFAULT_MAX_REQUEST_SIZE,
    OMITTED,
    VALUE_SIZE,
    copies,
    fitting_copies,
    fitting_copy,
    is_omitted,
    record_size,
)

LIMIT = DEFAULT_MAX_REQUEST_SIZE
OURS = [("enricher.reason", b"too_large"), ("enricher.source_offset", b"7")]


@pytest.mark.parametrize(
    ("key", "value", "headers"),
    [
        (None, None, []),
        (b"", b"", []),
        (b"acme:i-1", b"x" * 63, []),
        (b"acme:i-1", b"x" * 64, [("a", b"")]),
        (b"k" * 127, b"x" * 8191, [("h" * 64, b"v" * 8192)]),
        (b"k" * 128, b"x" * 8192, [("h", b"v")] * 300),
        (None, b"x" * 1_048_400, OURS),
        (b"acme:i-1", b"x" * 2_097_152, [("\u00e9t\u00e9", b"1")]),
    ],
)
def test_sizes_match_what_the_producer_checks(
    key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
) -> None:
    assert record_size(key, value, headers) == DefaultRecordBatchBuilder.estimate_size_in_bytes(
        key, value, list(headers)
    )


def _value_for(size: int, key: bytes, headers: list[tuple[str, bytes]]) -> bytes:
    """A value that makes the record exactly ``size`` bytes."""
    value = b"x" * (size - 200)
    while record_size(key, value, headers) < size:
        value += b"x"
    assert record_size(key, value, headers) == size
    return value


@pytest.mark.parametrize(
    ("size", "omitted"),
    [
        (1_000, ()),
        (LIMIT - 1, ()),
        (LIMIT, ()),
        (LIMIT + 1, ("value",)),
        (2 * LIMIT, ("value",)),
    ],
)
def test_the_value_is_left_out_exactly_when_the_whole_copy_would_not_fit(
    size: int, omitted: tuple[str, ...]
) -> None:
    key = b"acme:i-1"
    value = _value_for(size, key, OURS)
    copy = fitting_copy(key, value, OURS, LIMIT)
    assert copy.omitted == omitted
    assert record_size(copy.key, copy.value, copy.headers) <= LIMIT
    if omitted:
        assert copy.key == key
        assert copy.value == b""
        assert (OMITTED, b"value") in copy.headers
        assert (VALUE_SIZE, str(len(value)).encode()) in copy.headers
        assert copy.headers[: len(OURS)] == OURS
        assert is_omitted(copy.headers)
    else:
        assert (copy.key, copy.value, copy.headers) == (key, value, OURS)
        assert not is_omitted(copy.headers)


def test_a_copy_whose_key_or_producer_headers_are_too_large_keeps_only_our_headers() -> None:
    producer_headers = [("trace", b"t" * LIMIT)]
    copy = fitting_copy(b"acme:i-1", b"{}", producer_headers + OURS, LIMIT)
    assert copy.omitted == ("key", "value", "headers")
    assert copy.key is None
    assert copy.value == b""
    assert copy.headers == [*OURS, (OMITTED, b"key,value,headers"), (VALUE_SIZE, b"2")]
    assert is_omitted(copy.headers)
    huge_key = fitting_copy(b"k" * LIMIT, b"{}", OURS, LIMIT)
    assert huge_key.omitted == ("key", "value", "headers")


def test_a_limit_below_our_own_headers_yields_the_bare_copy_for_the_producer_to_refuse() -> None:
    copy = fitting_copy(b"k", b"v", OURS, 10)
    assert copy.omitted == ("key", "value", "headers")


def test_forms_run_from_complete_to_bare_and_a_null_value_has_nothing_to_leave_out() -> None:
    assert [c.omitted for c in copies(b"k", b"v", OURS)] == [
        (),
        ("value",),
        ("key", "value", "headers"),
    ]
    assert [c.omitted for c in copies(b"k", None, OURS)] == [(), ("key", "value", "headers")]


def test_marking_again_replaces_the_old_marks() -> None:
    once = fitting_copy(b"k", b"x" * 100, OURS, 150)
    twice = copies(once.key, b"y" * 50, once.headers)[1]
    assert [h for h in twice.headers if h[0] == VALUE_SIZE] == [(VALUE_SIZE, b"50")]
    assert [h for h in twice.headers if h[0] == OMITTED] == [(OMITTED, b"value")]


def test_the_forms_offered_in_turn_are_those_that_fit() -> None:
    key = b"acme:i-1"
    small = fitting_copies(key, b"v", OURS, LIMIT)
    assert [c.omitted for c in small] == [(), ("value",), ("key", "value", "headers")]
    big = fitting_copies(key, _value_for(LIMIT + 1, key, OURS), OURS, LIMIT)
    assert [c.omitted for c in big] == [("value",), ("key", "value", "headers")]
    assert [c.omitted for c in fitting_copies(key, b"v", OURS, 10)] == [("key", "value", "headers")]
