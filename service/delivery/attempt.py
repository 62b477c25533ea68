"""One delivery attempt for one interaction: the step every lane call runs.

It claims the interaction first: one ledger step reads the entry and takes a lease for the
platform, so whatever triggered it (a fresh event, a retry, a replay, on any replica) sends the
interaction's newest merged snapshot, only one call per interaction and platform is in flight
across every replica, and a revision the platform already acknowledged is never sent again. The
call is abandoned when the lease would run out, so no other replica's newer call can overtake
it at the vendor; the acknowledgement ends the lease in the same step. Retrying, pacing and
parking are the lane's business; this module only says what happened.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from service.events import Scalar
from service.ledger.base import Claim, Lease
from service.mapping import FieldProblem, map_fields
from service.merge import LedgerEntry
from service.platforms.base import Delivery, PlatformAdapter, WriteWindow
from service.platforms.outcomes import Outcome, OutcomeKind
from service.tenants import Tenant

__all__ = [
    "LEASE_LOST",
    "LEASE_MARGIN",
    "Attempt",
    "AttemptKind",
    "Ledgerish",
    "attempt_delivery",
    "delivery_of",
    "lease_terms",
    "next_lease",
    "unanswered",
    "waits_for_window",
]


class AttemptKind(enum.Enum):
    DELIVERED = "delivered"
    HELD = "held"
    """Waiting for the write window (an after-close platform before the close)."""
    UP_TO_DATE = "up_to_date"
    """The platform already acknowledged the latest revision (or the entry expired)."""
    LEASED = "leased"
    """Another attempt (on this or another replica) is calling the vendor for this interaction:
    look again after ``wait`` seconds, when its acknowledgement may cover this change."""
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Attempt:
    kind: AttemptKind
    revision: int = 0
    outcome: Outcome | None = None
    called: bool = False
    """Whether the vendor was called (only calls count as attempts and feed the governors)."""
    elapsed: float = 0.0
    problems: tuple[FieldProblem, ...] = field(default=())
    wait: float = 0.0
    """For LEASED: how long the other owner's lease still runs."""


class Ledgerish(Protocol):
    """The two ledger calls an attempt needs (a structural subset of Ledger)."""

    async def claim(
        self, tenant: str, interaction_id: str, platform: str, lease: Lease, now: datetime
    ) -> Claim: ...

    async def renew(
        self, tenant: str, interaction_id: str, platform: str, lease: Lease
    ) -> bool: ...

    async def release(
        self, tenant: str, interaction_id: str, platform: str, lease: Lease, revision: int
    ) -> None: ...


LEASE_MARGIN = 2.0
"""Seconds a lease outlives one request's timeout: the call is abandoned a second before the
lease ends, and the rest covers the round trip that took or renewed the lease. A call that
makes several requests (a token, then the write) renews its lease every third of it."""


def lease_terms(owner: str, timeout: float) -> Lease:
    """The lease for one attempt whose vendor call may take ``timeout`` seconds."""
    return Lease(owner, timeout + LEASE_MARGIN)


_REPLICA = f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"
"""Names this process in the delivery leases it holds, so an operator reading Redis can tell
which pod holds one; every attempt adds a number of its own, unique in the process."""

_attempt_ids = itertools.count(1)


def next_lease(timeout: float) -> Lease:
    """:func:`lease_terms` for the next attempt of this process."""
    return lease_terms(f"{_REPLICA}/{next(_attempt_ids)}", timeout)


async def attempt_delivery(
    ledger: Ledgerish,
    tenant: Tenant,
    adapter: PlatformAdapter,
    tenant_name: str,
    interaction_id: str,
    *,
    now: datetime,
    lease: Lease,
) -> Attempt:
    platform = adapter.platform
    loop = asyncio.get_running_loop()
    claimed_at = loop.time()
    claim = await ledger.claim(tenant_name, interaction_id, platform, lease, now)
    if claim.granted and loop.time() - claimed_at > lease.ttl / 3:
        # The claim waited out a ledger outage: the lease may have been taken long after
        # ``claimed_at``, or be half spent. Claiming again as the same owner restarts it now.
        claimed_at = loop.time()
        claim = await ledger.claim(tenant_name, interaction_id, platform, lease, now)
    entry = claim.entry
    if entry is None or not entry.pending_for(platform):
        if claim.granted:
            await ledger.release(tenant_name, interaction_id, platform, lease, 0)
        return Attempt(AttemptKind.UP_TO_DATE, entry.revision if entry else 0)
    if not claim.granted:
        return Attempt(AttemptKind.LEASED, entry.revision, wait=claim.held_for)
    if waits_for_window(adapter.write_window, entry):
        await ledger.release(tenant_name, interaction_id, platform, lease, 0)
        return Attempt(AttemptKind.HELD, entry.revision)
    mapped = map_fields(entry.field_values(), tenant.fields)
    if not mapped.values:
        # Nothing mapped has a value yet: there is nothing to write, and nothing to wait for.
        await ledger.release(tenant_name, interaction_id, platform, lease, entry.revision)
        return Attempt(AttemptKind.UP_TO_DATE, entry.revision, problems=mapped.problems)
    started = time.perf_counter()
    renewal = _Renewal(
        lambda: ledger.renew(tenant_name, interaction_id, platform, lease), lease.ttl, claimed_at
    )
    outcome = await _send(adapter, delivery_of(entry, mapped.values), renewal)
    elapsed = time.perf_counter() - started
    delivered = outcome.kind is OutcomeKind.DELIVERED
    if not delivered and unanswered(outcome):
        # The request may still reach the vendor and be applied after a newer one: keep the
        # lease for a whole term more, so the next call (a retry here, or another replica's)
        # waits for it instead of overtaking it.
        await ledger.renew(tenant_name, interaction_id, platform, lease)
    else:
        await ledger.release(
            tenant_name, interaction_id, platform, lease, entry.revision if delivered else 0
        )
    kind = AttemptKind.DELIVERED if delivered else AttemptKind.FAILED
    return Attempt(kind, entry.revision, outcome, True, elapsed, mapped.problems)


