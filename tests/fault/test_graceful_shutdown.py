"""SIGTERM: not ready at once, stop fetching, drain within the budget, commit, leave, exit 0."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.fault.cluster import Load, Replica, cluster, summary, wait_until
from tests.fixtures.nice import Sim

pytestmark = [pytest.mark.fault]


async def test_sigterm_drains_in_flight_calls_commits_and_exits_zero(
    kafka_bootstrap: str, sim: Sim, tmp_path: Path
) -> None:
    async with cluster(kafka_bootstrap, tmp_path, sim.url) as group:
        load = Load(sim, kafka_bootstrap, group, count=20, rate=200)
        await load.prepare()
        first = group.add()
        await wait_until(first.ready, 60, "the replica ready")
        await sim.control.put("/_sim/latency", json={"ms": 2000})
        await load.produce()
        await asyncio.sleep(1.0)  # every call is now in flight at the slow vendor
        assert await load.puts() == 0
        first.terminate()
        stopped = time.monotonic()
        not_ready = await wait_until(lambda: _not_ready(first), 2, "readiness to drop", every=0.05)
        code = await first.exit_code(15)
        exit_after = time.monotonic() - stopped
        delivered_at_exit = await load.missing()
        await sim.control.put("/_sim/latency", json={"ms": 0})
        puts = await load.puts()

        successor = group.add()
        await wait_until(successor.ready, 60, "the successor ready")
        await asyncio.sleep(3)  # anything uncommitted would be read and sent again by now
        line = summary(
            "graceful shutdown",
            events_sent=load.sent,
            faults_injected="SIGTERM with every call in flight",
            lost=len(delivered_at_exit),
            went_backwards=len(stale := await load.out_of_order()),
            duplicates=await load.puts() - puts,
            not_ready_after_s=round(not_ready, 2),
            exit_after_s=round(exit_after, 1),
        )
        assert code == 0, group.log_tail()
        assert delivered_at_exit == [], line  # the drain finished the calls in flight
        assert await load.puts() == puts, line  # and committed them: nothing read again
        assert stale == {}, line


async def test_a_drain_budget_that_runs_out_abandons_calls_and_the_successor_sends_them(
    kafka_bootstrap: str, sim: Sim, tmp_path: Path
) -> None:
    async with cluster(
        kafka_bootstrap, tmp_path, sim.url, extra_env={"ENRICHER_SHUTDOWN_DRAIN": "1s"}
    ) as group:
        load = Load(sim, kafka_bootstrap, group, count=10, rate=200)
        await load.prepare()
        first = group.add()
        await wait_until(first.ready, 60, "the replica ready")
        await sim.control.put("/_sim/latency", json={"ms": 4000})
        await load.produce()
        await asyncio.sleep(1.0)
        first.terminate()
        stopped = time.monotonic()
        code = await first.exit_code(15)
        exit_after = time.monotonic() - stopped
        await sim.control.put("/_sim/latency", json={"ms": 0})
        group.add()
        settle = await wait_until(load.delivered, 60, "the successor delivering everything")
        line = summary(
            "drain budget exceeded",
            events_sent=load.sent,
            faults_injected="SIGTERM, 1 s budget, 4 s vendor",
            lost=len(await load.missing()),
            went_backwards=len(stale := await load.out_of_order()),
            exit_after_s=round(exit_after, 1),
            recovery_s=round(settle, 1),
        )
        assert code == 0, group.log_tail()
        assert stale == {}, line
        assert exit_after < 6, line  # the budget, not the vendor, decided when it stopped


async def _not_ready(replica: Replica) -> bool:
    return await replica.probe("/readyz") != 200
