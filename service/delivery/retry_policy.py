"""What happens to a record the vendor did not take: call again soon, park, or bury; and whether
a new record should be parked before any call at all. Pure: the lane passes in what it knows
(the outcome, the attempts, the record's tier, what its governor says of the vendor, the
clock) and acts on the answer.

The rules, in the order they apply after a failed call:

- A permanent outcome buries the record (dead-letter topic) at once.
- A transient one is called again in process after a full-jitter backoff, while the round has
  attempts left and any ``Retry-After`` fits the in-process budget (``max_delay``).
- Otherwise the record parks in the next retry tier, due after the tier's delay or the
  vendor's ``Retry-After`` (capped at ``max_pause``), whichever is later. While the vendor is
  down (breaker not closed) it stays in its tier instead: an outage longer than the ladder must
  not dead-letter what it caught. Past the last tier it is buried.

A record parked without a call (the vendor is refusing, the lane is full, stalled or over its
share) stays in its tier, since parking is not an attempt, and is not due before a vendor's
``Retry-After`` has passed: it would only be parked again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.delivery.retry_topics import RetryTier
from service.platforms.outcomes import Outcome, OutcomeKind

__all__ = [
    "FULL",
    "STALLED",
    "Bury",
    "Failure",
    "Park",
    "Retry",
    "RetryRules",
    "decide",
    "park_without_call",
    "parks_before_merge",
    "refusal",
    "retry_delay",
]

FULL = "lane_full"
STALLED = "lane_stalled"


@dataclass(frozen=True, slots=True)
class RetryRules:
    tiers: Sequence[RetryTier]
    max_attempts: int
    """Calls in one round (in process) before the record parks."""
    max_delay: float
    """Longest in-process wait; a vendor asking for more gets its records parked."""
    max_pause: float
    """Cap on a ``Retry-After``, so a bogus header cannot park a record for days."""


@dataclass(frozen=True, slots=True)
class Failure:
    """A call that did not deliver, as seen by one record it covered."""

    outcome: Outcome
    attempts: int
    """Calls made in this round, the failed one included."""
    tier: int
    """The record's retry tier; -1 for one read from an input topic."""
    vendor_down: bool
    """The lane's breaker is not closed."""
    now: float
    """Wall clock, epoch seconds."""
    jitter: float
    """The full-jitter backoff drawn for this attempt."""
    may_retry: bool = True
    """False once the lane is closing: nothing may be called again in process."""


@dataclass(frozen=True, slots=True)
class Retry:
    delay: float


@dataclass(frozen=True, slots=True)
class Park:
    tier: int
    due_at: float
    """Epoch seconds."""


@dataclass(frozen=True, slots=True)
class Bury:
    pass


def retry_delay(rules: RetryRules, attempts: int, outcome: Outcome, jitter: float) -> float | None:
    """Seconds to wait before calling again in process, or None to park instead."""
    if attempts >= rules.max_attempts:
        return None
    if outcome.retry_after is None:
        return jitter
    if outcome.retry_after > rules.max_delay:
        return None
    return max(outcome.retry_after, jitter)


def decide(rules: RetryRules, failure: Failure) -> Retry | Park | Bury:
    """What to do after ``failure``. Only the parking depends on the record (its tier); the
    rest holds for every record a call covered."""
    outcome = failure.outcome
    if outcome.kind is OutcomeKind.PERMANENT:
        return Bury()
    delay = retry_delay(rules, failure.attempts, outcome, failure.jitter)
    if delay is not None and failure.may_retry:
        return Retry(delay)
    tier = max(failure.tier, 0) if failure.vendor_down else failure.tier + 1
    if tier >= len(rules.tiers):
        return Bury()
    pause = min(outcome.retry_after or 0.0, rules.max_pause)
    return Park(tier, failure.now + max(rules.tiers[tier].delay, pause))


def park_without_call(rules: RetryRules, tier: int, now: float, paused_for: float) -> Park:
    """Where a record parked without a call goes: its own tier (a fresh record the first),
    due after the tier's delay and after the vendor's pause (``paused_for`` seconds)."""
    tier = max(tier, 0)
    return Park(tier, max(now + rules.tiers[tier].delay, now + max(0.0, paused_for)))


def refusal(
    vendor_refusal: str | None,
    *,
    waiting: int,
    queue_limit: int,
    stalled: bool,
    queued: int,
    limit: int,
) -> str | None:
    """Why a new interaction may not wait in a lane, if it may not.

    ``vendor_refusal`` is the governor's reason not to call the vendor now (breaker open, a
    long pause); the lane holds ``waiting`` interactions, ``queued`` of them waiting for a
    call, and may have ``limit`` calls in flight. A stalled lane (calls in flight, none ending)
    keeps as many waiting as it may have in flight: a vendor that has stopped answering must
    not collect the pipeline's capacity before its breaker opens. On :data:`STALLED` the lane
    parks its newest waiting beyond that too. Asked twice for most records (before the merge
    and after), so it takes plain arguments rather than a record of them."""
    if vendor_refusal is not None:
        return vendor_refusal
    if waiting >= queue_limit:
        return FULL
    if stalled and queued >= limit:
        return STALLED
    return None


def parks_before_merge(reason: str | None, operator_paused: bool) -> bool:
    """Whether a new record refused for ``reason`` is parked before it is merged. During an
    outage that costs the ledger nothing, and nothing is lost (merging is commutative and
    idempotent, and the parked copy is the record). A lane that is merely full, or paused by an
    operator (who will want to look at what waits), merges first, so the change is visible."""
    return reason is not None and reason != FULL and not operator_paused
