"""Lanes: one per (tenant, platform), each with its own queue, limits, breaker and pause.

Work enters a lane as a *slot* per interaction. A slot holds every record waiting on that
interaction; a change that arrives while the slot is queued or backing off simply joins it
(coalescing: many changes, one call with the latest snapshot), and one that arrives while its
call is in flight is served by a follow-up call. So there is never more than one call in flight
per interaction, while any number of interactions are in flight per partition.

A lane never blocks the consumer: when its queue is full or its breaker is open, new work is
*spilled* (settled as "park in the retry topic") at once, so a slow or failing vendor cannot
hold offsets, memory or capacity that other lanes need. The same goes for a *stalled* lane,
one whose calls are in flight but none has ended for a quarter of the delivery timeout: it keeps
only as many waiting as it may have in flight and spills the rest, so a vendor that has just
stopped answering cannot fill the pipeline's capacity with records that have no chance before
its breaker opens (the engine benchmark's isolation run lost a quarter of the healthy tenant's
throughput that way). A vendor that answers, only slowly, is held to a fair share of the
pipeline instead: when another tenant's record cannot enter, the lane gives back its newest
waiting interactions (:meth:`Lane.give_back`, :mod:`service.delivery.fair_share`).
``Retry-After`` pauses the whole lane, since every call to that vendor would meet the same
answer.

Every record gets exactly one :class:`Settlement`: done (delivered, held for the write window,
or already up to date), park (in which tier, due when) or dead. The pipeline turns it into a
commit, a retry-topic record or a DLQ record.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import os
import random
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from service.backoff import full_jitter
from service.delivery.attempt import (
    Attempt,
    AttemptKind,
    Ledgerish,
    attempt_delivery,
    lease_terms,
)
from service.delivery.fair_share import excess_over_share
from service.delivery.limits import AimdLimit, Breaker, BreakerState, RateLimit, rate_limit
from service.delivery.retry_topics import Origin, RetryTier
from service.mapping import FieldProblem
from service.metrics import Children, Metrics
from service.platforms.base import PlatformAdapter
from service.platforms.outcomes import Outcome, OutcomeKind
from service.tenants import Tenant

__all__ = [
    "AttemptHook",
    "Lane",
    "LaneConfig",
    "LaneStatus",
    "Lanes",
    "Settlement",
    "SettlementKind",
]

log = structlog.get_logger("enricher.lanes")

_OVERLOAD_STATUSES = frozenset({429, 503})

_REPLICA = f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"
"""Names this process in the delivery leases it holds, so an operator reading Redis can tell
which pod holds one; every attempt adds a number of its own, unique in the process."""

_attempt_ids = itertools.count(1)

_REFUND_WITHIN = 1.0
"""A rate slot is given back only this soon after it was taken: a sliding window frees its
oldest slot for a refund, which stands for the unused one only while that one is still in the
window (its margin is a second); an attempt that took longer keeps its slot."""

_LEASE_POLL_BASE = 0.02
_LEASE_POLL_CAP = 1.0
"""An attempt that finds the lease held looks again after a jittered, growing pause, never
later than the lease's end: the holder's call usually ends within the vendor's latency."""

AttemptHook = Callable[[str, str, str, Attempt, datetime], None]
"""Told ``(tenant, interaction_id, platform, attempt, ended_at)`` whenever an attempt ends, so
an operator can see the last outcomes of one interaction without searching logs."""


class SettlementKind(enum.Enum):
    DONE = "done"
    PARK = "park"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Settlement:
    kind: SettlementKind
    platform: str
    reason: str
    revision: int = 0
    outcome: Outcome | None = None
    attempts: int = 0
    first_failure_at: datetime | None = None
    last_failure_at: datetime | None = None
    tier: int | None = None
    """For PARK: the retry tier to park in."""
    due_at: float | None = None
    """For PARK: epoch seconds at which the parked record may be retried."""
    problems: tuple[FieldProblem, ...] = ()


