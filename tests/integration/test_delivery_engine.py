"""The delivery engine through the real broker and the NICE simulator: lanes do not block each
other, nothing is committed past an undelivered change, changes coalesce, retries go through
the retry topics without ever sending stale data, dead letters carry their provenance, and a
replay delivers once the vendor has recovered."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from click.testing import CliRunner

from service.cli import main
from service.delivery.dlq_reader import DeadLetterFilter
from service.delivery.replay import plan_replay, send_replays
from service.ledger.sqlite import LedgerWriteLost
from tests.integration.conftest import (
    TENANTS_YAML,
    TWO_TENANTS_YAML,
    Running,
    service_settings,
    wait_for,
)
from tests.integration.test_end_to_end import analytics_event, closed_event, stored

pytestmark = pytest.mark.integration

CONTACT_PATH = "/business-data-manager/v1/business-data/contact/"


def committed(running: Running, topic: str) -> float:
    return running.metric("enricher_committed_offset", topic=topic, partition="0")


async def test_a_slow_vendor_call_blocks_neither_another_lane_nor_commits_past_it(
    run_service: Any, kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = service_settings(kafka_bootstrap, tmp_path, topic_partitions=1)
    async with run_service(settings, tenants_yaml=TWO_TENANTS_YAML) as running:
        await running.sim.contact("slow-1")
        await running.sim.contact("fast-1")
        await running.sim.fault(path_prefix=CONTACT_PATH + "slow-", latency_ms=4000, times=0)
        slow = closed_event("i-slow", "slow-1")
        fast = closed_event("i-fast", "fast-1") | {"tenant": "globex"}
        await running.closed(slow)  # offset 0: acme's call will take 4 s
        await running.send(running.settings.topic_closed, "globex:i-fast", fast)  # offset 1
        await stored(running, "fast-1", {"CrmAccount": "A-1001", "CaseNumber": "4711", "Vip": True})
        assert await running.sim.fields("slow-1") == {}  # still in flight ...
        await asyncio.sleep(running.settings.commit_interval.total_seconds() * 3)
        # ... so offset 1 is done but nothing may be committed past offset 0.
        assert committed(running, running.settings.topic_closed) == 0
        incomplete = running.metric(
            "enricher_incomplete_offsets", topic=running.settings.topic_closed, partition="0"
        )
        assert incomplete == 2  # offset 1 is done, but behind an unfinished offset 0
        await stored(running, "slow-1", {"CrmAccount": "A-1001", "CaseNumber": "4711", "Vip": True})

        async def both_committed() -> bool:
            return committed(running, running.settings.topic_closed) == 2

        await wait_for(both_committed, 10, "the commit of both records")


async def test_changes_to_one_interaction_coalesce_while_a_call_is_in_flight(
    run_service: Any,
) -> None:
    async with run_service() as running:
        await running.sim.contact("30")
        await running.sim.fault(path_prefix=CONTACT_PATH, latency_ms=600, times=0)
        await running.closed(closed_event("i-30", "30"))
        for minute in range(10):
            await running.analytics(
                analytics_event("i-30", f"label-{minute}", f"2026-11-20T10:{20 + minute}:00Z")
            )
        await stored(
            running,
            "30",
            {
                "CrmAccount": "A-1001",
                "CaseNumber": "4711",
                "Vip": True,
                "Sentiment": "label-9",
                "SentimentScore": -0.5,
                "Topics": "billing, cancel",
            },
        )
        puts = await running.sim.puts()
        assert len(puts) <= 3, f"11 changes should coalesce into a few calls, got {len(puts)}"


async def test_a_parked_retry_never_sends_an_older_snapshot_than_one_delivered_since(
    run_service: Any,
) -> None:
    async with run_service() as running:
        await running.sim.contact("40")
        # Four 503s: the first round of in-process attempts fails and the change is parked.
        await running.sim.fault(path_prefix=CONTACT_PATH, status=503, times=4)
        await running.closed(closed_event("i-40", "40", crm_account="OLD"))

        async def parked() -> bool:
            return bool(
                running.metric(
                    "enricher_parked_total",
                    tenant="acme",
                    platform="nice-cxone",
                    tier="1s",
                    reason="http_503",
                )
                == 1
            )

        await wait_for(parked, 20, "the change to be parked in the first retry tier")
        await running.analytics(
            closed_event("i-40", "40", at="2026-11-20T10:30:00Z", crm_account="NEW")
            | {"type": "analytics.result", "ref": None, "channel": None}
        )
        await stored(running, "40", {"CrmAccount": "NEW"})

        async def retried() -> bool:
            return bool(
                running.metric(
                    "enricher_consumed_total", tenant="acme", platform="nice-cxone", type="retry"
                )
                == 1
            )

        await wait_for(retried, 20, "the parked record to come back")
        await asyncio.sleep(0.5)
        bodies = [p["json"] for p in await running.sim.puts() if p["status"] == 204]
        values = [
            next(v for item in body for k, v in item.items() if k == "CrmAccount")
            for body in bodies
        ]
        assert values == ["NEW"], "the retry re-read the ledger and found nothing newer to send"
        assert await running.sim.fields("40") == {"CrmAccount": "NEW"}


async def test_a_change_spilled_by_an_open_breaker_is_parked_unmerged_and_merged_on_return(
    run_service: Any, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """While the breaker is open a new change costs no ledger write: its record waits in the
    retry topic, and it is merged and delivered when it comes back after the recovery."""
    settings = service_settings(
        kafka_bootstrap, tmp_path, breaker_failures=2, breaker_cool_down=timedelta(seconds=3)
    )
    async with run_service(settings) as running:
        await running.sim.contact("45")
        await running.sim.contact("46")
        await running.sim.fault(path_prefix=CONTACT_PATH, status=503, times=2)
        await running.closed(closed_event("i-45", "45"))  # two 503s: the breaker opens

        def spilled_while_open() -> float:
            return float(
                running.metric(
                    "enricher_spilled_total",
                    tenant="acme",
                    platform="nice-cxone",
                    reason="breaker_open",
                )
            )

        async def open_() -> bool:
            return spilled_while_open() >= 1  # i-45's in-process retry met the open breaker

        await wait_for(open_, 20, "the breaker to open")
        before = spilled_while_open()
        await running.closed(closed_event("i-46", "46", crm_account="SPILLED"))

        async def spilled() -> bool:
            return spilled_while_open() > before

        await wait_for(spilled, 20, "the new change to be spilled")
        now = datetime.now(UTC)
        assert await running.service.ledger.get("acme", "i-46", now) is None
        assert await running.service.ledger.get("acme", "i-45", now) is not None
        await stored(running, "46", {"CrmAccount": "SPILLED"})
        await stored(running, "45", {"CrmAccount": "A-1001", "CaseNumber": "4711", "Vip": True})


async def test_a_lost_acknowledgement_stops_the_service_before_its_offset_is_committed(
    run_service: Any,
) -> None:
    """Acknowledgements are written behind; the flush before every offset commit is what
    guarantees none is lost under a committed offset, so a lost one is fatal instead."""

    async def scenario() -> None:
        async with run_service() as running:
            sqlite = running.service.ledger.inner
            original = sqlite._write

            def refuse_writes_behind(batch: list[Any]) -> None:
                if any(op.future is None for op in batch):
                    raise sqlite3.OperationalError("disk I/O error")
                original(batch)

            sqlite._write = refuse_writes_behind
            await running.sim.contact("47")
            await running.closed(closed_event("i-47", "47"))
            await stored(running, "47", {"CrmAccount": "A-1001", "CaseNumber": "4711", "Vip": True})

            async def stopped() -> bool:
                return bool(running.task.done())

            await wait_for(stopped, 10, "the service to stop on the lost acknowledgement")
            assert "LedgerWriteLost" in (running.service.health.fatal or "")
            assert committed(running, running.settings.topic_closed) == 0

    with pytest.raises(LedgerWriteLost, match="disk I/O error"):
        await scenario()


async def test_the_last_retry_tier_dead_letters_with_full_provenance(
    run_service: Any, kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = service_settings(kafka_bootstrap, tmp_path, breaker_failures=100)
    async with run_service(settings) as running:
        await running.sim.contact("50")
        await running.sim.fault(path_prefix=CONTACT_PATH, status=503, times=0)
        await running.closed(closed_event("i-50", "50"))

        async def dead() -> bool:
            return len(await running.dead_letters()) == 1

        await wait_for(dead, 40, "the change to leave the last retry tier for the DLQ")
        [record] = await running.dead_letters()
        p = record.provenance
        assert record.key == b"acme:i-50"
        assert record.value is not None
        assert b'"i-50"' in record.value
        # Three rounds of four attempts: in process, after tier 1s, after tier 2s.
        assert (p["reason"], p["http_status"], p["attempts"]) == ("http_503", "503", "12")
        assert p["error_class"] == "VendorUnavailable"
        # The original position, not the retry topic it came back from.
        assert (p["source_topic"], p["source_offset"]) == (running.settings.topic_closed, "0")
        assert p["first_failure_at"] < p["last_failure_at"]
        for name in ("tenant", "platform", "interaction_id", "revision", "service_version"):
            assert p[name]
        assert "injected_fault" in p["response_excerpt"]
        assert not any(k.startswith("enricher.retry.") for k, _ in record.headers)


async def test_replay_delivers_a_dead_letter_once_the_vendor_has_recovered(
    run_service: Any, kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with run_service() as running:
        await running.sim.contact("60")
        await running.sim.fault(path_prefix=CONTACT_PATH, status=400, times=1)
        await running.closed(closed_event("i-60", "60"))

        async def dead() -> bool:
            return len(await running.dead_letters()) == 1

        await wait_for(dead, 20, "the rejected change in the DLQ")
        assert await running.sim.fields("60") == {}
        settings = running.settings
        for name, value in {
            "ENRICHER_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "ENRICHER_TOPIC_DLQ": settings.topic_dlq,
            "ENRICHER_LEDGER_URL": settings.ledger_url,
        }.items():
            monkeypatch.setenv(name, value)
        # The command runs its own event loop: give it a thread, as a terminal would a process.
        dry = await asyncio.to_thread(
            CliRunner().invoke, main, ["dlq", "replay", "--dry-run", "--tenant", "acme"]
        )
        assert dry.exit_code == 0, dry.output
        assert "would replay 1" in dry.output
        assert "rejected: 1" in dry.output
        none = await asyncio.to_thread(
            CliRunner().invoke, main, ["dlq", "replay", "--dry-run", "--tenant", "globex"]
        )
        assert "would replay 0" in none.output

        todo, summary = await plan_replay(
            settings.kafka_client_options(),
            settings.topic_dlq,
            DeadLetterFilter(tenant="acme", reason="rejected"),
            max_replays=3,
        )
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
        await producer.start()
        try:
            await send_replays(producer, settings.retry_tier_topics, todo, summary, now=time.time)
        finally:
            await producer.stop()
        assert summary.replayed == 1
        await stored(running, "60", {"CrmAccount": "A-1001", "CaseNumber": "4711", "Vip": True})
        assert len(await running.dead_letters()) == 1  # delivered, not dead again


async def test_a_slow_vendor_that_answers_cannot_fill_the_pipeline_and_hold_up_another_tenant(
    run_service: Any, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """acme's vendor answers every call, after 300 ms, two at a time: neither failing nor
    stalled, just slower than its records arrive, so its oldest waiting interaction soon waits
    longer than a quarter of acme's 2 s timeout. Its records come first and keep coming, so
    without a fair share they would take all eight places in the pipeline, and each of
    globex's records would wait for acme calls to end before it could even be read."""
    settings = service_settings(
        kafka_bootstrap, tmp_path, topic_partitions=1, max_in_flight=8, retry_tiers="1s,2s"
    )
    acme = "    limits: {rate_per_second: 100, max_concurrency: 2}\n    delivery: {timeout: 2s}"
    globex = TWO_TENANTS_YAML[len(TENANTS_YAML) :]
    tenants = TENANTS_YAML.replace("    delivery: {max_attempts: 4, timeout: 5s}", acme) + globex
    async with run_service(settings, tenants_yaml=tenants) as running:
        slow = [f"slow-{n}" for n in range(24)]
        fast = [f"fast-{n}" for n in range(8)]
        for contact in slow + fast:
            await running.sim.contact(contact)
        await running.sim.fault(path_prefix=CONTACT_PATH + "slow-", latency_ms=300, times=0)
        order = slow[:8] + [c for n in range(8) for c in (*slow[8 + 2 * n : 10 + 2 * n], fast[n])]
        for contact in order:
            tenant = "acme" if contact.startswith("slow") else "globex"
            body = closed_event(f"i-{contact}", contact) | {"tenant": tenant}
            key = f"{tenant}:{body['interaction_id']}".encode()
            await running.producer.send(settings.topic_closed, orjson.dumps(body), key=key)
        await running.producer.flush()

        async def fast_delivered() -> bool:
            return all([await running.sim.fields(c) != {} for c in fast])

        await wait_for(fast_delivered, 30, "every globex record")
        acme_done = running.metric("enricher_delivered_total", tenant="acme", platform="nice-cxone")
        # Without the share, globex's last record is read only after about 17 acme deliveries.
        assert acme_done <= 8, f"globex waited for {acme_done:.0f} acme deliveries"
        over_share = running.metric(
            "enricher_spilled_total", tenant="acme", platform="nice-cxone", reason="lane_over_share"
        )
        assert over_share > 0

        async def slow_delivered() -> bool:
            return all([await running.sim.fields(c) != {} for c in slow])

        await wait_for(slow_delivered, 60, "every acme record, parked ones included")
        assert await running.dead_letters() == []
