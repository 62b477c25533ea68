"""Lane behaviour with a scripted adapter and the in-memory ledger: coalescing, one call per
interaction, isolation, Retry-After, the breaker, parking and the retry ladder."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from service.delivery.lanes import (
    Dead,
    Lane,
    LaneConfig,
    Lanes,
    Parked,
    Settlement,
    SettlementKind,
)
from service.delivery.retry_topics import Origin, tiers_of
from service.ledger.memory import MemoryLedger
from service.metrics import Metrics
from service.platforms.base import Delivery, WriteWindow
from service.platforms.outcomes import Outcome, OutcomeKind
from service.tenants import Tenant
from tests.unit.factories import T0, analytics, closed

OK = Outcome(OutcomeKind.DELIVERED, "delivered", 204)
FAIL = Outcome(OutcomeKind.RETRY, "http_503", 503)
REJECTED = Outcome(OutcomeKind.PERMANENT, "rejected", 400)
TIERS = tiers_of("retry.", [30, 300])
FRESH = Origin("closed", 0, 0)
DEFAULTS: dict[str, Any] = {
    "tiers": TIERS,
    "base_delay": 0.001,
    "max_delay": 0.01,
    "breaker_cool_down": 0.2,
}


def tenant(**overrides: Any) -> Tenant:
    return Tenant.model_validate(
        {
            "platform": "nice-cxone",
            "nice-cxone": {
                "issuer": "https://x",
                "client_id": "c",
                "client_secret": "s",
                "access_key_id": "k",
                "access_key_secret": "ks",
            },
            "delivery": {"max_attempts": 2},
            "limits": {"rate_per_second": 1000, "max_concurrency": 8},
            "fields": {"Crm": {"from": "crm"}},
            **overrides,
        }
    )


class Adapter:
    """Answers from ``script`` (an outcome, or a callable of the delivery); ``gate`` holds
    calls in flight until the test opens it."""

    platform = "nice-cxone"
    write_window: WriteWindow = "after_close"

    def __init__(self, script: Callable[[Delivery], Outcome] | None = None) -> None:
        self.script = script or (lambda _: OK)
        self.sent: list[Delivery] = []
        self.in_flight: dict[str, int] = {}
        self.max_parallel_per_interaction = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.call_times: list[float] = []
        self._progress = asyncio.Event()

    async def until_sent(self, calls: int) -> None:
        while len(self.sent) < calls:
            self._progress.clear()
            await asyncio.wait_for(self._progress.wait(), 5)

    async def send(self, delivery: Delivery) -> Outcome:
        key = delivery.interaction_id
        self.in_flight[key] = self.in_flight.get(key, 0) + 1
        self.max_parallel_per_interaction = max(
            self.max_parallel_per_interaction, self.in_flight[key]
        )
        self.call_times.append(asyncio.get_running_loop().time())
        self.sent.append(delivery)
        self._progress.set()
        try:
            await self.gate.wait()
            return self.script(delivery)
        finally:
            self.in_flight[key] -= 1

    async def close(self) -> None:
        return None


async def make_lane(
    adapter: Adapter, ledger: MemoryLedger | None = None, **config: Any
) -> tuple[Lane, MemoryLedger]:
    ledger = ledger or MemoryLedger()
    lane = Lane(
        "acme",
        config.pop("tenant", tenant()),
        adapter,
        ledger,
        metrics=Metrics(),
        config=LaneConfig(**DEFAULTS | config),
        wall_clock=lambda: T0 + timedelta(minutes=5),
    )
    lane.start()
    return lane, ledger


async def merge(ledger: MemoryLedger, event: Any) -> None:
    await ledger.merge(event, T0 + timedelta(minutes=5), timedelta(days=1))


async def queue_calls(
    submit: Callable[[str, Origin], asyncio.Future[Settlement]],
    ledger: MemoryLedger,
    count: int,
    tenant: str = "acme",
) -> list[asyncio.Future[Settlement]]:
    """Merge a change for ``call-0`` to ``call-{count - 1}`` of ``tenant`` and submit each."""
    futures = []
    for n in range(count):
        await merge(ledger, closed(interaction_id=f"call-{n}", fields={"crm": "x"}, tenant=tenant))
        futures.append(submit(f"call-{n}", FRESH))
    return futures


async def settle(*futures: asyncio.Future[Settlement]) -> list[Settlement]:
    return list(await asyncio.wait_for(asyncio.gather(*futures), 5))


async def test_changes_arriving_during_a_call_coalesce_into_one_follow_up() -> None:
    adapter = Adapter()
    adapter.gate.clear()
    lane, ledger = await make_lane(adapter)
    await merge(ledger, closed(fields={"crm": "A-1"}))
    first = lane.submit("call-1", FRESH)
    await adapter.until_sent(1)
    later = []
    for n in range(5):  # five more changes while the first call is in flight
        await merge(ledger, analytics(event_id=f"a{n}", fields={"crm": f"A-{n + 2}"}))
        later.append(lane.submit("call-1", FRESH))
    adapter.gate.set()
    results = await settle(first, *later)
    assert [r.kind for r in results] == [SettlementKind.DONE] * 6
    assert [d.values["Crm"] for d in adapter.sent] == ["A-1", "A-6"]  # two calls, not six
    assert adapter.max_parallel_per_interaction == 1
    await lane.close()


async def test_many_interactions_are_in_flight_at_once() -> None:
    adapter = Adapter()
    adapter.gate.clear()
    lane, ledger = await make_lane(adapter, initial_limit=8)
    futures = await queue_calls(lane.submit, ledger, 8)
    await adapter.until_sent(8)
    adapter.gate.set()
    assert {r.kind for r in await settle(*futures)} == {SettlementKind.DONE}
    await lane.close()


async def test_early_analytics_are_held_for_an_after_close_platform() -> None:
    adapter = Adapter()
    lane, ledger = await make_lane(adapter)
    await merge(ledger, analytics(fields={"crm": "A-1"}))
    [held] = await settle(lane.submit("call-1", FRESH))
    assert (held.kind, held.reason, adapter.sent) == (SettlementKind.DONE, "held", [])
    await merge(ledger, closed())
    [done] = await settle(lane.submit("call-1", FRESH))
    assert done.reason == "delivered"
    assert len(adapter.sent) == 1
    await lane.close()


async def test_transient_failures_retry_in_process_then_park_in_the_next_tier() -> None:
    adapter = Adapter(lambda _: FAIL)
    lane, ledger = await make_lane(adapter)
    await merge(ledger, closed(fields={"crm": "A-1"}))
    [fresh] = await settle(lane.submit("call-1", FRESH))
    assert isinstance(fresh, Parked)
    assert (fresh.kind, fresh.tier, fresh.attempts, fresh.reason) == (
        SettlementKind.PARK,
        0,
        2,
        "http_503",
    )
    assert fresh.due_at == pytest.approx((T0 + timedelta(minutes=5)).timestamp() + 30)
    from_tier_1 = Origin("closed", 0, 0, tier=1, attempts=4, first_failure_at=T0)
    [last] = await settle(lane.submit("call-1", from_tier_1))
    assert isinstance(last, Dead)
    assert (last.kind, last.attempts, last.first_failure_at) == (SettlementKind.DEAD, 6, T0)
    await lane.close()


async def test_a_permanent_outcome_is_dead_at_once() -> None:
    adapter = Adapter(lambda _: REJECTED)
    lane, ledger = await make_lane(adapter)
    await merge(ledger, closed(fields={"crm": "A-1"}))
    [dead] = await settle(lane.submit("call-1", FRESH))
    assert (dead.kind, dead.reason, dead.attempts, len(adapter.sent)) == (
        SettlementKind.DEAD,
        "rejected",
        1,
        1,
    )
    await lane.close()


async def test_retry_after_pauses_the_whole_lane() -> None:
    answers = iter([Outcome(OutcomeKind.RETRY, "http_429", 429, retry_after=0.005), OK, OK])
    adapter = Adapter(lambda _: next(answers))
    lane, ledger = await make_lane(adapter, max_delay=0.3)
    await merge(ledger, closed(interaction_id="call-1", fields={"crm": "a"}))
    await merge(ledger, closed(interaction_id="call-2", fields={"crm": "b"}))
    first = lane.submit("call-1", FRESH)
    await adapter.until_sent(1)
    await asyncio.sleep(0.001)
    second = lane.submit("call-2", FRESH)  # another interaction, same vendor
    await settle(first, second)
    assert adapter.call_times[1] - adapter.call_times[0] >= 0.005 - 1e-4
    await lane.close()


async def test_a_retry_after_beyond_the_in_process_budget_parks_until_then() -> None:
    adapter = Adapter(lambda _: Outcome(OutcomeKind.RETRY, "http_429", 429, retry_after=120))
    lane, ledger = await make_lane(adapter)
    await merge(ledger, closed(fields={"crm": "A-1"}))
    [parked] = await settle(lane.submit("call-1", FRESH))
    assert isinstance(parked, Parked)
    assert parked.due_at == pytest.approx((T0 + timedelta(minutes=5)).timestamp() + 120)
    assert lane.status().paused_until is not None
    await lane.close()


async def test_the_breaker_opens_parks_new_work_without_calls_and_closes_on_recovery() -> None:
    healthy = False
    adapter = Adapter(lambda _: OK if healthy else FAIL)
    lane, ledger = await make_lane(adapter, breaker_failures=2)
    for n in range(3):
        await merge(ledger, closed(interaction_id=f"call-{n}", fields={"crm": "x"}))
    await settle(lane.submit("call-0", FRESH))  # two failed calls: the breaker opens
    assert lane.status().breaker == "open"
    calls = len(adapter.sent)
    [refused] = await settle(lane.submit("call-1", FRESH))
    assert isinstance(refused, Parked)
    assert (refused.kind, refused.reason, refused.tier) == (
        SettlementKind.PARK,
        "breaker_open",
        0,
    )
    assert len(adapter.sent) == calls  # no call while open: no retry storm
    healthy = True
    await asyncio.sleep(0.25)  # the cool-down passes; the next call is the probe
    [probe] = await settle(lane.submit("call-2", FRESH))
    assert probe.reason == "delivered"
    assert lane.status().breaker == "closed"
    await lane.close()


async def test_a_full_lane_parks_instead_of_blocking() -> None:
    adapter = Adapter()
    adapter.gate.clear()
    lane, ledger = await make_lane(adapter, queue_limit=2)
    futures = await queue_calls(lane.submit, ledger, 3)
    [third] = await settle(futures[2])
    assert (third.kind, third.reason) == (SettlementKind.PARK, "lane_full")
    adapter.gate.set()
    await settle(*futures[:2])
    await lane.close()


async def test_a_stalled_lane_does_not_slow_another() -> None:
    stuck, fine = Adapter(), Adapter()
    stuck.gate.clear()
    ledger = MemoryLedger()
    slow_lane, _ = await make_lane(stuck, ledger)
    fast_lane, _ = await make_lane(fine, ledger)
    await merge(ledger, closed(interaction_id="call-1", fields={"crm": "x"}))
    await merge(ledger, closed(interaction_id="call-2", fields={"crm": "y"}))
    blocked = slow_lane.submit("call-1", FRESH)
    [done] = await settle(fast_lane.submit("call-2", FRESH))
    assert done.reason == "delivered"
    assert not blocked.done()
    await slow_lane.close()
    await fast_lane.close()


async def test_operator_pause_parks_waiting_and_new_work_in_its_tier_without_calls() -> None:
    adapter = Adapter()
    adapter.gate.clear()
    lane, ledger = await make_lane(adapter, initial_limit=1)
    for n in range(3):
        await merge(ledger, closed(interaction_id=f"call-{n}", fields={"crm": "x"}))
    in_flight = lane.submit("call-0", FRESH)
    await adapter.until_sent(1)
    queued = lane.submit("call-1", FRESH)
    lane.pause()
    [parked] = await settle(queued)
    retried = Origin("retry.5m", 0, 0, tier=1, attempts=3)
    [again] = await settle(lane.submit("call-2", retried))
    assert isinstance(parked, Parked)
    assert isinstance(again, Parked)
    assert (parked.kind, parked.reason, parked.tier) == (SettlementKind.PARK, "lane_paused", 0)
    assert (again.reason, again.tier, again.attempts) == ("lane_paused", 1, 3)  # no tier used
    assert lane.status().paused_by_operator
    adapter.gate.set()
    [finished] = await settle(in_flight)  # a call already made is not abandoned
    assert finished.reason == "delivered"
    lane.resume()
    [delivered] = await settle(lane.submit("call-1", FRESH))
    assert delivered.reason == "delivered"
    assert [d.interaction_id for d in adapter.sent] == ["call-0", "call-1"]
    await lane.close()


async def test_a_long_retry_after_parks_new_work_until_the_vendor_is_back() -> None:
    answers = iter([Outcome(OutcomeKind.RETRY, "http_429", 429, retry_after=120)])
    adapter = Adapter(lambda _: next(answers))
    lane, ledger = await make_lane(adapter)
    await merge(ledger, closed(interaction_id="call-1", fields={"crm": "a"}))
    await merge(ledger, closed(interaction_id="call-2", fields={"crm": "b"}))
    await settle(lane.submit("call-1", FRESH))
    [refused] = await settle(lane.submit("call-2", FRESH))
    assert isinstance(refused, Parked)
    assert (refused.kind, refused.reason) == (SettlementKind.PARK, "lane_paused")
    assert refused.due_at >= (T0 + timedelta(minutes=5)).timestamp() + 119
    assert len(adapter.sent) == 1
    await lane.close()


async def test_eight_by_eight_lanes_never_exceed_the_documented_rate() -> None:
    eight = tenant(
        platform="8x8",
        **{
            "nice-cxone": None,
            "8x8": {"base_url": "https://vcc-na1.8x8.com", "tenant_id": "t", "action_token": "x"},
        },
        fields={"_Crm": {"from": "crm"}},
    )
    lane, _ = await make_lane(Adapter(), tenant=eight)
    assert lane.status().rate_per_second == pytest.approx(100 / 60)
    await lane.close()


async def test_failures_during_an_outage_do_not_walk_a_record_down_the_ladder() -> None:
    adapter = Adapter(lambda _: FAIL)
    lane, ledger = await make_lane(adapter, breaker_failures=2)  # opens on the last attempt
    await merge(ledger, closed(fields={"crm": "x"}))
    last_tier = Origin("retry.5m", 0, 0, tier=1, attempts=6)
    [kept] = await settle(lane.submit("call-1", last_tier))
    assert isinstance(kept, Parked)
    assert (kept.kind, kept.tier) == (SettlementKind.PARK, 1)  # not dead: the vendor is down
    assert kept.attempts > 6
    await lane.close()


async def test_the_last_tier_dead_letters_when_the_vendor_is_otherwise_healthy() -> None:
    adapter = Adapter(lambda _: FAIL)
    lane, ledger = await make_lane(adapter, breaker_failures=100)
    await merge(ledger, closed(fields={"crm": "x"}))
    [dead] = await settle(lane.submit("call-1", Origin("retry.5m", 0, 0, tier=1, attempts=6)))
    assert (dead.kind, dead.reason) == (SettlementKind.DEAD, "http_503")
    await lane.close()


async def test_a_lane_whose_calls_stop_ending_keeps_only_its_limit_waiting() -> None:
    """Before any call has failed, a vendor that stopped answering must not collect the
    pipeline's capacity: once no call has ended for a quarter of the timeout, the lane keeps
    as many waiting as it may have in flight, oldest first, and parks the rest."""
    adapter = Adapter()
    adapter.gate.clear()
    lane, ledger = await make_lane(
        adapter,
        initial_limit=2,
        tenant=tenant(delivery={"max_attempts": 2, "timeout": "0.4s"}),
    )
    futures = await queue_calls(lane.submit, ledger, 8)
    await adapter.until_sent(2)
    assert lane.status().queued == 6  # not stalled yet: a deep queue is fine while calls end
    await asyncio.sleep(0.15)  # past a quarter of 0.4 s with no call ended
    await merge(ledger, closed(interaction_id="call-8", fields={"crm": "x"}))
    futures.append(lane.submit("call-8", FRESH))
    refused = await settle(*futures[4:])
    assert [(s.kind, s.reason) for s in refused] == [(SettlementKind.PARK, "lane_stalled")] * 5
    assert lane.status().queued == 2  # call-2 and call-3 keep their turn
    adapter.gate.set()
    delivered = await settle(*futures[:4])
    assert [s.reason for s in delivered] == ["delivered"] * 4
    await lane.close()


async def test_a_deep_queue_behind_a_vendor_that_answers_is_never_parked() -> None:
    """Work arrives faster than two 30 ms calls at a time can take it, so the queue grows far
    past the limit, but calls keep ending: that is a busy lane, not a stalled one."""

    class Slow(Adapter):
        async def send(self, delivery: Delivery) -> Outcome:
            await asyncio.sleep(0.03)
            return await super().send(delivery)

    adapter = Slow()
    lane, ledger = await make_lane(
        adapter,
        initial_limit=2,
        tenant=tenant(
            delivery={"max_attempts": 2, "timeout": "0.4s"},
            limits={"rate_per_second": 1000, "max_concurrency": 2},
        ),
    )
    futures, deepest = [], 0
    for n in range(60):
        await merge(ledger, closed(interaction_id=f"call-{n}", fields={"crm": "x"}))
        futures.append(lane.submit(f"call-{n}", FRESH))
        deepest = max(deepest, lane.status().queued)
        await asyncio.sleep(0.01)
    settled = await settle(*futures)
    assert deepest > 10
    assert {s.reason for s in settled} == {"delivered"}
    await lane.close()


async def test_park_early_answers_for_an_open_breaker_as_submit_would() -> None:
    """The pipeline asks before merging, so the answer must be the settlement submit would
    give; a record joining its interaction's slot, and a healthy lane, park nothing early."""
    adapter = Adapter(lambda _: FAIL)
    lane, ledger = await make_lane(adapter, breaker_failures=2)
    retried = Origin("retry.30s", 0, 7, tier=0, attempts=3, first_failure_at=T0)
    assert lane.park_early("call-0", FRESH) is None
    await merge(ledger, closed(interaction_id="call-0", fields={"crm": "x"}))
    await settle(lane.submit("call-0", FRESH))  # two failed calls: the breaker opens
    early = lane.park_early("call-1", retried)
    assert early is not None
    [submitted] = await settle(lane.submit("call-1", retried))
    assert early == submitted  # the same tier, due time, attempts and reason
    assert (early.kind, early.reason, early.tier, early.attempts) == (
        SettlementKind.PARK,
        "breaker_open",
        0,
        3,
    )
    await lane.close()


