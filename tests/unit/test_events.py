from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from service.events import BadInput, Limits, parse_event
from tests.unit.factories import analytics_json, closed_json, encode

EVENTS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "events.md"

KEY = b"acme:call-000123"
TENANTS = {"acme"}


def test_closed_event_parses_and_flattens() -> None:
    event = parse_event(KEY, encode(closed_json()), TENANTS)
    assert event.type == "interaction.closed"
    assert event.occurred_at == datetime(2026, 11, 20, 10, 15, tzinfo=UTC)
    assert event.ref == {"contact_id": "8675309", "segment_id": "b2e28d4e"}
    assert event.fields == {"crm_account": "A-1001", "case_number": 4711, "vip": True}
    assert event.channel == "voice"
    assert event.status == "Handled"


def test_an_id_under_a_key_no_built_in_platform_uses_is_kept_for_the_platform_that_does() -> None:
    ref = {"contact_id": "8675309", "ticket_id": "T-4711", "rank": 3, "note": None}
    event = parse_event(KEY, encode(closed_json(ref=ref)), TENANTS)
    assert event.ref == {"contact_id": "8675309", "ticket_id": "T-4711"}
    analytics = parse_event(KEY, encode(analytics_json(ref={"ticket_id": "T-4711"})), TENANTS)
    assert analytics.ref == {"ticket_id": "T-4711"}


@pytest.mark.parametrize(
    ("ref", "kept"),
    [
        pytest.param({"ticket_id": ""}, {}, id="empty"),
        pytest.param({"ticket_id": "x" * 257}, {}, id="too-long"),
        pytest.param(
            {f"id_{n}": "x" for n in range(33)},
            {f"id_{n}": "x" for n in range(32)},
            id="too-many",
        ),
    ],
)
def test_what_is_not_a_usable_id_under_an_unknown_key_is_ignored_as_it_always_was(
    ref: dict[str, str], kept: dict[str, str]
) -> None:
    """Producers were promised that unknown ref keys never make an event invalid; only what a
    platform could route on is kept."""
    event = parse_event(KEY, encode(closed_json(ref={"contact_id": "8675309", **ref})), TENANTS)
    assert event.ref == {"contact_id": "8675309", **kept}


def test_analytics_objects_flatten_with_dots_and_lists_stay_values() -> None:
    event = parse_event(KEY, encode(analytics_json()), TENANTS)
    assert event.fields == {
        "sentiment.label": "negative",
        "sentiment.score": -0.62,
        "topics": ("billing", "cancel"),
    }
    assert event.ref == {}


def test_offsets_in_timestamps_are_normalised_to_utc() -> None:
    event = parse_event(KEY, encode(closed_json(occurred_at="2026-11-20T12:15:00+02:00")), TENANTS)
    assert event.occurred_at == datetime(2026, 11, 20, 10, 15, tzinfo=UTC)


def test_unknown_top_level_keys_are_ignored_for_forward_compatibility() -> None:
    event = parse_event(KEY, encode(closed_json(trace_id="abc")), TENANTS)
    assert event.event_id


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (KEY, b"not json {", "not_json"),
        (KEY, None, "not_json"),
        (KEY, b"[1, 2]", "not_an_object"),
        (KEY, encode(closed_json(type="interaction.opened")), "unknown_type"),
        (KEY, encode(closed_json(version=2)), "unsupported_version"),
        (KEY, encode(closed_json(version=True)), "unsupported_version"),
        (KEY, encode(closed_json(version="1")), "unsupported_version"),
        (KEY, encode(closed_json(tenant="globex")), "unknown_tenant"),
        (KEY, encode({k: v for k, v in closed_json().items() if k != "tenant"}), "invalid_event"),
        (KEY, encode(closed_json(interaction_id=123)), "invalid_event"),
        (KEY, encode(closed_json(occurred_at="yesterday")), "invalid_event"),
        (KEY, encode(closed_json(occurred_at="2026-11-20T10:15:00")), "invalid_event"),
        (KEY, encode(closed_json(channel="fax")), "invalid_event"),
        (KEY, encode(closed_json(data={"a": [{"b": 1}]})), "invalid_event"),
        (KEY, encode(closed_json(data={"a.b": 1, "a": {"b": 2}})), "invalid_event"),
        (None, encode(closed_json()), "key_mismatch"),
        (b"acme:call-999", encode(closed_json()), "key_mismatch"),
        (b"\xff\xfe", encode(closed_json()), "key_mismatch"),
    ],
)
def test_bad_input_is_reported_with_a_stable_reason(
    key: bytes | None, value: bytes | None, reason: str
) -> None:
    with pytest.raises(BadInput) as caught:
        parse_event(key, value, TENANTS)
    assert caught.value.reason == reason
    assert caught.value.detail


