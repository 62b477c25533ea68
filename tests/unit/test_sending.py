"""What ``enricher send`` reads, checks and addresses, before anything reaches a broker."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from importlib.resources import files

import orjson
import pytest

from service.events import parse_event
from service.sending import (
    ANY_TENANT,
    SendError,
    address,
    placeholder_environ,
    read_events,
    sample_event,
)
from service.tenants import parse_tenants
from tests.unit.factories import analytics_json, closed_json

DEV_TENANTS = files("service.dev").joinpath("tenants.yaml").read_text(encoding="utf-8")
TOPICS = {"interaction.closed": "in.closed", "analytics.result": "in.analytics"}


def line(body: dict[str, object]) -> bytes:
    return orjson.dumps(body)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"a": 1}', [("e.json", b'{"a": 1}')]),
        (b'\n  {\n  "a": 1\n}\n\n', [("e.json", b'{\n  "a": 1\n}')]),
        (b'{"a": 1}\n\n{"b": 2}\n', [("e.json:1", b'{"a": 1}'), ("e.json:3", b'{"b": 2}')]),
    ],
    ids=["one object", "one pretty object", "JSON Lines"],
)
def test_reads_one_object_or_json_lines(data: bytes, expected: list[tuple[str, bytes]]) -> None:
    assert read_events(data, "e.json") == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "e.json: no event in it"),
        (b"  \n", "e.json: no event in it"),
        (b'{\n  "a": x\n}', "e.json:2:8: not JSON: unexpected character"),
        (b'{"a": 1}\n{"b": \n', "e.json:2:7: not JSON"),
        (b'{"a": 1}\n[1, 2]\n', "e.json:2: a JSON array, not an object"),
        (b"[1, 2]", "e.json:1: a JSON array, not an object; send several events as JSON Lines"),
        (b"\xff\xfe", "e.json: not UTF-8 JSON"),
    ],
    ids=["empty", "blank", "broken object", "broken line", "array line", "array", "not utf-8"],
)
def test_names_the_file_and_line_of_what_is_not_an_event(data: bytes, message: str) -> None:
    with pytest.raises(SendError) as caught:
        read_events(data, "e.json")
    assert str(caught.value).startswith(message), str(caught.value)


def test_addresses_each_event_by_its_type_and_key() -> None:
    closed = line(closed_json())
    sent = address("e.json", closed, {"acme"}, TOPICS)
    assert (sent.topic, sent.key, sent.value) == ("in.closed", "acme:call-000123", closed)
    assert address("x", line(analytics_json()), ANY_TENANT, TOPICS).topic == "in.analytics"


@pytest.mark.parametrize(
    ("body", "known", "message"),
    [
        (
            closed_json(occurred_at="2026-11-20"),
            {"acme"},
            "e.json:4: invalid_event: occurred_at: ",
        ),
        (closed_json(), {"globex"}, "e.json:4: unknown_tenant: tenant 'acme' is not configured"),
        (closed_json(type="closed"), ANY_TENANT, "e.json:4: unknown_type: type 'closed'"),
        (closed_json(interaction_id=7), ANY_TENANT, "e.json:4: invalid_event: interaction_id"),
        (closed_json(tenant="a b"), ANY_TENANT, "e.json:4: invalid_event: tenant"),
    ],
    ids=["bad time", "unknown tenant", "unknown type", "numeric id", "bad tenant name"],
)
def test_refuses_with_the_services_reason_and_detail(
    body: dict[str, object], known: object, message: str
) -> None:
    with pytest.raises(SendError) as caught:
        address("e.json:4", line(body), known, TOPICS)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message), str(caught.value)


NOW = datetime(2026, 11, 20, 10, 15, tzinfo=UTC)


@pytest.mark.parametrize("name", ["acme", "sinchco", "eightco", "genco"])
@pytest.mark.parametrize("kind", ["interaction.closed", "analytics.result"])
def test_a_sample_passes_the_service_and_carries_every_mapped_field(name: str, kind: str) -> None:
    tenants = parse_tenants(DEV_TENANTS, environ=placeholder_environ({}))
    tenant = tenants.tenants[name]
    body = sample_event(
        name, tenant, kind, interaction_id="s-1", event_id="e-1", now=NOW, rng=random.Random(1)
    )
    event = parse_event(f"{name}:s-1".encode(), orjson.dumps(body), tenants.tenants)
    assert (event.type, event.interaction_id, event.occurred_at) == (kind, "s-1", NOW)
    assert {m.source for m in tenant.fields.values()} <= set(event.fields)
    routed = kind == "interaction.closed" or tenant.platform == "genesys-gws"
    assert bool(event.ref) is routed


@pytest.mark.parametrize(
    ("platform", "keys"),
    [
        ("nice-cxone", {"contact_id"}),
        ("sinch-contact-pro", {"contact_id"}),
        ("8x8", {"guid"}),
        ("genesys-gws", {"media", "session_id"}),
    ],
)
def test_a_closed_sample_has_the_ref_its_platform_is_addressed_by(
    platform: str, keys: set[str]
) -> None:
    name = {"nice-cxone": "acme", "sinch-contact-pro": "sinchco", "8x8": "eightco"}.get(
        platform, "genco"
    )
    tenant = parse_tenants(DEV_TENANTS, environ=placeholder_environ({})).tenants[name]
    body = sample_event(
        name,
        tenant,
        "interaction.closed",
        interaction_id="s-1",
        event_id="e-1",
        now=NOW,
        rng=random.Random(1),
    )
    assert set(body["ref"]) == keys
    assert body["channel"] == "voice"


def test_sample_values_follow_the_mapped_type() -> None:
    tenants = parse_tenants(
        """
tenants:
  t:
    platform: 8x8
    8x8: {base_url: "https://x.example", tenant_id: t, action_token: "${T}"}
    fields:
      _A: {from: crm.score, type: number}
      _B: {from: crm.flag, type: boolean}
      _C: {from: note}
      _D: {from: crm}
""",
        resolve=False,
    )
    body = sample_event(
        "t",
        tenants.tenants["t"],
        "analytics.result",
        interaction_id="s-1",
        event_id="e-1",
        now=NOW,
        rng=random.Random(1),
    )
    event = parse_event(b"t:s-1", orjson.dumps(body), {"t"})
    assert event.fields == {"crm": "sample", "crm.flag": True, "crm.score": 1, "note": "sample"}