async def test_park_early_answers_for_a_long_retry_after() -> None:
    answers = iter([Outcome(OutcomeKind.RETRY, "http_429", 429, retry_after=120)])
    lane, ledger = await make_lane(Adapter(lambda _: next(answers)))
    await merge(ledger, closed(interaction_id="call-1", fields={"crm": "a"}))
    await settle(lane.submit("call-1", FRESH))
    early = lane.park_early("call-2", FRESH)
    assert early is not None
    assert (early.reason, early.tier) == ("lane_paused", 0)
    await lane.close()


async def test_a_full_or_operator_paused_lane_merges_first() -> None:
    """Those records are not the vendor's trouble: they are merged (and visible) at once."""
    adapter = Adapter()
    adapter.gate.clear()
    lane, ledger = await make_lane(adapter, queue_limit=2)
    futures = []
    for n in (1, 2):
        await merge(ledger, closed(interaction_id=f"call-{n}", fields={"crm": "x"}))
        futures.append(lane.submit(f"call-{n}", FRESH))
    assert lane.park_early("call-1", FRESH) is None  # it would join its slot
    assert lane.park_early("call-3", FRESH) is None  # full: submit parks it after the merge
    [full] = await settle(lane.submit("call-3", FRESH))
    assert full.reason == "lane_full"
    lane.pause()
    assert lane.park_early("call-4", FRESH) is None
    lane.resume()
    adapter.gate.set()
    await settle(*futures)
    await lane.close()