def test_missing_field_detail_names_the_field() -> None:
    body = closed_json()
    del body["ref"]
    with pytest.raises(BadInput, match="ref"):
        parse_event(KEY, encode(body), TENANTS)


def test_size_limit() -> None:
    body = closed_json(data={"blob": "x" * 70_000})
    with pytest.raises(BadInput) as caught:
        parse_event(KEY, encode(body), TENANTS)
    assert caught.value.reason == "too_large"


def test_field_count_limit_counts_flattened_fields() -> None:
    data = {"group": {f"f{i}": i for i in range(201)}}
    with pytest.raises(BadInput) as caught:
        parse_event(KEY, orjson.dumps(closed_json(data=data)), TENANTS)
    assert caught.value.reason == "too_many_fields"
    within = {"group": {f"f{i}": i for i in range(200)}}
    assert len(parse_event(KEY, encode(closed_json(data=within)), TENANTS).fields) == 200


def test_field_name_limit_applies_to_the_flattened_name() -> None:
    data = {"a" * 100: {"b" * 30: 1}}
    with pytest.raises(BadInput) as caught:
        parse_event(KEY, encode(closed_json(data=data)), TENANTS, Limits(max_field_name=128))
    assert caught.value.reason == "field_name_too_long"


def test_bad_input_keeps_the_tenant_it_named_for_labelling() -> None:
    with pytest.raises(BadInput) as caught:
        parse_event(KEY, encode(closed_json(channel="fax")), TENANTS)
    assert caught.value.tenant == "acme"


# -- the contract refuses every value of the wrong JSON type, never coercing it ------------------

Builder = Callable[..., dict[str, Any]]

_NOT_A_STRING: list[Any] = [4711, 47.5, True, ["x"], {"x": "y"}]
_STRING_FIELDS = ("event_id", "tenant", "interaction_id", "channel")
_REF_FIELDS = ("contact_id", "segment_id", "call_id", "guid", "session_id", "media")


_BAD_TIMESTAMPS: list[Any] = [
    1732096500,  # Unix time as a number
    1732096500.5,
    "1732096500",  # Unix time in a string
    "1732096500.5",
    "+1732096500",
    "20261120",  # digits that read as Unix time, not as a date
    True,
    ["2026-11-20T10:15:00Z"],
    {"at": "2026-11-20T10:15:00Z"},
    "2026-11-20T10:15:00",  # no time zone
    "2026-11-20",  # a date alone has no zone
    "",
]


def _wrong_type_rows() -> list[Any]:
    """One row per contract field and wrong JSON type: (builder, field path, value, reason)."""
    rows: list[tuple[Builder, str, Any, str]] = []
    for builder in (closed_json, analytics_json):
        for field in _STRING_FIELDS:
            rows += [(builder, field, value, "invalid_event") for value in _NOT_A_STRING]
        rows += [(builder, "type", value, "unknown_type") for value in [*_NOT_A_STRING, None]]
        rows += [
            (builder, "version", value, "unsupported_version")
            for value in ["1", 1.0, True, [1], {"v": 1}, None]
        ]
        rows += [(builder, "data", value, "invalid_event") for value in ["x", 1, True, ["x"], None]]
        rows += [(builder, "occurred_at", value, "invalid_event") for value in _BAD_TIMESTAMPS]
        rows += [
            (builder, f"ref.{f}", value, "invalid_event")
            for f in _REF_FIELDS
            for value in _NOT_A_STRING
        ]
        rows += [(builder, "ref", value, "invalid_event") for value in ["x", 1, True, ["x"]]]
    for field in ("event_id", "tenant", "interaction_id", "occurred_at", "channel", "ref"):
        rows.append((closed_json, field, None, "invalid_event"))
    rows += [(closed_json, "status", value, "invalid_event") for value in _NOT_A_STRING]
    rows += [(analytics_json, "source", value, "invalid_event") for value in _NOT_A_STRING]
    return [
        pytest.param(b, f, v, r, id=f"{b.__name__}-{f}={orjson.dumps(v).decode()}")
        for b, f, v, r in rows
    ]


