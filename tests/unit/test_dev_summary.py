"""Dev mode's pure parts: traffic plans and the per-platform summary."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import orjson
import pytest

from service.delivery.lanes import LaneStatus
from service.dev.devmode import (
    Figures,
    dev_admin_token,
    dev_environ,
    histogram_quantile,
    lane_state,
    platform_row,
    stored_fields,
)
from service.dev.traffic import BAD_RECORD, Order, SampleTenant, arrival_order, plan_interaction
from service.events import parse_event
from service.platforms.registry import built_in

INF = float("inf")

PLATFORMS = tuple(spec.id for spec in built_in())


def _tenant(platform: str) -> SampleTenant:
    live = platform == "genesys-gws"
    return SampleTenant(f"t-{platform.replace('-', '')}", platform, "http://sim", live=live)


@pytest.mark.parametrize(
    ("platform", "ref_keys"),
    [
        ("nice-cxone", {"contact_id"}),
        ("sinch-contact-pro", {"contact_id"}),
        ("8x8", {"guid"}),
        ("genesys-gws", {"media", "session_id"}),
    ],
)
def test_every_close_carries_the_ref_its_platform_needs(platform: str, ref_keys: set[str]) -> None:
    tenant = _tenant(platform)
    for n in range(1, 60):
        plan = plan_interaction(tenant, n, random.Random(n))
        closes = [s for s in plan.sends if s.topic == "closed" and s.value != BAD_RECORD]
        assert closes
        for send in closes:
            event = parse_event(plan.key, send.value, {plan.tenant.name})
            assert set(event.ref) == ref_keys
            assert event.status == "Handled"


def test_gws_analytics_carry_ref_and_always_come_before_the_close() -> None:
    tenant = _tenant("genesys-gws")
    for n in range(1, 200):
        plan = plan_interaction(tenant, n, random.Random(n))
        sends = [s for s in plan.sends if s.value != BAD_RECORD]
        assert sends[-1].topic == "closed"
        assert sends[-1].delay > 0
        for send in sends[:-1]:
            event = parse_event(plan.key, send.value, {plan.tenant.name})
            assert event.type == "analytics.result"
            assert event.ref == plan.ref
            assert event.ref["media"] == ("calls" if event.channel == "voice" else "chats")


def test_releases_happen_now_and_then_and_only_on_gws() -> None:
    for platform in PLATFORMS:
        plans = [plan_interaction(_tenant(platform), n, random.Random(n)) for n in range(400)]
        released = sum(p.released for p in plans)
        if platform == "genesys-gws":
            assert 0 < released < 100
        else:
            assert released == 0
            assert not any(s.release_first for p in plans for s in p.sends)


def test_only_the_8x8_close_carries_the_private_field() -> None:
    for platform in PLATFORMS:
        plan = plan_interaction(_tenant(platform), 7, random.Random(7))
        close = next(s for s in plan.sends if s.topic == "closed" and s.value != BAD_RECORD)
        assert ("card_last4" in orjson.loads(close.value)["data"]) is (platform == "8x8")


def test_after_close_platforms_keep_every_arrival_order() -> None:
    assert arrival_order(0.1, live=False) is Order.CLOSE_FIRST
    assert arrival_order(0.7, live=False) is Order.ANALYTICS_FIRST
    assert arrival_order(0.95, live=False) is Order.REDELIVERED
    assert arrival_order(0.1, live=True) is Order.ANALYTICS_FIRST
    assert arrival_order(0.95, live=True) is Order.REDELIVERED
    plans = [
        plan_interaction(_tenant("sinch-contact-pro"), n, random.Random(n)) for n in range(300)
    ]
    assert any(p.sends[0].value == BAD_RECORD for p in plans)
    assert any(len([s for s in p.sends if s.topic == "closed"]) == 2 for p in plans)


def test_plans_repeat_with_the_same_seed() -> None:
    a = plan_interaction(_tenant("8x8"), 3, random.Random(1))
    b = plan_interaction(_tenant("8x8"), 3, random.Random(1))
    assert (a.ref, a.channel, a.lookup, [s.topic for s in a.sends]) == (
        b.ref,
        b.channel,
        b.lookup,
        [s.topic for s in b.sends],
    )


def test_quantile_interpolates_inside_the_bucket() -> None:
    buckets = ((0.01, 50.0), (0.1, 100.0), (INF, 100.0))
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.01)
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.01 + 0.09 * 49 / 50)


def test_quantile_past_the_last_bound_is_that_bound_and_none_without_data() -> None:
    assert histogram_quantile(0.99, ((0.01, 0.0), (1.0, 1.0), (INF, 100.0))) == 1.0
    assert histogram_quantile(0.99, ((0.01, 0.0), (INF, 0.0))) is None
    assert histogram_quantile(0.99, ()) is None


def test_row_rate_and_p99_cover_only_the_last_period() -> None:
    before = Figures("8x8", delivered=10, latency_buckets=((0.01, 10.0), (1.0, 10.0), (INF, 10.0)))
    now = Figures("8x8", delivered=14, latency_buckets=((0.01, 10.0), (1.0, 14.0), (INF, 14.0)))
    row = platform_row("eightco", now, before, 2.0, None)
    assert row.delivered == 14
    assert row.rate == pytest.approx(2.0)
    assert row.p99_ms is not None
    assert row.p99_ms > 10
    assert row.lane == "-"


def _status(**changes: object) -> LaneStatus:
    base: dict[str, object] = {
        "tenant": "genco",
        "platform": "genesys-gws",
        "limit": 16,
        "max_concurrency": 16,
        "in_flight": 2,
        "queued": 3,
        "rate_per_second": 20.0,
        "breaker": "closed",
        "paused_until": None,
        "paused_by_operator": False,
        "oldest_waiting_seconds": 0.0,
    }
    return LaneStatus(**{**base, **changes})  # type: ignore[arg-type]


def test_lane_state_names_what_stops_a_lane_first() -> None:
    assert lane_state(_status()) == "sending, 2/16 in flight, 3 queued"
    assert lane_state(_status(breaker="half_open")).startswith("breaker half-open")
    until = datetime(2026, 1, 1, 12, 0, 5, tzinfo=UTC)
    assert lane_state(_status(breaker="open", paused_until=until)).startswith("paused until 12:00")
    assert lane_state(_status(paused_by_operator=True)).startswith("paused (operator)")


def test_stored_fields_mask_private_8x8_values() -> None:
    body = {"variables": {"_Card": {"value": "1234", "privacy": True}, "_S": {"value": "neg"}}}
    assert stored_fields("8x8", body) == {"_Card": "****", "_S": "neg"}
    assert stored_fields("nice-cxone", {"segments": {"s1": {"A": 1}}}) == {"A": 1}
    assert stored_fields("sinch-contact-pro", {"attached_data": {"A": "x"}}) == {"A": "x"}
    assert stored_fields("genesys-gws", {"user_data": {"A": 2}}) == {"A": 2}


def test_dev_environ_resolves_the_dev_tenants_file() -> None:
    from importlib.resources import files

    from service.tenants import parse_tenants

    urls = {p: f"http://127.0.0.1:{9000 + i}" for i, p in enumerate(PLATFORMS)}
    text = files("service.dev").joinpath("tenants.yaml").read_text(encoding="utf-8")
    config = parse_tenants(text, environ=dev_environ(urls))
    assert sorted(t.platform for t in config.tenants.values()) == sorted(PLATFORMS)
    eightco = config.tenants["eightco"]
    assert eightco.private_sources() == frozenset({"card_last4"})
    assert all(name.startswith("_") for name in eightco.fields)


def test_every_run_gets_an_admin_token_of_its_own() -> None:
    tokens = {dev_admin_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(len(token) >= 32 and token.isprintable() and " " not in token for token in tokens)
