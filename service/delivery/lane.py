"""One lane: the queue, coalescing and the pump of one (tenant, platform).

Work enters as a *slot* per interaction. A slot holds every record waiting on that interaction;
a change that arrives while the slot is queued or backing off joins it (many changes, one call
with the latest snapshot), and one that arrives while its call is in flight is served by a
follow-up call. So there is never more than one call in flight per interaction, while any
number of interactions are in flight per partition.

The lane decides nothing about the vendor or a failed record itself: it asks its
:class:`~service.delivery.governor.Governor` whether it may call, and
:mod:`service.delivery.retry_policy` what becomes of a record that was not delivered or may not
wait. Parking settles records at once as "park in the retry topic", so a slow or failing
vendor cannot hold offsets, memory or capacity that other lanes need.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from service.backoff import full_jitter
from service.delivery import retry_policy as policy
from service.delivery.attempt import Attempt, AttemptKind, Ledgerish, attempt_delivery, next_lease
from service.delivery.governor import Clearance, governor_for
from service.delivery.lane_config import LaneConfig, LaneStatus
from service.delivery.lane_metrics import LaneMetrics
from service.delivery.retry_topics import Origin
from service.delivery.settlement import Parked, Settlement
from service.delivery.slots import (
    Slot,
    Slots,
    Waiter,
    settle_delivered,
    settle_failed,
    settle_parked,
)
from service.metrics import Metrics
from service.platforms.base import PlatformAdapter
from service.platforms.outcomes import Outcome, OutcomeKind
from service.tenants import Tenant

__all__ = ["AttemptHook", "Lane", "LaneConfig", "LaneStatus"]

log = structlog.get_logger("enricher.lanes")

_LEASE_POLL_BASE = 0.02
_LEASE_POLL_CAP = 1.0
"""An attempt that finds the lease held looks again after a jittered, growing pause, never
later than the lease's end: the holder's call usually ends within the vendor's latency."""

OVER_SHARE = "lane_over_share"