async def test_giving_back_parks_the_newest_waiting_records_and_never_a_call_in_flight() -> None:
    adapter = Adapter()
    adapter.gate.clear()
    lane, ledger = await make_lane(adapter, initial_limit=2)
    futures = await queue_calls(lane.submit, ledger, 6)
    futures.append(lane.submit("call-5", FRESH))  # a second record on the newest interaction
    await adapter.until_sent(2)
    assert lane.park_newest(3) == 3  # call-5 (two records) and call-4
    parked = await settle(*futures[4:])
    assert all(isinstance(s, Parked) for s in parked)
    assert [(s.kind, s.reason, s.tier) for s in parked if isinstance(s, Parked)] == [
        (SettlementKind.PARK, "lane_over_share", 0)
    ] * 3
    assert lane.status().queued == 2  # call-2 and call-3 keep their turn
    assert lane.park_newest(100) == 2  # only what waits: the two calls in flight stay
    adapter.gate.set()
    delivered = await settle(*futures[:2])
    assert [s.reason for s in delivered] == ["delivered"] * 2
    assert [d.interaction_id for d in adapter.sent] == ["call-0", "call-1"]
    await lane.close()


async def test_a_full_pipeline_makes_room_only_from_a_lane_that_is_behind_for_one_that_calls() -> (
    None
):
    """slow's vendor takes one call at a time and holds it; fast's answers. A fast record
    waiting for a full pipeline of 8 gets room once slow's head has waited longer than a
    quarter of slow's 0.4 s timeout, and never from a lane that keeps up or for a lane that
    would park its record anyway."""
    now = [100.0]
    stuck, fine = Adapter(), Adapter(lambda _: FAIL)
    stuck.gate.clear()
    timeout = {"max_attempts": 1, "timeout": "0.4s"}
    slow = tenant(delivery=timeout, limits={"rate_per_second": 1000, "max_concurrency": 1})
    ledger = MemoryLedger()
    lanes = Lanes(
        {"slow": slow, "fast": tenant(delivery=timeout)},
        {"slow": stuck, "fast": fine},
        ledger,
        Metrics(),
        LaneConfig(**DEFAULTS | {"initial_limit": 1, "breaker_failures": 1}),
        clock=lambda: now[0],
        wall_clock=lambda: T0 + timedelta(minutes=5),
    )
    lanes.start()
    futures = await queue_calls(functools.partial(lanes.submit, "slow"), ledger, 8, "slow")
    await stuck.until_sent(1)
    lanes.holdings.add("slow", 8)
    assert lanes.make_room("fast", 8) == {}  # seven wait, but not for long yet
    now[0] += 0.09  # calls still in flight (the last ended "now"), the head waited 0.09 s
    assert lanes.make_room("fast", 8) == {}
    assert lanes.make_room("slow", 8) == {}  # one tenant's backlog: back-pressure
    now[0] += 0.02  # the head has now waited 0.11 s, more than a quarter of 0.4 s
    assert lanes.make_room("fast", 8) == {"slow": 4}
    parked = await settle(*futures[4:])
    assert {(s.kind, s.reason) for s in parked} == {(SettlementKind.PARK, "lane_over_share")}
    # fast's breaker opens on its first failure: its records would be parked without a call,
    # so they need no room, and slow keeps what it holds.
    await merge(ledger, closed(interaction_id="call-f", fields={"crm": "x"}, tenant="fast"))
    [failed] = await settle(lanes.submit("fast", "call-f", FRESH))
    assert failed.kind is SettlementKind.PARK
    lanes.holdings.remove("slow", 4)
    assert lanes.make_room("fast", 4) == {}
    stuck.gate.set()
    await settle(*futures[:4])
    await lanes.close()


