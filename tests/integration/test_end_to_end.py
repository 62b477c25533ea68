"""Events on the real broker to fields stored at the NICE simulator, through the real service."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tests.integration.conftest import Running, wait_for
from tests.unit.factories import analytics_json, closed_json

pytestmark = pytest.mark.integration


def closed_event(
    interaction: str, contact: str, at: str = "2026-11-20T10:15:00Z", **data: Any
) -> dict[str, Any]:
    return closed_json(
        event_id=str(uuid.uuid4()),
        interaction_id=interaction,
        occurred_at=at,
        ref={"contact_id": contact},
        data=data or {"crm_account": "A-1001", "case_number": 4711, "vip": True},
    )


def analytics_event(interaction: str, label: str, at: str, score: float = -0.5) -> dict[str, Any]:
    return analytics_json(
        event_id=str(uuid.uuid4()),
        interaction_id=interaction,
        occurred_at=at,
        data={"sentiment": {"label": label, "score": score}, "topics": ["billing", "cancel"]},
    )


async def stored(running: Running, contact: str, expected: dict[str, Any]) -> None:
    async def matches() -> bool:
        return await running.sim.fields(contact) == expected

    await wait_for(matches, 30, f"contact {contact} to hold {expected}")


EXPECTED = {
    "CrmAccount": "A-1001",
    "CaseNumber": "4711",
    "Vip": True,
    "Sentiment": "positive",
    "SentimentScore": 0.8,
    "Topics": "billing, cancel",
}


async def test_every_arrival_order_converges_on_the_newest_fields(run_service: Any) -> None:
    async with run_service() as running:
        for contact in ("1", "2", "3", "4"):
            await running.sim.contact(contact)
        # 1: closed, then analytics
        await running.closed(closed_event("i-1", "1"))
        await running.analytics(analytics_event("i-1", "positive", "2026-11-20T10:17:00Z", 0.8))
        # 2: analytics first (held until the close), then closed. The two topics are fetched
        # independently, so the close is produced only once the analytics result was held.
        await running.analytics(analytics_event("i-2", "positive", "2026-11-20T10:17:00Z", 0.8))

        async def held() -> bool:
            held_total = running.metric("enricher_held_total", tenant="acme", platform="nice-cxone")
            return bool(held_total >= 1)

        await wait_for(held, 20, "the early analytics to be held")
        assert await running.sim.fields("2") == {}
        await running.closed(closed_event("i-2", "2"))
        # 3: every event delivered twice
        c3 = closed_event("i-3", "3")
        a3 = analytics_event("i-3", "positive", "2026-11-20T10:17:00Z", 0.8)
        for body in (c3, a3, c3, a3):
            await (running.closed(body) if body is c3 else running.analytics(body))
        # 4: two results for the same fields, newest first
        await running.closed(closed_event("i-4", "4"))
        await running.analytics(analytics_event("i-4", "positive", "2026-11-20T10:19:00Z", 0.8))
        await running.analytics(analytics_event("i-4", "negative", "2026-11-20T10:16:00Z", -0.9))
        for contact in ("1", "2", "3", "4"):
            await stored(running, contact, EXPECTED)
        assert await running.dead_letters() == []


async def test_a_500_is_retried_and_delivered(run_service: Any) -> None:
    async with run_service() as running:
        await running.sim.contact("10")
        await running.sim.fault(path_prefix="/business-data-manager", status=500, times=1)
        await running.closed(closed_event("i-10", "10"))
        await stored(running, "10", {"CrmAccount": "A-1001", "CaseNumber": "4711", "Vip": True})
        assert [p["status"] for p in await running.sim.puts()] == [500, 204]
        assert (
            running.metric(
                "enricher_retried_total", tenant="acme", platform="nice-cxone", reason="http_500"
            )
            == 1
        )
        assert await running.dead_letters() == []


async def test_a_400_goes_to_the_dlq_with_provenance_and_the_next_event_still_flows(
    run_service: Any,
) -> None:
    async with run_service() as running:
        await running.sim.contact("20")
        await running.sim.contact("21")
        await running.sim.control.patch(
            "/_sim/config", json={"field_catalogue": ["CrmAccount", "Vip"]}
        )  # CaseNumber is not a field at this tenant: NICE answers 400
        bad = closed_event("i-20", "20")
        await running.closed(bad)
        await running.closed(closed_event("i-21", "21", crm_account="A-2"))
        await stored(running, "21", {"CrmAccount": "A-2"})

        async def one_dead_letter() -> bool:
            return len(await running.dead_letters()) == 1

        await wait_for(one_dead_letter, 20, "the dead letter")
        [record] = await running.dead_letters()
        p = record.provenance
        assert record.key == b"acme:i-20"
        assert record.value is not None
        assert b'"i-20"' in record.value
        assert p["reason"] == "rejected"
        assert p["http_status"] == "400"
        assert p["attempts"] == "1"
        assert p["error_class"] == "VendorRejected"
        assert p["source_topic"] == running.settings.topic_closed
        assert p["source_partition"] in ("0", "1")
        assert p["source_offset"].isdigit()
        assert (p["tenant"], p["platform"], p["interaction_id"]) == ("acme", "nice-cxone", "i-20")
        assert p["revision"] == "1"
        assert p["service_version"]
        assert "first_failure_at" in p
        assert "last_failure_at" in p
        assert "response_excerpt" in p
        assert (
            running.metric(
                "enricher_dead_lettered_total",
                tenant="acme",
                platform="nice-cxone",
                reason="rejected",
            )
            == 1
        )


async def test_a_token_expiring_mid_run_is_renewed_without_a_failed_delivery(
    run_service: Any,
) -> None:
    async with run_service() as running:
        await running.sim.control.patch("/_sim/config", json={"token_ttl_seconds": 1})
        for n in range(6):
            await running.sim.contact(f"3{n}")
        for n in range(3):
            await running.closed(closed_event(f"i-3{n}", f"3{n}"))
        await stored(running, "32", {"CrmAccount": "A-1001", "CaseNumber": "4711", "Vip": True})
        await asyncio.sleep(1.2)  # the first token is now past its lifetime
        await running.sim.control.post("/_sim/tokens/expire")  # and revoked outright
        for n in range(3, 6):
            await running.closed(closed_event(f"i-3{n}", f"3{n}"))
        for n in range(6):
            await stored(
                running, f"3{n}", {"CrmAccount": "A-1001", "CaseNumber": "4711", "Vip": True}
            )
        assert await running.dead_letters() == []
        assert (
            running.metric(
                "enricher_dead_lettered_total",
                tenant="acme",
                platform="nice-cxone",
                reason="auth_failed",
            )
            == 0
        )
        tokens = [
            r
            for r in (await running.sim.control.get("/_sim/requests")).json()
            if r["path"] == "/auth/token"
        ]
        assert len(tokens) >= 2


BAD_INPUTS: list[tuple[str, bytes | None, bytes]] = [
    ("not_json", b"acme:i-x", b"{not json"),
    ("not_an_object", b"acme:i-x", b"[1, 2, 3]"),
    ("unknown_type", b"acme:i-x", b'{"type": "interaction.opened", "version": 1}'),
    ("unsupported_version", b"acme:i-x", b'{"type": "interaction.closed", "version": 9}'),
    (
        "invalid_event",
        b"acme:i-x",
        b'{"type": "interaction.closed", "version": 1, "tenant": "acme"}',
    ),
    ("unknown_tenant", b"globex:i-x", b""),
    ("too_large", b"acme:i-x", b""),
    ("too_many_fields", b"acme:i-x", b""),
    ("key_mismatch", b"acme:someone-else", b""),
    ("key_mismatch", None, b""),
]


def bad_value(reason: str, value: bytes) -> bytes:
    import orjson

    if reason == "unknown_tenant":
        return orjson.dumps(closed_json(tenant="globex", interaction_id="i-x"))
    if reason == "too_large":
        return orjson.dumps(closed_json(interaction_id="i-x", data={"blob": "x" * 70_000}))
    if reason == "too_many_fields":
        return orjson.dumps(
            closed_json(interaction_id="i-x", data={f"f{i}": i for i in range(250)})
        )
    if reason == "key_mismatch":
        return orjson.dumps(closed_json(interaction_id="i-x"))
    return value


async def test_every_kind_of_bad_input_is_dead_lettered_and_consumption_continues(
    run_service: Any,
) -> None:
    async with run_service() as running:
        await running.sim.contact("40")
        for reason, key, value in BAD_INPUTS:
            await running.send(running.settings.topic_closed, key, bad_value(reason, value))
        await running.closed(closed_event("i-40", "40"))
        await stored(running, "40", {"CrmAccount": "A-1001", "CaseNumber": "4711", "Vip": True})

        async def all_dead_lettered() -> bool:
            return len(await running.dead_letters()) == len(BAD_INPUTS)

        await wait_for(all_dead_lettered, 20, "every bad record in the DLQ")
        records = await running.dead_letters()
        assert sorted(r.provenance["reason"] for r in records) == sorted(
            r for r, _, _ in BAD_INPUTS
        )
        for record in records:
            assert record.provenance["error_class"] == "BadInput"
            assert record.provenance["detail"]
            assert record.provenance["source_topic"] == running.settings.topic_closed
        total = sum(
            running.metric("enricher_bad_input_total", tenant=t, reason=r)
            for r in {r for r, _, _ in BAD_INPUTS}
            for t in ("acme", "unknown")
        )
        assert total == len(BAD_INPUTS)


async def test_readiness_waits_for_the_group_join(run_service: Any) -> None:
    from aiokafka import AIOKafkaConsumer

    gate = asyncio.Event()

    class GatedConsumer(AIOKafkaConsumer):  # type: ignore[misc]
        async def start(self) -> None:
            await gate.wait()
            await super().start()

    async with run_service(wait_joined=False, consumer_factory=GatedConsumer) as running:

        async def http_up() -> bool:
            return bool(running.service.http.started)

        await wait_for(http_up, 10, "the HTTP server")
        import httpx

        async with httpx.AsyncClient(base_url=running.service.http.url) as http:
            before = await http.get("/readyz")
            assert before.status_code == 503
            assert before.json()["checks"]["group_joined"] is False
            assert (await http.get("/healthz")).status_code == 200
            gate.set()

            async def ready() -> bool:
                return bool((await http.get("/readyz")).status_code == 200)

            await wait_for(ready, 60, "readiness after the join")


async def test_metrics_count_consumed_delivered_retried_and_dead_lettered(run_service: Any) -> None:
    async with run_service() as running:
        await running.sim.contact("50")
        await running.sim.fault(path_prefix="/business-data-manager", status=503, times=1)
        await running.closed(closed_event("i-50", "50"))
        await running.send(running.settings.topic_closed, b"acme:i-51", b"garbage")
        await stored(running, "50", {"CrmAccount": "A-1001", "CaseNumber": "4711", "Vip": True})

        async def dead_lettered() -> bool:
            return len(await running.dead_letters()) == 1

        await wait_for(dead_lettered, 20, "the dead letter")
        text = (await running.http.get("/metrics")).text
        acme = 'platform="nice-cxone",'
        for line in (
            f'enricher_consumed_total{{{acme}tenant="acme",type="interaction.closed"}} 1.0',
            f'enricher_delivered_total{{{acme}tenant="acme"}} 1.0',
            f'enricher_retried_total{{{acme}reason="http_503",tenant="acme"}} 1.0',
            f'enricher_dead_lettered_total{{{acme}reason="not_json",tenant="acme"}} 1.0',
        ):
            assert line in text, line
