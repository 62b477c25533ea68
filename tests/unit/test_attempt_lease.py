"""An attempt under its delivery lease: what it does when the lease is held elsewhere, and how
it keeps the lease through a call that outlasts it, or ends the call when the lease is lost."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from service.delivery.attempt import Attempt, AttemptKind, attempt_delivery
from service.ledger.base import Lease
from service.ledger.memory import MemoryLedger
from service.platforms.base import Delivery, WriteWindow
from service.platforms.outcomes import Outcome, OutcomeKind
from tests.unit.factories import T0, closed
from tests.unit.test_lanes import tenant

NOW = T0 + timedelta(minutes=5)
OK = Outcome(OutcomeKind.DELIVERED, "delivered", 204)


class SlowAdapter:
    platform = "nice-cxone"
    write_window: WriteWindow = "after_close"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.sent: list[Delivery] = []

    async def send(self, delivery: Delivery) -> Outcome:
        self.sent.append(delivery)
        await asyncio.sleep(self.seconds)
        return OK

    async def close(self) -> None:
        return None


async def _ledger() -> MemoryLedger:
    ledger = MemoryLedger()
    await ledger.merge(closed(fields={"crm": "A-1"}), NOW, timedelta(days=1))
    return ledger


async def attempt(ledger: MemoryLedger, adapter: SlowAdapter, lease: Lease) -> Attempt:
    return await attempt_delivery(ledger, tenant(), adapter, "acme", "call-1", now=NOW, lease=lease)


async def test_a_lease_held_elsewhere_means_no_call_and_a_wait() -> None:
    ledger = await _ledger()
    await ledger.claim("acme", "call-1", "nice-cxone", Lease("other/1", 5.0), NOW)
    adapter = SlowAdapter(0)
    result = await attempt(ledger, adapter, Lease("me/1", 5.0))
    assert result.kind is AttemptKind.LEASED
    assert 4.0 < result.wait <= 5.0
    assert adapter.sent == []


async def test_a_change_already_acknowledged_is_up_to_date_whoever_holds_the_lease() -> None:
    ledger = await _ledger()
    await ledger.mark_delivered("acme", "call-1", "nice-cxone", 1)
    await ledger.claim("acme", "call-1", "nice-cxone", Lease("other/1", 5.0), NOW)
    result = await attempt(ledger, SlowAdapter(0), Lease("me/1", 5.0))
    assert result.kind is AttemptKind.UP_TO_DATE


async def test_a_call_longer_than_its_lease_renews_it_and_delivers() -> None:
    ledger = await _ledger()
    result = await attempt(ledger, SlowAdapter(0.5), Lease("me/1", 0.2))
    assert result.kind is AttemptKind.DELIVERED
    entry = await ledger.get("acme", "call-1", NOW)
    assert entry is not None
    assert entry.delivered == {"nice-cxone": 1}
    other = await ledger.claim("acme", "call-1", "nice-cxone", Lease("other/1", 5.0), NOW)
    assert other.granted, "the delivery ended the lease"


async def test_a_call_whose_lease_is_lost_is_abandoned_before_anyone_can_overtake_it() -> None:
    """The lease expired under the call (its process was paused, say) and another owner took
    it: the renewal finds out and ends the call as a timeout, acknowledging nothing."""
    ledger = await _ledger()
    adapter = SlowAdapter(5.0)
    mine = Lease("me/1", 0.6)
    call = asyncio.create_task(attempt(ledger, adapter, mine))
    await asyncio.sleep(0.05)
    await ledger.release("acme", "call-1", "nice-cxone", mine, 0)  # stands for the expiry
    await ledger.claim("acme", "call-1", "nice-cxone", Lease("other/1", 5.0), NOW)
    result = await asyncio.wait_for(call, 1.0)
    assert result.kind is AttemptKind.FAILED
    assert result.outcome is not None
    assert result.outcome.reason == "lease_lost"
    assert result.elapsed < 0.35, (
        "ended by the renewal's verdict (at 0.2 s), not the deadline (0.45 s)"
    )
    entry = await ledger.get("acme", "call-1", NOW)
    assert entry is not None
    assert entry.delivered == {}


class AnswerAdapter(SlowAdapter):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(0)
        self.outcome = outcome

    async def send(self, delivery: Delivery) -> Outcome:
        self.sent.append(delivery)
        return self.outcome


TIMED_OUT = Outcome(OutcomeKind.RETRY, "timeout", excerpt="no answer", error_class="TransportError")
REFUSED = Outcome(OutcomeKind.RETRY, "http_503", 503)


async def test_a_request_left_unanswered_keeps_its_lease_so_nothing_overtakes_it() -> None:
    """A timed-out request may still be applied by the vendor: the next call, from this lane or
    another replica, waits out the lease instead of sending a newer revision past it."""
    ledger = await _ledger()
    result = await attempt(ledger, AnswerAdapter(TIMED_OUT), Lease("me/1", 5.0))
    assert result.kind is AttemptKind.FAILED
    after = await attempt(ledger, AnswerAdapter(OK), Lease("me/2", 5.0))
    assert after.kind is AttemptKind.LEASED
    assert 4.0 < after.wait <= 5.0


async def test_a_request_the_vendor_answered_frees_its_lease_at_once() -> None:
    ledger = await _ledger()
    await attempt(ledger, AnswerAdapter(REFUSED), Lease("me/1", 5.0))
    after = await attempt(ledger, AnswerAdapter(OK), Lease("me/2", 5.0))
    assert after.kind is AttemptKind.DELIVERED