AttemptHook = Callable[[str, str, str, Attempt, datetime], None]
"""Told ``(tenant, interaction_id, platform, attempt, ended_at)`` whenever an attempt ends, so
an operator can see the last outcomes of one interaction without searching logs."""


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
        self._metrics = LaneMetrics(metrics, tenant_name, self.platform)
        self._config = config
        self._rules = config.retry_rules(tenant.delivery.max_attempts)
        self._clock = clock
        self._wall = wall_clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._on_attempt = on_attempt
        self._governor = governor_for(tenant, config.governor(), clock())
        self._slots = Slots()
        self._timeout = tenant.delivery.timeout.total_seconds()
        self._timers: set[asyncio.TimerHandle] = set()
        self._calls: set[asyncio.Task[None]] = set()
        self._wakeup = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self._closed = False
        self.publish_gauges()

    # -- intake -------------------------------------------------------------------------------

    def submit(self, interaction_id: str, origin: Origin) -> asyncio.Future[Settlement]:
        """Queue ``interaction_id`` for delivery; the future settles the record that asked."""
        future: asyncio.Future[Settlement] = asyncio.get_running_loop().create_future()
        waiter = Waiter(origin, future)
        if self._slots.join(interaction_id, waiter):
            return future
        now = self._clock()
        reason = self._refusal(now)
        if reason is not None:
            self._park([waiter], reason)
            return future
        self._slots.open(interaction_id, waiter, now)
        self._wake()
        return future

    def park_early(self, interaction_id: str, origin: Origin) -> Parked | None:
        """The settlement :meth:`submit` would give a new record at once because the vendor is
        not taking calls, or None (:func:`~service.delivery.retry_policy.parks_before_merge`).
        Asked before the merge; a record that would join its interaction's slot is never
        parked early."""
        if interaction_id in self._slots:
            return None
        reason = self._refusal(self._clock())
        if reason is None or not policy.parks_before_merge(reason, self._governor.operator_paused):
            return None
        self._metrics.parked(reason)
        return self._parked_without_call(origin, reason, self._wall())

    def _refusal(self, now: float) -> str | None:
        """Why a new interaction may not wait in this lane now, if it may not; a stalled lane
        parks its newest waiting beyond its limit as well."""
        governor = self._governor
        slots = self._slots
        limit = governor.limit
        reason = policy.refusal(
            governor.refusal(now),
            waiting=len(slots),
            queue_limit=self._config.queue_limit,
            stalled=governor.stalled(now),
            queued=slots.queued,
            limit=limit,
        )
        if reason == policy.STALLED:
            self._park_beyond(limit, reason)
        return reason

    # -- operator controls and status -------------------------------------------------------------

    def pause(self) -> None:
        """Stop calling the vendor. Waiting work is parked in its retry tier rather than held:
        held records would pin their partitions' commits and the pipeline's capacity for as
        long as the pause lasts, and look like a hang to the liveness watchdog."""
        self._governor.pause()
        self._park_beyond(0, "lane_paused")
        self.publish_gauges()

    def resume(self) -> None:
        self._governor.resume()
        self.publish_gauges()
        self._wake()

    def status(self) -> LaneStatus:
        now = self._clock()
        governor = self._governor
        paused_for = governor.paused_for(now)
        return LaneStatus(
            tenant=self.tenant_name,
            platform=self.platform,
            limit=governor.limit,
            max_concurrency=governor.max_concurrency,
            in_flight=governor.in_flight,
            queued=self._slots.queued,
            rate_per_second=governor.rate,
            breaker=governor.breaker_state(now).value,
            paused_until=(self._wall() + timedelta(seconds=paused_for) if paused_for > 0 else None),
            paused_by_operator=governor.operator_paused,
            oldest_waiting_seconds=round(self._slots.oldest_age(now), 3),
        )

    @property
    def last_activity(self) -> float:
        """When a vendor call last ended (monotonic): the liveness watchdog's sign of life."""
        return self._governor.last_ended

    def takes_work(self) -> bool:
        """Whether a new interaction would wait for a call now, rather than be parked at once
        (:meth:`~service.delivery.governor.Governor.takes_work`)."""
        return self._governor.takes_work(self._clock())

    def behind(self) -> bool:
        """The interaction at the head of the queue has waited longer than a quarter of the
        delivery timeout (the stall rule's measure): the vendor takes work more slowly than it
        arrives, so what waits at the back has a long wait ahead."""
        return self._slots.head_waited(self._clock()) > self._governor.stall_after

    def publish_gauges(self, *, force: bool = False) -> None:
        """Called on the pipeline's commit tick and on operator actions, not per call; an idle
        lane that already showed its figures is skipped unless ``force``
        (:mod:`service.delivery.lane_metrics`)."""
        now = self._clock()
        slots = self._slots
        figures = self._governor.gauges(now, slots.queued)
        self._metrics.publish(figures, not force and not len(slots), slots.oldest_age, now)

    # -- parking --------------------------------------------------------------------------------

    def park_newest(self, records: int) -> int:
        """Park the newest waiting interactions until ``records`` records are parked or none
        waits, so another tenant's record can enter a full pipeline
        (:mod:`service.delivery.fair_share`). Calls in flight or backing off are not touched.
        Returns how many records were parked."""
        newest, given = self._slots.newest_records(records)
        if newest:
            self._park_slots(newest, OVER_SHARE)
            self.publish_gauges()
        return given

    def _park_beyond(self, keep: int, reason: str) -> None:
        """Park the newest waiting interactions beyond ``keep``; the oldest keep their turn."""
        self._park_slots(self._slots.newest(keep), reason)

    def _park_slots(self, newest_first: list[Slot], reason: str) -> None:
        for slot in reversed(newest_first):  # parked in the order they arrived
            self._park(slot.waiters, reason)
            slot.waiters = []
            self._slots.drop(slot)

    def _park(self, waiters: list[Waiter], reason: str) -> None:
        """Park without a call (:func:`~service.delivery.retry_policy.park_without_call`)."""
        self._metrics.parked(reason)
        now = self._wall()
        settle_parked(waiters, lambda origin: self._parked_without_call(origin, reason, now))

    def _parked_without_call(self, origin: Origin, reason: str, now: datetime) -> Parked:
        paused_for = self._governor.paused_for(self._clock())
        park = policy.park_without_call(self._rules, origin.tier, now.timestamp(), paused_for)
        first = origin.first_failure_at
        return Parked(
            self.platform,
            reason,
            park.tier,
            park.due_at,
            attempts=origin.attempts,
            first_failure_at=first,
            last_failure_at=first and now,
        )

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
        for waiter in self._slots.waiters():
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
        governor = self._governor
        slots = self._slots
        while slots.queued and governor.has_room():
            clearance = governor.clearance(now)
            if clearance is not Clearance.CALL:
                if clearance is Clearance.WAIT:
                    self._wake_at(governor.resumes_at)
                elif clearance is not Clearance.PROBING:  # the probe's result wakes the pump
                    self._park_beyond(0, clearance.value)
                    self.publish_gauges()
                return
            slot = slots.next_up()
            if slot is None:
                return
            wait = governor.take(now)
            if wait > 0:
                self._wake_at(now + wait)
                return
            slots.take()
            task = asyncio.create_task(self._call(slot, now))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)

    async def _call(self, slot: Slot, taken_at: float) -> None:
        covered = list(slot.waiters)
        try:
            result = await attempt_delivery(
                self._ledger,
                self._tenant,
                self._adapter,
                self.tenant_name,
                slot.interaction_id,
                now=self._wall(),
                lease=next_lease(self._timeout),
            )
        except Exception as exc:  # the ledger failed: the pipeline treats this as fatal
            for waiter in covered:
                if not waiter.future.done():
                    waiter.future.set_exception(exc)
            self._after_round(slot, covered)
            return
        finally:
            self._governor.ended(self._clock())
            self._wake()
        now = self._clock()
        if not result.called:  # held, already delivered, or leased elsewhere
            self._governor.unused(now, taken_at)
            if result.kind is AttemptKind.LEASED:
                self._wait_for_lease(slot, result.wait)
                return
            if result.kind is AttemptKind.HELD:
                self._metrics.held.inc()
        else:
            self._observe(now, result)
        self._report(slot.interaction_id, result)
        if result.kind is AttemptKind.FAILED:
            self._failed(slot, covered, result)
            return
        settle_delivered(covered, slot, self.platform, result)
        self._after_round(slot, covered)

    def _failed(self, slot: Slot, covered: list[Waiter], result: Attempt) -> None:
        """Call again in process, or settle every record the call covered as the retry
        policy says (:func:`~service.delivery.retry_policy.decide`)."""
        outcome = result.outcome or Outcome(OutcomeKind.RETRY, "no_outcome")
        slot.attempts += 1
        wall = self._wall()
        slot.first_failure_at = slot.first_failure_at or wall
        config = self._config
        # Drawn only where the policy can use it, so the lane's random sequence (which also
        # spaces its lease waits) does not move with every permanent refusal.
        jitter = (
            full_jitter(slot.attempts, config.base_delay, config.max_delay, self._rng)
            if outcome.kind is OutcomeKind.RETRY and slot.attempts < self._rules.max_attempts
            else 0.0
        )
        failure = policy.Failure(
            outcome,
            slot.attempts,
            -1,
            self._governor.vendor_down(),
            wall.timestamp(),
            jitter,
            may_retry=not self._closed,
        )
        verdict = policy.decide(self._rules, failure)
        if isinstance(verdict, policy.Retry):
            self._metrics.retried(outcome.reason)
            self._later(verdict.delay, self._retry, slot)
            return
        settle_failed(
            covered, slot, result, self._rules, failure, platform=self.platform, wall=wall
        )
        self._after_round(slot, covered)

    def _report(self, interaction_id: str, result: Attempt) -> None:
        """Tell the hook; a failing hook must not leave this round's records unsettled."""
        if self._on_attempt is None:
            return
        try:
            self._on_attempt(self.tenant_name, interaction_id, self.platform, result, self._wall())
        except Exception:
            log.exception("attempt_hook_failed", tenant=self.tenant_name, platform=self.platform)

    def _later(self, delay: float, callback: Callable[[Slot], None], slot: Slot) -> None:
        """A timer that :meth:`close` can cancel."""

        def fire() -> None:
            self._timers.discard(handle)
            callback(slot)

        handle = asyncio.get_running_loop().call_later(delay, fire)
        self._timers.add(handle)

    def _wait_for_lease(self, slot: Slot, held_for: float) -> None:
        """Another attempt holds the interaction's lease: look again later, without a call
        slot and without settling anyone, since the holder's acknowledgement may cover this
        change, and if it does not, the next look sends it."""
        self._metrics.lease_waits.inc()
        slot.lease_waits += 1
        pause = full_jitter(slot.lease_waits, _LEASE_POLL_BASE, _LEASE_POLL_CAP, self._rng)
        self._later(max(0.005, min(held_for, pause)), self._retry, slot)

    def _retry(self, slot: Slot) -> None:
        if not self._closed:
            self._slots.requeue(slot)
            self._wake()

    def _after_round(self, slot: Slot, covered: list[Waiter]) -> None:
        if self._slots.round_over(slot, covered, self._clock(), again=not self._closed):
            self._wake()

    def _observe(self, now: float, result: Attempt) -> None:
        """Tell the governor what a call did, and count it."""
        self._metrics.called(result)
        paused = self._governor.observe(now, result)
        if paused is not None and result.outcome is not None:
            log.info(
                "lane_paused",
                tenant=self.tenant_name,
                platform=self.platform,
                seconds=round(paused, 3),
                reason=result.outcome.reason,
            )