async def test_two_replicas_never_call_for_one_interaction_at_once() -> None:
    """Two lanes on one shared ledger stand for two replicas that read one interaction's events
    from different partitions: the second waits for the first's call (the lease), then sends
    the newer revision, so the vendor sees the revisions in order and never two at once."""
    adapter = Adapter()
    adapter.gate.clear()
    shared = MemoryLedger()
    first, _ = await make_lane(adapter, shared)
    second, _ = await make_lane(adapter, shared)
    await merge(shared, closed(fields={"crm": "A-1"}))
    older = first.submit("call-1", FRESH)
    await adapter.until_sent(1)
    await merge(shared, analytics(fields={"crm": "A-2"}, at=T0 + timedelta(minutes=3)))
    newer = second.submit("call-1", FRESH)
    await asyncio.sleep(0.1)
    assert len(adapter.sent) == 1, "the second replica called while the first held the lease"
    adapter.gate.set()
    done = await settle(older, newer)
    assert [d.revision for d in adapter.sent] == [1, 2]
    assert adapter.max_parallel_per_interaction == 1
    assert [s.kind for s in done] == [SettlementKind.DONE, SettlementKind.DONE]
    assert done[1].revision == 2
    await first.close()
    await second.close()


async def test_attempts_that_make_no_call_give_their_rate_slot_back() -> None:
    """Twenty interactions whose analytics wait for their close take a rate slot each to find
    that out, and give it back: the one close that has something to send is not kept waiting
    for slots nobody used. The lane's clock stands still, so no slot comes back by time."""
    adapter = Adapter()
    ledger = MemoryLedger()
    lane = Lane(
        "acme",
        tenant(limits={"rate_per_second": 1, "max_concurrency": 8}),
        adapter,
        ledger,
        metrics=Metrics(),
        config=LaneConfig(**DEFAULTS),
        clock=lambda: 1000.0,
        wall_clock=lambda: T0 + timedelta(minutes=5),
    )
    lane.start()
    held = []
    for n in range(20):
        await merge(ledger, analytics(interaction_id=f"open-{n}", fields={"crm": "x"}))
        held.append(lane.submit(f"open-{n}", FRESH))
    await merge(ledger, closed(interaction_id="closed-1", fields={"crm": "y"}))
    ready = lane.submit("closed-1", FRESH)
    done = await settle(*held, ready)
    assert [s.reason for s in done[:-1]] == ["held"] * 20
    assert done[-1].reason == "delivered"
    assert [d.interaction_id for d in adapter.sent] == ["closed-1"]
    await lane.close()