def _set(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    if "." in path:
        head, leaf = path.split(".", 1)
        body[head] = {**(body.get(head) or {}), leaf: value}
    else:
        body[path] = value
    return body


@pytest.mark.parametrize(("builder", "field", "value", "reason"), _wrong_type_rows())
def test_a_value_of_the_wrong_type_is_refused_naming_the_field(
    builder: Builder, field: str, value: Any, reason: str
) -> None:
    with pytest.raises(BadInput) as caught:
        parse_event(KEY, encode(_set(builder(), field, value)), TENANTS)
    assert caught.value.reason == reason
    if reason == "invalid_event":
        assert caught.value.detail.startswith(f"{field}: "), caught.value.detail
    else:
        assert field in caught.value.detail


def test_a_unix_time_is_refused_with_a_message_that_says_what_is_expected() -> None:
    with pytest.raises(BadInput) as caught:
        parse_event(KEY, encode(closed_json(occurred_at=1732096500)), TENANTS)
    assert "ISO 8601" in caught.value.detail
    assert "time zone" in caught.value.detail


def _readme_examples() -> list[dict[str, Any]]:
    text = EVENTS_PAGE.read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) == 2, "the events reference shows one example per event type"
    return [orjson.loads(block) for block in blocks]


@pytest.mark.parametrize("body", _readme_examples(), ids=lambda body: str(body["type"]))
def test_the_readme_examples_parse(body: dict[str, Any]) -> None:
    event = parse_event(KEY, encode(body), TENANTS)
    assert event.type == body["type"]
    assert event.occurred_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("occurred_at", "expected"),
    [
        ("2026-11-20T10:15:00Z", datetime(2026, 11, 20, 10, 15, tzinfo=UTC)),
        ("2026-11-20T10:15:00.250Z", datetime(2026, 11, 20, 10, 15, 0, 250_000, tzinfo=UTC)),
        ("2026-11-20T12:15:00+02:00", datetime(2026, 11, 20, 10, 15, tzinfo=UTC)),
        ("2026-11-20T12:15:00.250+02:00", datetime(2026, 11, 20, 10, 15, 0, 250_000, tzinfo=UTC)),
        ("2026-11-20T05:15:00-05:00", datetime(2026, 11, 20, 10, 15, tzinfo=UTC)),
        ("2026-11-20T10:15:00+00:00", datetime(2026, 11, 20, 10, 15, tzinfo=UTC)),
        ("2026-11-20 10:15:00Z", datetime(2026, 11, 20, 10, 15, tzinfo=UTC)),
        ("2026-11-20t10:15:00z", datetime(2026, 11, 20, 10, 15, tzinfo=UTC)),
    ],
)
def test_documented_timestamp_forms_parse(occurred_at: str, expected: datetime) -> None:
    event = parse_event(KEY, encode(closed_json(occurred_at=occurred_at)), TENANTS)
    assert event.occurred_at == expected


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(closed_json(status=None), id="closed-status-null"),
        pytest.param(
            {k: v for k, v in closed_json().items() if k != "status"}, id="closed-no-status"
        ),
        pytest.param({k: v for k, v in closed_json().items() if k != "data"}, id="closed-no-data"),
        pytest.param(closed_json(ref={"contact_id": "1", "media": None}), id="ref-member-null"),
        pytest.param(closed_json(ref={"session_id": "s-1", "media": "chats"}), id="ref-gws"),
        pytest.param(analytics_json(ref=None, channel=None, source=None), id="analytics-nulls"),
        pytest.param(analytics_json(ref={"guid": "g-1"}, channel="chat"), id="analytics-ref"),
        pytest.param(closed_json(event_id="4711", interaction_id="call-000123"), id="digit-ids"),
    ],
)
def test_documented_optional_and_null_forms_parse(body: dict[str, Any]) -> None:
    assert parse_event(KEY, encode(body), TENANTS).interaction_id == "call-000123"
