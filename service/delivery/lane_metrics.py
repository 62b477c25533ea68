"""A lane's counters and gauges, with their labelled children looked up once per lane.

``labels()`` validates its arguments and takes a lock on every call; the per-call path would
pay that several times over, and a tick several times per lane.

The gauges (limit, in flight, queued, breaker, pause, oldest waiting) are set on the
pipeline's commit tick and on operator actions, not per call: the oldest-waiting figure walks
every waiting interaction, which per call made a deep lane quadratic. An idle lane whose
figures are those it last published is skipped: with thousands of tenants configured, most
lanes are idle on any tick, and setting six gauges for each took 70 ms a tick at 5,000
tenants.
"""

from __future__ import annotations

from collections.abc import Callable

from service.delivery.attempt import Attempt, AttemptKind
from service.metrics import Children, Metrics

__all__ = ["LaneFigures", "LaneMetrics"]


LaneFigures = tuple[int, int, int, bool, bool]
"""Limit, calls in flight, interactions queued, breaker open, paused: a plain tuple, since an
idle lane's tick is one comparison of it."""


class LaneMetrics:
    __slots__ = (
        "_breaker",
        "_delivered",
        "_in_flight",
        "_labels",
        "_limit",
        "_oldest",
        "_parked",
        "_paused",
        "_published",
        "_queued",
        "_requests",
        "_retried",
        "held",
        "lease_waits",
    )

    def __init__(self, metrics: Metrics, tenant: str, platform: str) -> None:
        labels = self._labels = (tenant, platform)
        self._delivered = metrics.delivered.labels(*labels)
        self.held = metrics.held.labels(*labels)
        self.lease_waits = metrics.lease_waits.labels(*labels)
        self._requests = Children(metrics.vendor_requests)
        self._parked = Children(metrics.spilled)
        self._retried = Children(metrics.retried)
        self._limit = metrics.lane_limit.labels(*labels)
        self._in_flight = metrics.lane_in_flight.labels(*labels)
        self._queued = metrics.lane_queued.labels(*labels)
        self._breaker = metrics.lane_breaker_open.labels(*labels)
        self._paused = metrics.lane_paused.labels(*labels)
        self._oldest = metrics.oldest_undelivered.labels(*labels)
        self._published: LaneFigures | None = None
        """The figures an idle lane last published (None: publish next time)."""

    def parked(self, reason: str) -> None:
        """Records parked without a call (``enricher_spilled_total``)."""
        self._parked(*self._labels, reason).inc()

    def retried(self, reason: str) -> None:
        self._retried(*self._labels, reason).inc()

    def called(self, attempt: Attempt) -> None:
        """A call to the vendor ended: its latency by status class, and a delivery."""
        outcome = attempt.outcome
        if outcome is None:
            status_class = "none"
        elif outcome.status:
            status_class = f"{outcome.status // 100}xx"
        else:
            status_class = outcome.reason
        self._requests(*self._labels, status_class).observe(attempt.elapsed)
        if attempt.kind is AttemptKind.DELIVERED:
            self._delivered.inc()

    def publish(
        self, figures: LaneFigures, idle: bool, oldest_age: Callable[[float], float], now: float
    ) -> None:
        """Set the gauges to ``figures``, and the oldest waiting to ``oldest_age(now)``
        (seconds), unless the lane is ``idle`` and already showed them."""
        if idle and figures == self._published:
            return
        self._published = figures if idle else None
        limit, in_flight, queued, breaker_open, paused = figures
        self._limit.set(limit)
        self._in_flight.set(in_flight)
        self._queued.set(queued)
        self._breaker.set(1 if breaker_open else 0)
        self._paused.set(1 if paused else 0)
        self._oldest.set(oldest_age(now))