async def test_gauges_follow_a_lane_from_idle_to_busy_and_back() -> None:
    """Idle lanes skip republishing figures that did not change; the gauges still say what
    the lane does at every step."""
    adapter = Adapter()
    adapter.gate.clear()
    metrics = Metrics()
    ledger = MemoryLedger()
    lane = Lane(
        "acme",
        tenant(),
        adapter,
        ledger,
        metrics=metrics,
        config=LaneConfig(**DEFAULTS),
        wall_clock=lambda: T0 + timedelta(minutes=5),
    )
    lane.start()

    def gauge(name: str) -> float | None:
        labels = {"tenant": "acme", "platform": "nice-cxone"}
        return metrics.registry.get_sample_value(name, labels)

    lane.publish_gauges()
    assert gauge("enricher_lane_in_flight") == 0
    await merge(ledger, closed(fields={"crm": "A-1"}))
    done = lane.submit("call-1", FRESH)
    await adapter.until_sent(1)
    lane.publish_gauges()
    assert gauge("enricher_lane_in_flight") == 1
    adapter.gate.set()
    await settle(done)
    lane.publish_gauges()
    lane.publish_gauges()
    assert gauge("enricher_lane_in_flight") == 0
    assert gauge("enricher_lane_queued") == 0
    assert gauge("enricher_oldest_undelivered_seconds") == 0
    await lane.close()
