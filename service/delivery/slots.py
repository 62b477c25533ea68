"""A lane's unit of work, and how the records it covers are settled.

A :class:`Slot` is one interaction waiting in a lane, with every record (a :class:`Waiter`)
that wants it delivered. A call covers the records waiting when it started; each of them gets
its own settlement, since each carries its own retry history (tier, attempts, first failure).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from service.delivery import retry_policy as policy
from service.delivery.attempt import Attempt
from service.delivery.retry_topics import Origin
from service.delivery.settlement import Dead, Done, Parked, Settlement
from service.platforms.outcomes import Outcome

__all__ = ["Slot", "Waiter", "settle_delivered", "settle_failed", "settle_parked"]


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
    *,
    platform: str,
    result: Attempt,
    rules: policy.RetryRules,
    failure: policy.Failure,
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