@dataclass(frozen=True, slots=True)
class LaneConfig:
    tiers: Sequence[RetryTier]
    queue_limit: int = 1000
    """Interactions waiting in one lane before new ones are spilled to the retry topic."""
    base_delay: float = 0.5
    max_delay: float = 10.0
    """Longest in-process backoff; a vendor asking for more gets its records parked."""
    max_pause: float = 300.0
    """Cap on a lane pause from ``Retry-After``, so a bogus header cannot stop a lane for days."""
    breaker_failures: int = 5
    breaker_cool_down: float = 5.0
    initial_limit: int = 16


@dataclass(frozen=True, slots=True)
class LaneStatus:
    tenant: str
    platform: str
    limit: int
    max_concurrency: int
    in_flight: int
    queued: int
    rate_per_second: float
    breaker: str
    paused_until: datetime | None
    paused_by_operator: bool
    oldest_waiting_seconds: float


@dataclass(eq=False)
class _Waiter:
    origin: Origin
    future: asyncio.Future[Settlement]


@dataclass(eq=False)
class _Slot:
    interaction_id: str
    since: float
    waiters: list[_Waiter] = field(default_factory=list)
    attempts: int = 0
    """Calls made in the current round (reset when the round settles)."""
    first_failure_at: datetime | None = None
    lease_waits: int = 0
    """Times in a row the interaction's lease was found held by another attempt."""