LEASE_LOST = "LeaseLost"
"""The ``error_class`` of a call ended because its lease could not be kept: the ledger's
trouble, not the vendor's, so the breaker and the concurrency limit do not count it."""


def unanswered(outcome: Outcome) -> bool:
    """The request may have been sent and never answered (a timeout, a connection lost, a call
    ended at its lease's deadline): the vendor may still apply it."""
    return outcome.got_no_answer or outcome.error_class == LEASE_LOST


def waits_for_window(window: WriteWindow, entry: LedgerEntry) -> bool:
    """Whether the platform may not be written yet: an after-close platform before the close,
    or a live one without the session's address (analytics that carry none wait for an event
    that does, instead of failing as unroutable). The admin API shows such a change as held
    by this same rule."""
    if entry.is_closed:
        return False
    return window == "after_close" or not entry.ref()


class _Renewal:
    """Keeps a call's lease while the call lives, and ends the call when it cannot.

    The call runs under a timeout at the lease's deadline. A third of the way into the lease a
    renewal is sent; when it succeeds the deadline moves with it, when the lease turns out to
    be lost (it expired and may be another owner's now) the call is ended at once, and when
    the store does not answer in time the old deadline stands. Calls that end within a third
    of the lease, nearly all of them, cost one timer and no round trip."""

    def __init__(self, renew: Callable[[], Awaitable[bool]], ttl: float, since: float) -> None:
        self._renew = renew
        self._ttl = ttl
        self._loop = asyncio.get_running_loop()
        self._slack = min(LEASE_MARGIN / 2, ttl / 4)
        self.deadline = since + ttl - self._slack
        self._timeout: asyncio.Timeout | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._next = since + ttl / 3

    def watch(self, timeout: asyncio.Timeout) -> None:
        self._timeout = timeout
        self._timer = self._loop.call_at(self._next, self._fire)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()

    def _fire(self) -> None:
        self._task = self._loop.create_task(self._renewed())

    async def _renewed(self) -> None:
        asked = self._loop.time()
        try:
            held: bool | None = await asyncio.wait_for(
                self._renew(), max(0.0, self.deadline - asked)
            )
        except Exception:  # no answer in time: the current deadline stands
            held = None
        if self._timeout is None or self._timeout.expired():
            return
        if held is False:
            self._timeout.reschedule(self._loop.time())
            return
        if held:
            self.deadline = asked + self._ttl - self._slack
            self._timeout.reschedule(self.deadline)
        self._timer = self._loop.call_at(asked + self._ttl / 3, self._fire)


async def _send(adapter: PlatformAdapter, delivery: Delivery, renewal: _Renewal) -> Outcome:
    """The adapter's outcome, or a timeout when the lease's deadline comes first: past it,
    another replica may claim the interaction and send a newer revision, which this call
    must not overtake."""
    try:
        async with asyncio.timeout_at(renewal.deadline) as timeout:
            renewal.watch(timeout)
            try:
                return await adapter.send(delivery)
            finally:
                renewal.stop()
    except TimeoutError:
        return Outcome(
            OutcomeKind.RETRY,
            "lease_lost",
            excerpt="abandoned: the delivery lease could not be kept",
            error_class=LEASE_LOST,
        )
    except Exception as exc:  # a request the client refused to build: this change, not all
        return Outcome(
            OutcomeKind.PERMANENT,
            "unsendable",
            excerpt=type(exc).__name__,
            error_class=type(exc).__name__,
        )


def delivery_of(entry: LedgerEntry, values: Mapping[str, Scalar]) -> Delivery:
    return Delivery(
        tenant=entry.tenant,
        interaction_id=entry.interaction_id,
        revision=entry.revision,
        ref=entry.ref(),
        channel=entry.routing_value("channel"),
        status=entry.routing_value("status"),
        closed_at=entry.closed_at,
        values=values,
    )
