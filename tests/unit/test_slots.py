"""A lane's slots: one per interaction, oldest first for a call, newest first for parking, and
a round that ends with the records that joined during the call queued again."""

from __future__ import annotations

import asyncio

from service.delivery.retry_topics import Origin
from service.delivery.settlement import Settlement
from service.delivery.slots import Slots, Waiter

FRESH = Origin("closed", 0, 0)


def waiter() -> Waiter:
    future: asyncio.Future[Settlement] = asyncio.get_running_loop().create_future()
    return Waiter(FRESH, future)


async def test_a_change_for_a_held_interaction_joins_its_slot() -> None:
    slots = Slots()
    first, second = waiter(), waiter()
    assert not slots.join("call-1", first)
    slots.open("call-1", first, 1.0)
    assert slots.join("call-1", second)
    assert (len(slots), slots.queued, "call-1" in slots) == (1, 1, True)
    up = slots.next_up()
    assert up is not None
    assert up.waiters == [first, second]


async def test_calls_go_oldest_first_and_parking_takes_the_newest() -> None:
    slots = Slots()
    for n in range(5):
        slots.open(f"call-{n}", waiter(), float(n))
    assert [s.interaction_id for s in slots.newest(keep=3)] == ["call-4", "call-3"]
    assert slots.take().interaction_id == "call-0"
    assert slots.head_waited(10.0) == 9.0  # call-1 has waited since 1.0
    assert slots.oldest_age(10.0) == 10.0  # call-0, in its call, is still held


async def test_parking_by_records_counts_only_records_still_waiting() -> None:
    slots = Slots()
    gone = waiter()
    gone.future.cancel()
    slots.open("call-0", waiter(), 0.0)
    slots.open("call-1", gone, 1.0)
    slots.join("call-1", waiter())
    slots.open("call-2", waiter(), 2.0)
    newest, records = slots.newest_records(2)
    assert ([s.interaction_id for s in newest], records) == (["call-2", "call-1"], 2)
    assert slots.queued == 1


async def test_a_slot_whose_records_have_all_gone_is_dropped_before_its_call() -> None:
    slots = Slots()
    gone = waiter()
    gone.future.cancel()
    slots.open("call-0", gone, 0.0)
    slots.open("call-1", waiter(), 1.0)
    up = slots.next_up()
    assert up is not None
    assert up.interaction_id == "call-1"
    assert "call-0" not in slots


async def test_records_that_joined_during_a_call_get_a_round_of_their_own() -> None:
    slots = Slots()
    covered, joined = waiter(), waiter()
    slots.open("call-1", covered, 0.0)
    slot = slots.take()
    slot.attempts = 2
    slots.join("call-1", joined)
    covered.future.cancel()  # settled
    assert slots.round_over(slot, [covered], 5.0, again=True)
    assert (slot.waiters, slot.attempts, slot.since, slots.queued) == ([joined], 0, 5.0, 1)
    slots.take()
    assert not slots.round_over(slot, [joined], 6.0, again=True)
    assert "call-1" not in slots


async def test_a_closing_lane_queues_nothing_again() -> None:
    slots = Slots()
    covered, joined = waiter(), waiter()
    slots.open("call-1", covered, 0.0)
    slot = slots.take()
    slots.join("call-1", joined)
    assert not slots.round_over(slot, [covered], 5.0, again=False)
    assert (slots.queued, len(slots)) == (0, 0)