class Lane:
    def __init__(
        self,
        tenant_name: str,
        tenant: Tenant,
        adapter: PlatformAdapter,
        ledger: Ledgerish,
        *,
        metrics: Metrics,
        config: LaneConfig,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
        on_attempt: AttemptHook | None = None,
    ) -> None:
        self.tenant_name = tenant_name
        self.platform = adapter.platform
        self._tenant = tenant
        self._adapter = adapter
        self._ledger = ledger
        self._metrics = metrics
        self._delivered = metrics.delivered.labels(tenant_name, self.platform)
        self._requests = Children(metrics.vendor_requests)
        self._config = config
        self._clock = clock
        self._wall = wall_clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._on_attempt = on_attempt
        limits = tenant.limits
        self._max_concurrency = limits.max_concurrency
        self._limit = AimdLimit(
            min(config.initial_limit, limits.max_concurrency), maximum=limits.max_concurrency
        )
        self._bucket = _rate_cap(tenant, clock())
        self._breaker = Breaker(config.breaker_failures, config.breaker_cool_down)
        self._slots: dict[str, _Slot] = {}
        self._queue: deque[_Slot] = deque()
        self._in_flight = 0
        self._busy_since = 0.0
        self._timeout = tenant.delivery.timeout.total_seconds()
        self._stall_after = max(0.1, self._timeout / 4)
        self._lease_waits = metrics.lease_waits.labels(tenant_name, self.platform)
        self._paused_until = 0.0
        self._operator_pause = False
        self._timers: set[asyncio.TimerHandle] = set()
        self._calls: set[asyncio.Task[None]] = set()
        self._wakeup = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self._closed = False
        self.last_activity = 0.0
        """When a vendor call last ended (monotonic): the liveness watchdog's sign of life."""
        self._published: tuple[int, int, int, bool, bool] | None = None
        """The figures an idle lane last published (None: publish next time)."""
        self.publish_gauges()

    # -- intake -------------------------------------------------------------------------------

    def submit(self, interaction_id: str, origin: Origin) -> asyncio.Future[Settlement]:
        """Queue ``interaction_id`` for delivery; the future settles the record that asked."""
        future: asyncio.Future[Settlement] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(origin, future)
        slot = self._slots.get(interaction_id)
        if slot is not None:
            slot.waiters.append(waiter)
            return future
        now = self._clock()
        reason = self._refusal(now)
        if reason is not None:
            self._spill([waiter], reason)
            return future
        slot = _Slot(interaction_id, now, [waiter])
        self._slots[interaction_id] = slot
        self._enqueue(slot)
        return future

    def spill_early(self, interaction_id: str, origin: Origin) -> Settlement | None:
        """The settlement :meth:`submit` would give a new record at once because the vendor is
        not taking calls (breaker open, lane stalled, or a ``Retry-After`` beyond the first
        tier), or None. Asked before the merge, so during an outage a record bound for the retry
        topic costs no ledger write: merging is commutative and idempotent, and the record is
        merged when it comes back, with nothing lost, since the parked copy is the record.

        A lane that is merely full, or paused by an operator (who will want to look at what
        waits), answers None: those records are merged first, and visible at once."""
        if interaction_id in self._slots or self._operator_pause:
            return None
        reason = self._refusal(self._clock())
        if reason is None or reason == "lane_full":
            return None
        self._metrics.spilled.labels(self.tenant_name, self.platform, reason).inc()
        return self._spilled(origin, reason, self._wall())

    def _refusal(self, now: float) -> str | None:
        """Why a new interaction may not wait in this lane now, if it may not."""
        if self._breaker.is_open(now):
            return "breaker_open"
        if self._parks_while_paused(now):
            return "lane_paused"
        if len(self._slots) >= self._config.queue_limit:
            return "lane_full"
        if self._stalled(now) and len(self._queue) >= self._limit.limit:
            self._trim_queue(self._limit.limit, "lane_stalled")
            return "lane_stalled"
        return None

    def _enqueue(self, slot: _Slot) -> None:
        self._queue.append(slot)
        self._wake()

    # -- operator controls ----------------------------------------------------------------------

    def pause(self) -> None:
        """Stop calling the vendor. Waiting work is parked in its retry tier rather than held:
        held records would pin their partitions' commits and the pipeline's capacity for as
        long as the pause lasts, and look like a hang to the liveness watchdog."""
        self._operator_pause = True
        self._spill_queue("lane_paused")

    def resume(self) -> None:
        self._operator_pause = False
        self._paused_until = 0.0
        self.publish_gauges()
        self._wake()

    def status(self) -> LaneStatus:
        now = self._clock()
        paused_for = self._paused_until - now
        oldest = min((s.since for s in self._slots.values()), default=now)
        return LaneStatus(
            tenant=self.tenant_name,
            platform=self.platform,
            limit=self._limit.limit,
            max_concurrency=self._max_concurrency,
            in_flight=self._in_flight,
            queued=len(self._queue),
            rate_per_second=self._bucket.rate,
            breaker=self._breaker_state(now).value,
            paused_until=(self._wall() + timedelta(seconds=paused_for) if paused_for > 0 else None),
            paused_by_operator=self._operator_pause,
            oldest_waiting_seconds=round(now - oldest, 3),
        )

    def _parks_while_paused(self, now: float) -> bool:
        """Paused by the operator, or by a Retry-After that outlasts the first retry tier: new
        and waiting work parks. A shorter pause is cheaper to wait out in memory."""
        if self._operator_pause:
            return True
        return self._paused_until - now > self._config.tiers[0].delay

    def _stalled(self, now: float) -> bool:
        """Calls are in flight and none has ended for a quarter of the delivery timeout: the
        vendor is not answering, though no call has failed yet to tell the breaker."""
        if self._in_flight == 0:
            return False
        return now - max(self.last_activity, self._busy_since) > self._stall_after

    def _trim_queue(self, keep: int, reason: str) -> None:
        """Spill the newest waiting interactions beyond ``keep``; the oldest keep their turn."""
        self._spill_slots([self._queue.pop() for _ in range(len(self._queue) - keep)], reason)

    def takes_work(self) -> bool:
        """Whether a new interaction would wait for a call now, rather than be parked at once:
        the breaker is closed and the lane neither paused nor stalled."""
        now = self._clock()
        return (
            self._breaker.state is BreakerState.CLOSED
            and not self._parks_while_paused(now)
            and not self._stalled(now)
        )

    def behind(self) -> bool:
        """The interaction at the head of the queue has waited longer than a quarter of the
        delivery timeout (the stall rule's measure): the vendor takes work more slowly than it
        arrives, so what waits at the back has a long wait ahead."""
        return bool(self._queue) and self._clock() - self._queue[0].since > self._stall_after

    def give_back(self, records: int) -> int:
        """Park the newest waiting interactions until ``records`` records are parked or none
        waits, so another tenant's record can enter a full pipeline
        (:mod:`service.delivery.fair_share`). Calls in flight or backing off are not touched.
        Returns how many records were parked."""
        newest: list[_Slot] = []
        given = 0
        while self._queue and given < records:
            slot = self._queue.pop()
            newest.append(slot)
            given += sum(1 for waiter in slot.waiters if not waiter.future.done())
        if newest:
            self._spill_slots(newest, "lane_over_share")
            self.publish_gauges()
        return given

    def _spill_slots(self, newest_first: list[_Slot], reason: str) -> None:
        for slot in reversed(newest_first):  # parked in the order they arrived
            self._spill(slot.waiters, reason)
            slot.waiters = []
            self._drop(slot)

    def _breaker_state(self, now: float) -> BreakerState:
        state = self._breaker.state
        if state is BreakerState.OPEN and not self._breaker.is_open(now):
            return BreakerState.HALF_OPEN
        return state

    # -- the pump -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._pump is None:
            self._pump = asyncio.create_task(self._run(), name=f"lane-{self.tenant_name}")

    async def close(self) -> None:
        """Stop calling the vendor; records still waiting are left unsettled (their offsets are
        not committed, so they are read again after a restart or by the next owner)."""
        self._closed = True
        for timer in self._timers:
            timer.cancel()
        tasks = [t for t in (self._pump, *self._calls) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for slot in self._slots.values():
            for waiter in slot.waiters:
                waiter.future.cancel()

    def _wake(self) -> None:
        self._wakeup.set()

    def _wake_at(self, when: float) -> None:
        asyncio.get_running_loop().call_later(max(0.0, when - self._clock()), self._wake)

    async def _run(self) -> None:
        while not self._closed:
            await self._wakeup.wait()
            self._wakeup.clear()
            self._dispatch()

    def _dispatch(self) -> None:
        now = self._clock()
        while self._queue and self._in_flight < self._limit.limit:
            if self._parks_while_paused(now):
                self._spill_queue("lane_paused")
                return
            if self._paused_until > now:
                self._wake_at(self._paused_until)
                return
            if self._breaker.is_open(now):
                self._spill_queue("breaker_open")
                return
            if self._breaker.state is BreakerState.HALF_OPEN and self._breaker.probing:
                return  # the probe's result decides; it wakes the pump
            slot = self._queue[0]
            if all(w.future.done() for w in slot.waiters):
                # Every record that wanted this (a revoked partition, a stopped pipeline) is
                # gone: the next event for the interaction will queue it again.
                self._queue.popleft()
                self._drop(slot)
                continue
            wait = self._bucket.try_take(now)
            if wait > 0:
                self._wake_at(now + wait)
                return
            self._breaker.allow(now)
            self._queue.popleft()
            if self._in_flight == 0:
                self._busy_since = now
            self._in_flight += 1
            task = asyncio.create_task(self._call(slot, now))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)

    async def _call(self, slot: _Slot, taken_at: float) -> None:
        covered = list(slot.waiters)
        try:
            result = await attempt_delivery(
                self._ledger,
                self._tenant,
                self._adapter,
                self.tenant_name,
                slot.interaction_id,
                now=self._wall(),
                lease=lease_terms(f"{_REPLICA}/{next(_attempt_ids)}", self._timeout),
            )
        except Exception as exc:  # the ledger failed: the pipeline treats this as fatal
            for waiter in covered:
                if not waiter.future.done():
                    waiter.future.set_exception(exc)
            self._after_round(slot, covered)
            return
        finally:
            self._in_flight -= 1
            self.last_activity = self._clock()
            self._wake()
        now = self._clock()
        if not result.called and now - taken_at < _REFUND_WITHIN:
            # Held, already delivered, or leased elsewhere: the vendor's budget was not spent.
            self._bucket.refund(now)
        if result.kind is AttemptKind.LEASED:
            self._wait_for_lease(slot, result.wait)
            return
        self._observe(result)
        self._report(slot.interaction_id, result)
        if result.kind is not AttemptKind.FAILED:
            self._settle(
                covered,
                lambda w: Settlement(
                    SettlementKind.DONE,
                    self.platform,
                    result.kind.value,
                    result.revision,
                    result.outcome,
                    w.origin.attempts + slot.attempts + int(result.called),
                    problems=result.problems,
                ),
            )
            self._after_round(slot, covered)
            return
        outcome = result.outcome or Outcome(OutcomeKind.RETRY, "no_outcome")
        slot.attempts += 1
        now_wall = self._wall()
        slot.first_failure_at = slot.first_failure_at or now_wall
        if outcome.kind is OutcomeKind.PERMANENT:
            self._settle(covered, lambda w: self._dead(w, slot, result, outcome, now_wall))
            self._after_round(slot, covered)
            return
        delay = self._backoff(slot.attempts, outcome)
        if delay is not None and not self._closed:
            self._metrics.retried.labels(self.tenant_name, self.platform, outcome.reason).inc()
            self._later(delay, self._retry, slot)
            return
        self._settle(covered, lambda w: self._park(w, slot, result, outcome, now_wall))
        self._after_round(slot, covered)

    def _report(self, interaction_id: str, result: Attempt) -> None:
        """Tell the hook; a failing hook must not leave this round's records unsettled."""
        if self._on_attempt is None:
            return
        try:
            self._on_attempt(self.tenant_name, interaction_id, self.platform, result, self._wall())
        except Exception:
            log.exception("attempt_hook_failed", tenant=self.tenant_name, platform=self.platform)

    def _later(self, delay: float, callback: Callable[[_Slot], None], slot: _Slot) -> None:
        """A timer that :meth:`close` can cancel."""

        def fire() -> None:
            self._timers.discard(handle)
            callback(slot)

        handle = asyncio.get_running_loop().call_later(delay, fire)
        self._timers.add(handle)

    def _wait_for_lease(self, slot: _Slot, held_for: float) -> None:
        """Another attempt holds the interaction's lease: look again later, without a call
        slot and without settling anyone, since the holder's acknowledgement may cover this
        change, and if it does not, the next look sends it."""
        self._breaker.probing = False  # no verdict: let the next call probe
        self._lease_waits.inc()
        slot.lease_waits += 1
        pause = full_jitter(slot.lease_waits, _LEASE_POLL_BASE, _LEASE_POLL_CAP, self._rng)
        self._later(max(0.005, min(held_for, pause)), self._retry, slot)

    def _retry(self, slot: _Slot) -> None:
        if not self._closed:
            self._queue.append(slot)
            self._wake()

    def _backoff(self, attempts: int, outcome: Outcome) -> float | None:
        """In-process delay before the next call, or None to park the records instead."""
        if attempts >= self._tenant.delivery.max_attempts:
            return None
        jitter = full_jitter(attempts, self._config.base_delay, self._config.max_delay, self._rng)
        if outcome.retry_after is None:
            return jitter
        if outcome.retry_after > self._config.max_delay:
            return None
        return max(outcome.retry_after, jitter)

    def _after_round(self, slot: _Slot, covered: list[_Waiter]) -> None:
        """Records that joined during the call get a round of their own: their change may not
        be in the snapshot that was sent."""
        slot.waiters = [w for w in slot.waiters if w not in covered and not w.future.done()]
        slot.attempts = 0
        slot.first_failure_at = None
        slot.lease_waits = 0
        if slot.waiters and not self._closed:
            slot.since = self._clock()
            self._enqueue(slot)
        else:
            self._drop(slot)

    def _drop(self, slot: _Slot) -> None:
        if self._slots.get(slot.interaction_id) is slot:
            del self._slots[slot.interaction_id]

    # -- settlements ----------------------------------------------------------------------------

    def _settle(self, waiters: list[_Waiter], verdict: Callable[[_Waiter], Settlement]) -> None:
        for waiter in waiters:
            if not waiter.future.done():
                waiter.future.set_result(verdict(waiter))

    def _dead(
        self, waiter: _Waiter, slot: _Slot, result: Attempt, outcome: Outcome, now: datetime
    ) -> Settlement:
        return Settlement(
            SettlementKind.DEAD,
            self.platform,
            outcome.reason,
            result.revision,
            outcome,
            waiter.origin.attempts + slot.attempts,
            waiter.origin.first_failure_at or slot.first_failure_at,
            now,
            problems=result.problems,
        )

    def _park(
        self, waiter: _Waiter, slot: _Slot, result: Attempt, outcome: Outcome, now: datetime
    ) -> Settlement:
        tiers = self._config.tiers
        tier = waiter.origin.tier + 1
        if self._breaker.state is not BreakerState.CLOSED:
            # The vendor is down, not this record: an outage longer than the ladder must not
            # dead-letter what it caught, so the record stays in its tier.
            tier = max(waiter.origin.tier, 0)
        if tier >= len(tiers):
            return self._dead(waiter, slot, result, outcome, now)
        pause = min(outcome.retry_after or 0.0, self._config.max_pause)
        return Settlement(
            SettlementKind.PARK,
            self.platform,
            outcome.reason,
            result.revision,
            outcome,
            waiter.origin.attempts + slot.attempts,
            waiter.origin.first_failure_at or slot.first_failure_at,
            now,
            tier=tier,
            due_at=now.timestamp() + max(tiers[tier].delay, pause),
            problems=result.problems,
        )

    def _spill(self, waiters: list[_Waiter], reason: str) -> None:
        """Park without a call. A record already in a tier stays in it: spilling is not an
        attempt, so an outage longer than the ladder does not dead-letter untried records."""
        now = self._wall()
        self._metrics.spilled.labels(self.tenant_name, self.platform, reason).inc()
        self._settle(waiters, lambda w: self._spilled(w.origin, reason, now))

    def _spilled(self, origin: Origin, reason: str, now: datetime) -> Settlement:
        tier = max(origin.tier, 0)
        # Not back before a vendor's Retry-After has passed: it would only be parked again.
        resume_at = now.timestamp() + max(0.0, self._paused_until - self._clock())
        return Settlement(
            SettlementKind.PARK,
            self.platform,
            reason,
            attempts=origin.attempts,
            first_failure_at=origin.first_failure_at,
            last_failure_at=origin.first_failure_at and now,
            tier=tier,
            due_at=max(now.timestamp() + self._config.tiers[tier].delay, resume_at),
        )

    def _spill_queue(self, reason: str) -> None:
        self._trim_queue(0, reason)
        self.publish_gauges()

    # -- feedback from each call ----------------------------------------------------------------

    def _observe(self, result: Attempt) -> None:
        if not result.called:
            self._breaker.probing = False  # no verdict: let the next call probe
            if result.kind is AttemptKind.HELD:
                self._metrics.held.labels(self.tenant_name, self.platform).inc()
            return
        outcome = result.outcome
        status_class = (
            f"{outcome.status // 100}xx" if outcome and outcome.status else _reason(outcome)
        )
        self._requests(self.tenant_name, self.platform, status_class).observe(result.elapsed)
        now = self._clock()
        if result.kind is AttemptKind.DELIVERED:
            self._delivered.inc()
            self._breaker.on_success()
            self._limit.on_success(self._in_flight + 1)
        elif outcome is not None and outcome.kind is OutcomeKind.RETRY and _vendor_trouble(outcome):
            self._breaker.on_failure(now)
            if outcome.status in _OVERLOAD_STATUSES or outcome.reason == "timeout":
                self._limit.on_overload()
            if outcome.retry_after:
                until = now + min(outcome.retry_after, self._config.max_pause)
                if until > self._paused_until:
                    self._paused_until = until
                    log.info(
                        "lane_paused",
                        tenant=self.tenant_name,
                        platform=self.platform,
                        seconds=round(until - now, 3),
                        reason=outcome.reason,
                    )
        else:
            self._breaker.on_neutral()

    def publish_gauges(self) -> None:
        """Called on the pipeline's commit tick and on operator actions, not per call: the
        oldest-waiting figure walks every slot, which per call made a deep lane quadratic.

        An idle lane whose figures are those it last published is skipped: with thousands of
        tenants configured, most lanes are idle on any tick, and setting six gauges for each
        took 70 ms a tick at 5,000 tenants."""
        now = self._clock()
        paused = self._operator_pause or self._paused_until > now
        figures = (
            self._limit.limit,
            self._in_flight,
            len(self._queue),
            self._breaker.is_open(now),
            paused,
        )
        if not self._slots and figures == self._published:
            return
        self._published = None if self._slots else figures
        labels = (self.tenant_name, self.platform)
        m = self._metrics
        m.lane_limit.labels(*labels).set(figures[0])
        m.lane_in_flight.labels(*labels).set(figures[1])
        m.lane_queued.labels(*labels).set(figures[2])
        m.lane_breaker_open.labels(*labels).set(1 if figures[3] else 0)
        m.lane_paused.labels(*labels).set(1 if paused else 0)
        oldest = min((s.since for s in self._slots.values()), default=now)
        m.oldest_undelivered.labels(*labels).set(now - oldest)


