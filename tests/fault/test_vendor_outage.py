"""A vendor down for a minute (503s, then answers slower than the delivery timeout): no retry
storm against it, no delay for the tenant beside it, and everything delivered once it is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from service.http_server import AppServer
from service.platforms.nice_cxone.simulator import NiceSimConfig, create_app
from tests.fault.cluster import Load, cluster, summary, wait_until
from tests.fixtures.nice import Sim
from tests.integration.conftest import FIELDS, TWO_TENANTS_YAML

pytestmark = [pytest.mark.fault]

OUTAGE_503 = 30.0
OUTAGE_TIMEOUTS = 30.0
GLOBEX_YAML = TWO_TENANTS_YAML.replace(
    "globex:\n    platform: nice-cxone\n    nice-cxone:\n      issuer: ${ISSUER}",
    "globex:\n    platform: nice-cxone\n    nice-cxone:\n      issuer: ${ISSUER_GLOBEX}",
)


@pytest.fixture
async def other_sim() -> AsyncIterator[Sim]:
    async with (
        AppServer(create_app(NiceSimConfig(field_catalogue=FIELDS))) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as control,
    ):
        yield Sim(server.url, control)


def in_window(request: dict[str, object], start: datetime, end: datetime) -> bool:
    at = datetime.fromisoformat(str(request["time"]).replace("Z", "+00:00"))
    return start <= at <= end


async def test_a_minute_long_vendor_outage_is_survived_without_a_retry_storm(
    kafka_bootstrap: str, sim: Sim, other_sim: Sim, tmp_path: Path
) -> None:
    assert "${ISSUER_GLOBEX}" in GLOBEX_YAML
    async with cluster(
        kafka_bootstrap,
        tmp_path,
        sim.url,
        tenants_yaml=GLOBEX_YAML,
        extra_env={"ISSUER_GLOBEX": other_sim.url},
    ) as group:
        acme = Load(sim, kafka_bootstrap, group, count=150, rate=10, tenant="acme")
        globex = Load(other_sim, kafka_bootstrap, group, count=150, rate=10, tenant="globex")
        await asyncio.gather(acme.prepare(), globex.prepare())
        replica = group.add()
        await wait_until(replica.ready, 60, "the replica ready")

        outage_start = datetime.now(UTC)
        await sim.fault(method="PUT", status=503, times=0)
        acme_producing = asyncio.create_task(acme.produce())
        await globex.produce()
        # How long after its last event globex had everything, while acme's vendor was down.
        globex_lag = await wait_until(globex.delivered, 30, "globex delivered during the outage")
        await asyncio.sleep(max(0.0, OUTAGE_503 - (datetime.now(UTC) - outage_start).seconds))
        await sim.control.delete("/_sim/faults")
        await sim.control.put("/_sim/latency", json={"ms": 7000})  # beyond acme's 5 s timeout
        await asyncio.sleep(OUTAGE_TIMEOUTS)
        await sim.control.put("/_sim/latency", json={"ms": 0})
        outage_end = datetime.now(UTC)
        await acme_producing
        assert await replica.probe("/healthz") == 200  # an outage is not a reason to restart

        recovered = time.monotonic()
        await wait_until(acme.delivered, 120, "acme delivered after the vendor recovered")
        recovery = time.monotonic() - recovered
        calls = [r for r in await sim.puts() if in_window(r, outage_start, outage_end)]
        missing = await acme.missing()
        line = summary(
            "vendor outage",
            events_sent=acme.sent + globex.sent,
            faults_injected=f"{OUTAGE_503:g}s of 503 then {OUTAGE_TIMEOUTS:g}s of timeouts",
            lost=len(missing),
            went_backwards=len(stale := await acme.out_of_order()),
            duplicates=await acme.duplicates() + await globex.duplicates(),
            acme_calls_during_outage=len(calls),
            globex_lag_after_last_event_s=round(globex_lag, 1),
            recovery_s=round(recovery, 1),
        )
        assert missing == [], line + group.log_tail()
        assert stale == {}, line
        # 150 interactions, 4 attempts each, per retry tier, would be hundreds of calls; the
        # breaker lets a probe through per cool-down and spills the rest without a call.
        assert len(calls) < 60, line
        assert globex_lag < 5, line  # the tenant beside it never waited for acme's vendor
