"""Several replicas in one group on one broker with the Redis ledger: crashes, scaling and
graceful shutdown under load lose nothing."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from tests.fault.cluster import Load, RacingLoad, cluster, summary, wait_until
from tests.fixtures.nice import Sim

pytestmark = [pytest.mark.fault]


async def test_kill_9_at_random_moments_ten_times_loses_nothing(
    kafka_bootstrap: str, sim: Sim, tmp_path: Path
) -> None:
    async with cluster(kafka_bootstrap, tmp_path, sim.url) as group:
        load = Load(sim, kafka_bootstrap, group, count=400, rate=40)
        await load.prepare()
        for _ in range(2):
            group.add()
        await wait_until(group.all_ready, 60, "two replicas ready")
        producing = asyncio.create_task(load.produce())
        rng = random.Random(20261121)
        kills = 0
        for _ in range(10):
            await asyncio.sleep(rng.uniform(1.0, 3.0))
            victim = rng.choice(group.running())
            victim.kill()
            kills += 1
            victim.start()  # rescheduled at once, as a Deployment would
        await producing
        started = time.monotonic()
        settle = await wait_until(load.delivered, 120, "every interaction delivered")
        missing = await load.missing()
        line = summary(
            "kill -9",
            events_sent=load.sent,
            faults_injected=f"{kills} SIGKILLs",
            lost=len(missing),
            went_backwards=len(stale := await load.out_of_order()),
            duplicates=await load.duplicates(),
            accepted_puts=await load.puts(),
            recovery_s=round(settle, 1),
        )
        assert missing == [], line + group.log_tail()
        assert stale == {}, line
        assert time.monotonic() - started < 121


async def test_scaling_from_one_to_three_replicas_and_back_loses_nothing(
    kafka_bootstrap: str, sim: Sim, tmp_path: Path
) -> None:
    async with cluster(kafka_bootstrap, tmp_path, sim.url) as group:
        load = Load(sim, kafka_bootstrap, group, count=300, rate=40)
        await load.prepare()
        first = group.add()
        await wait_until(first.ready, 60, "the first replica ready")
        producing = asyncio.create_task(load.produce())
        await asyncio.sleep(2)
        added = [group.add(), group.add()]
        await wait_until(group.all_ready, 60, "three replicas ready")
        await asyncio.sleep(2)
        for replica in added:  # scale back down: SIGTERM, as Kubernetes does
            replica.terminate()
        codes = [await r.exit_code(30) for r in added]
        await producing
        settle = await wait_until(load.delivered, 90, "every interaction delivered")
        missing = await load.missing()
        line = summary(
            "scale 1-3-1",
            events_sent=load.sent,
            faults_injected="2 replicas added, then 2 stopped",
            lost=len(missing),
            went_backwards=len(stale := await load.out_of_order()),
            duplicates=await load.duplicates(),
            recovery_s=round(settle, 1),
        )
        assert codes == [0, 0], group.log_tail()
        assert missing == [], line + group.log_tail()
        assert stale == {}, line


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("kills", "late_puts"), [(0, 0), (4, 0), (0, 12)], ids=["steady", "sigkills", "late-answers"]
)
async def test_three_replicas_racing_on_one_interaction_never_leave_it_stale(
    kafka_bootstrap: str, sim: Sim, tmp_path: Path, kills: int, late_puts: int
) -> None:
    """One interaction's close and analytics reach different replicas (two producers, two
    partitioners), and its updates arrive close together: whatever the interleaving, the vendor
    never takes an older revision after a newer one, and ends holding the newest of every
    field. With ``late_puts``, some writes are applied by the vendor 6.5 s after they arrived,
    past the 5 s timeout at which the replica gave up on them (the vendor finishes a request
    whose client has gone): a newer revision sent in the meantime would be overwritten by the
    old one."""
    await sim.control.put("/_sim/latency", json={"ms": 5, "jitter_ms": 60})
    async with cluster(kafka_bootstrap, tmp_path, sim.url) as group:
        load = RacingLoad(sim, kafka_bootstrap, group, count=240, rate=150, updates=4)
        await load.prepare()
        for _ in range(3):
            group.add()
        await wait_until(group.all_ready, 60, "three replicas ready")
        producing = asyncio.create_task(load.produce())
        if late_puts:
            await asyncio.sleep(0.5)
            await sim.fault(
                method="PUT",
                path_prefix="/business-data",
                latency_ms=6500,
                times=late_puts,
                outlives_client=True,
            )
        rng = random.Random(20261205)
        for _ in range(kills):
            await asyncio.sleep(rng.uniform(0.8, 1.6))
            victim = rng.choice(group.running())
            victim.kill()
            victim.start()
        await producing
        try:
            settle = await wait_until(load.delivered, 90, "every interaction exact at the vendor")
        except AssertionError as exc:
            missing = await load.missing()
            sample = [await sim.fields(load.contact(n)) for n in missing[:3]]
            stale = await load.out_of_order()
            raise AssertionError(
                f"{exc}: {len(missing)} not exact, e.g. {sample}; "
                f"{len(stale)} went backwards, e.g. {dict(list(stale.items())[:3])}"
            ) from None
        stale = await load.out_of_order()
        line = summary(
            f"three replicas racing ({kills} SIGKILLs, {late_puts} late answers)",
            events_sent=load.sent,
            interactions=load.count,
            went_backwards=len(stale),
            duplicates=await load.duplicates(),
            accepted_puts=await load.puts(),
            settle_s=round(settle, 1),
        )
        assert stale == {}, f"{line}\n{dict(list(stale.items())[:5])}"
        assert await load.missing() == [], line + group.log_tail()
