"""A lane's waiting work, and how the records a call covered are settled.

A :class:`Slot` is one interaction in a lane, with every record (a :class:`Waiter`) that wants
it delivered: a change that arrives while the slot is queued or backing off joins it (many
changes, one call with the latest snapshot), and one that arrives while its call is in flight
waits for a follow-up call, since its change may not be in the snapshot that was sent.
:class:`Slots` keeps them by interaction and in calling order. A call covers the records
waiting when it started; each gets its own settlement, since each carries its own retry
history (tier, attempts, first failure).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from service.delivery import retry_policy as policy
from service.delivery.attempt import Attempt
from service.delivery.retry_topics import Origin
from service.delivery.settlement import Dead, Done, Parked, Settlement
from service.platforms.outcomes import Outcome

__all__ = ["Slot", "Slots", "Waiter", "settle_delivered", "settle_failed", "settle_parked"]


@dataclass(eq=False, slots=True)
class Waiter:
    origin: Origin
    future: asyncio.Future[Settlement]


@dataclass(eq=False, slots=True)
class Slot:
    interaction_id: str
    since: float
    waiters: list[Waiter] = field(default_factory=list)
    attempts: int = 0
    """Calls made in the current round (reset when the round settles)."""
    first_failure_at: datetime | None = None
    lease_waits: int = 0
    """Times in a row the interaction's lease was found held by another attempt."""


class Slots:
    """A lane's interactions, each in one slot, queued oldest first for a call. A slot stays
    held (and joinable) while its call is in flight or backing off, off the queue."""

    __slots__ = ("_by_id", "_queue")

    def __init__(self) -> None:
        self._by_id: dict[str, Slot] = {}
        self._queue: deque[Slot] = deque()

    def __len__(self) -> int:
        """Interactions held: queued, in a call or backing off."""
        return len(self._by_id)

    def __contains__(self, interaction_id: str) -> bool:
        return interaction_id in self._by_id

    @property
    def queued(self) -> int:
        """Interactions waiting for a call."""
        return len(self._queue)

    def join(self, interaction_id: str, waiter: Waiter) -> bool:
        """Add ``waiter`` to its interaction's slot, if the lane holds one."""
        slot = self._by_id.get(interaction_id)
        if slot is None:
            return False
        slot.waiters.append(waiter)
        return True

    def open(self, interaction_id: str, waiter: Waiter, now: float) -> None:
        slot = self._by_id[interaction_id] = Slot(interaction_id, now, [waiter])
        self._queue.append(slot)

    def requeue(self, slot: Slot) -> None:
        self._queue.append(slot)

    def next_up(self) -> Slot | None:
        """The slot to call next, left queued; slots whose records have all gone (a revoked
        partition, a stopped pipeline) are dropped on the way: the next event for such an
        interaction queues it again."""
        queue = self._queue
        while queue:
            slot = queue[0]
            for waiter in slot.waiters:
                if not waiter.future.done():
                    return slot
            queue.popleft()
            self.drop(slot)
        return None

    def take(self) -> Slot:
        """Unqueue the slot :meth:`next_up` returned, for its call."""
        return self._queue.popleft()

    def newest(self, keep: int) -> list[Slot]:
        """Unqueue the newest slots beyond the oldest ``keep``, newest first."""
        return [self._queue.pop() for _ in range(len(self._queue) - keep)]

    def newest_records(self, records: int) -> tuple[list[Slot], int]:
        """Unqueue the newest slots until they hold ``records`` unsettled records or none is
        left, newest first; with how many records they hold."""
        newest: list[Slot] = []
        held = 0
        while self._queue and held < records:
            slot = self._queue.pop()
            newest.append(slot)
            held += sum(1 for waiter in slot.waiters if not waiter.future.done())
        return newest, held

    def round_over(self, slot: Slot, covered: list[Waiter], now: float, again: bool) -> bool:
        """A call's round has settled ``covered``: records that joined during the call get a
        round of their own (queued again if ``again``; returns whether it was), or the slot is
        dropped."""
        slot.waiters = [w for w in slot.waiters if w not in covered and not w.future.done()]
        slot.attempts = 0
        slot.first_failure_at = None
        slot.lease_waits = 0
        if slot.waiters and again:
            slot.since = now
            self._queue.append(slot)
            return True
        self.drop(slot)
        return False

    def drop(self, slot: Slot) -> None:
        if self._by_id.get(slot.interaction_id) is slot:
            del self._by_id[slot.interaction_id]

    def oldest_age(self, now: float) -> float:
        """Seconds the longest-held interaction has waited (0 for none)."""
        return now - min((s.since for s in self._by_id.values()), default=now)

    def head_waited(self, now: float) -> float:
        """Seconds the head of the queue has waited (0 for none)."""
        return now - self._queue[0].since if self._queue else 0.0

    def waiters(self) -> Iterator[Waiter]:
        for slot in self._by_id.values():
            yield from slot.waiters


def settle_parked(waiters: list[Waiter], parked: Callable[[Origin], Parked]) -> None:
    for waiter in waiters:
        if not waiter.future.done():
            waiter.future.set_result(parked(waiter.origin))


def settle_delivered(covered: list[Waiter], slot: Slot, platform: str, result: Attempt) -> None:
    """Nothing left to do for the records ``result`` covered (delivered, held, up to date)."""
    attempts = slot.attempts + int(result.called)
    for waiter in covered:
        if not waiter.future.done():
            waiter.future.set_result(
                Done(
                    platform,
                    result.kind.value,
                    result.revision,
                    result.outcome,
                    waiter.origin.attempts + attempts,
                    result.problems,
                )
            )


def settle_failed(
    covered: list[Waiter],
    slot: Slot,
    result: Attempt,
    rules: policy.RetryRules,
    failure: policy.Failure,
    *,
    platform: str,
    wall: datetime,
) -> None:
    """Park or bury each record a failed round covered, in the tier its own history earns."""
    outcome: Outcome = failure.outcome
    for waiter in covered:
        if waiter.future.done():
            continue
        origin = waiter.origin
        verdict = policy.decide(rules, dataclasses.replace(failure, tier=origin.tier))
        attempts = origin.attempts + slot.attempts
        first = origin.first_failure_at or slot.first_failure_at
        settlement: Settlement
        if isinstance(verdict, policy.Park):
            settlement = Parked(
                platform,
                outcome.reason,
                verdict.tier,
                verdict.due_at,
                result.revision,
                outcome,
                attempts,
                first,
                wall,
                result.problems,
            )
        else:
            settlement = Dead(
                platform,
                outcome.reason,
                result.revision,
                outcome,
                attempts,
                first,
                wall,
                result.problems,
            )
        waiter.future.set_result(settlement)