def _vendor_trouble(outcome: Outcome) -> bool:
    """A transient outcome that involved the vendor or the network (not a pre-call refusal
    such as a contact still connected), which is what the breaker and the limit react to."""
    return outcome.involved_vendor


def _reason(outcome: Outcome | None) -> str:
    return outcome.reason if outcome is not None else "none"


def _rate_cap(tenant: Tenant, now: float) -> RateLimit:
    """The tenant's configured rate, and never more in a window than the platform documents."""
    return rate_limit(tenant.limits.rate_per_second, tenant.settings.request_window(), now=now)


class Lanes:
    """Every tenant's lane, keyed by tenant name (one platform per tenant)."""

    def __init__(
        self,
        tenants: Mapping[str, Tenant],
        adapters: Mapping[str, PlatformAdapter],
        ledger: Ledgerish,
        metrics: Metrics,
        config: LaneConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_attempt: AttemptHook | None = None,
    ) -> None:
        self._lanes = {
            name: Lane(
                name,
                tenant,
                adapters[name],
                ledger,
                metrics=metrics,
                config=config,
                clock=clock,
                wall_clock=wall_clock,
                on_attempt=on_attempt,
            )
            for name, tenant in tenants.items()
        }

    def lane(self, tenant: str, platform: str) -> Lane | None:
        """The lane of ``tenant`` if it writes to ``platform``: what operator controls act on."""
        lane = self._lanes.get(tenant)
        return lane if lane is not None and lane.platform == platform else None

    def submit(
        self, tenant: str, interaction_id: str, origin: Origin
    ) -> asyncio.Future[Settlement]:
        return self._lanes[tenant].submit(interaction_id, origin)

    def spill_early(self, tenant: str, interaction_id: str, origin: Origin) -> Settlement | None:
        return self._lanes[tenant].spill_early(interaction_id, origin)

    def make_room(self, waiting: str, holdings: Mapping[str, int], capacity: int) -> dict[str, int]:
        """A record of ``waiting`` cannot enter a full pipeline of ``capacity`` records, of
        which ``holdings`` are in each tenant's lane: lanes that are behind and hold more than
        a fair share park their newest waiting records. Returns how many each parked.

        Nothing moves for a tenant whose own lane would not call its vendor now (its record is
        parked at once, needing no share), nor from a lane that keeps up (its records leave
        the pipeline soon anyway; parking them would cost them a retry tier for nothing)."""
        lane = self._lanes.get(waiting)
        if lane is None or not lane.takes_work():
            return {}
        parked: dict[str, int] = {}
        for tenant, excess in excess_over_share(holdings, waiting, capacity).items():
            over = self._lanes.get(tenant)
            given = over.give_back(excess) if over is not None and over.behind() else 0
            if given:
                parked[tenant] = given
        return parked

    def start(self) -> None:
        for lane in self._lanes.values():
            lane.start()

    async def close(self) -> None:
        for lane in self._lanes.values():
            await lane.close()

    def publish_gauges(self) -> None:
        for lane in self._lanes.values():
            lane.publish_gauges()

    def last_activity(self) -> float:
        return max((lane.last_activity for lane in self._lanes.values()), default=0.0)

    def statuses(self) -> list[LaneStatus]:
        return [lane.status() for lane in self._lanes.values()]
