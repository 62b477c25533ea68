"""The replay cap, seen from outside: a change the vendor never takes reaches it at most
``--max-replays`` times more than its first attempt, however often and however concurrently
the same window is replayed, and the DLQ stays bounded."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from tests.integration.conftest import Running, wait_for
from tests.integration.test_end_to_end import closed_event

pytestmark = pytest.mark.integration

CONTACT_PATH = "/business-data-manager/v1/business-data/contact/"
CONTACTS = [f"never-{n}" for n in range(5)]


async def enricher(running: Running, *args: str) -> tuple[int, str, str]:
    """``enricher ARGS`` in its own process, as an operator runs it."""
    s = running.settings
    env = {
        **os.environ,
        "ENRICHER_KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap_servers,
        "ENRICHER_KAFKA_ENABLE_IDEMPOTENCE": "false",
        "ENRICHER_TOPIC_DLQ": s.topic_dlq,
        "ENRICHER_TOPIC_RETRY_PREFIX": s.topic_retry_prefix,
        "ENRICHER_RETRY_TIERS": "1s,2s",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()[-2000:]
    return process.returncode, out.decode(), err.decode()


async def puts_per_contact(running: Running) -> Counter[str]:
    return Counter(
        r["path"].removeprefix(CONTACT_PATH)
        for r in await running.sim.puts()
        if r["path"].startswith(CONTACT_PATH)
    )


async def test_replaying_a_window_again_and_concurrently_never_exceeds_the_cap(
    run_service: Any,
) -> None:
    async with run_service() as running:
        for contact in CONTACTS:
            await running.sim.contact(contact)
        # CaseNumber is not a field at this tenant: NICE refuses every write with 400.
        await running.sim.control.patch(
            "/_sim/config", json={"field_catalogue": ["CrmAccount", "Vip"]}
        )
        since = datetime.now(UTC).isoformat()
        for n, contact in enumerate(CONTACTS):
            await running.closed(closed_event(f"i-never-{n}", contact))

        async def dead_letters() -> int:
            return len(await running.dead_letters())

        async def all_dead() -> bool:
            return await dead_letters() >= len(CONTACTS)

        await wait_for(all_dead, 30, "the five refused changes in the DLQ")
        window = ["dlq", "replay", "--tenant", "acme", "--since", since]
        # NICE takes 4 s to refuse the first replay's calls: they are in flight for a while.
        await running.sim.fault(path_prefix=CONTACT_PATH, latency_ms=4000, times=len(CONTACTS))

        async def settled() -> bool:
            before = (await dead_letters(), await puts_per_contact(running))
            await asyncio.sleep(3)
            return before == (await dead_letters(), await puts_per_contact(running))

        await enricher(running, *window)
        _, _, second = await enricher(running, *window)
        assert "selected 5; replayed 5" in second, second  # the first one's are in flight
        await wait_for(settled, 60, "the first two replays' records to come back")
        await asyncio.gather(enricher(running, *window), enricher(running, *window))
        await wait_for(settled, 60, "the overlapping replays' records to come back")
        _, _, last = await enricher(running, *window)  # the fifth, once everything is back
        await wait_for(settled, 60, "the fifth replay's records to come back")
        puts = await puts_per_contact(running)
        assert set(puts) == set(CONTACTS)
        assert all(n <= 1 + 3 for n in puts.values()), puts
        assert all(n >= 2 for n in puts.values()), puts  # the replays did reach the vendor

        _, listing, _ = await enricher(running, "dlq", "list", "--json", "--limit", "1000")
        letters = [orjson.loads(line) for line in listing.splitlines() if line.strip()]
        per_original = Counter(
            (p["source_topic"], p["source_partition"], p["source_offset"])
            for p in (r["provenance"] for r in letters)
            if p["source_topic"] == running.settings.topic_closed
        )
        assert len(per_original) == len(CONTACTS)
        assert all(n <= 1 + 3 for n in per_original.values()), per_original

        assert "replayed 0" in last, last
        assert "skipped 5 already replayed 3 time(s)" in last, last

        _, latest, _ = await enricher(running, "dlq", "list", "--latest", "--json")
        lines = [orjson.loads(line) for line in latest.splitlines() if line.strip()]
        assert len(lines) == len(CONTACTS)
        assert {line["provenance"]["interaction_id"] for line in lines} == {
            f"i-never-{n}" for n in range(5)
        }
        assert all(line["provenance"].get("replays") == "3" for line in lines), lines
        assert not running.task.done()
