"""Everything that decides whether a lane may call its vendor now, behind one object.

A lane asks its :class:`Governor` "may I call now, and if not, what then?" and tells it what
each call did; the governor keeps the pieces of :mod:`service.delivery.limits` in step:

- the hard cap: the tenant's configured rate, and never more in a window than the platform
  documents (taken from the tenant's platform settings, so no lane code names a platform);
- the adaptive concurrency limit (AIMD), grown by deliveries, shrunk by overload;
- the breaker, opened by a run of vendor trouble, probed after its cool-down, and the stall
  rule, which sees a vendor that has stopped answering before any call has failed;
- the vendor's ``Retry-After``, which pauses every call (each would meet the same answer),
  and the operator's pause.

A pause short enough to wait out in memory (up to ``wait_out`` seconds, the first retry
tier's delay) is waited out; a longer one, an operator's or an open breaker parks the lane's
work instead. Like the limits, it never reads a clock: callers pass ``now`` (monotonic).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from service.delivery.attempt import Attempt, AttemptKind
from service.delivery.limits import AimdLimit, Breaker, BreakerState, RateLimit, rate_limit
from service.platforms.outcomes import OutcomeKind
from service.tenants import Tenant

__all__ = ["BREAKER_OPEN", "PAUSED", "Clearance", "Governor", "GovernorConfig", "governor_for"]

BREAKER_OPEN = "breaker_open"
PAUSED = "lane_paused"

_OVERLOAD_STATUSES = frozenset({429, 503})

REFUND_WITHIN = 1.0
"""A rate slot is given back only this soon after it was taken: a sliding window frees its
oldest slot for a refund, which stands for the unused one only while that one is still in the
window (its margin is a second); an attempt that took longer keeps its slot."""


class Clearance(enum.Enum):
    """The answer to "may I call now?", before the rate cap is asked (:meth:`Governor.take`)."""

    CALL = "call"
    WAIT = "wait"
    """Paused by a short ``Retry-After``: ask again at :attr:`Governor.resumes_at`."""
    PROBING = "probing"
    """The breaker's probe is in flight: its result decides."""
    PARK_PAUSED = PAUSED
    PARK_BREAKER = BREAKER_OPEN


@dataclass(frozen=True, slots=True)
class GovernorConfig:
    breaker_failures: int
    breaker_cool_down: float
    initial_limit: int
    max_pause: float
    """Cap on a pause from ``Retry-After``, so a bogus header cannot stop a lane for days."""
    wait_out: float
    """The longest vendor pause worth waiting out in memory rather than parking."""


class Governor:
    __slots__ = (
        "_aimd",
        "_breaker",
        "_busy_since",
        "_config",
        "_max",
        "_operator",
        "_rate",
        "in_flight",
        "last_ended",
        "limit",
        "resumes_at",
        "stall_after",
    )

    def __init__(
        self, rate: RateLimit, max_concurrency: int, config: GovernorConfig, *, stall_after: float
    ) -> None:
        self._rate = rate
        self._max = max_concurrency
        self._aimd = AimdLimit(min(config.initial_limit, max_concurrency), maximum=max_concurrency)
        self.limit = self._aimd.limit
        """Calls that may be in flight now; read for every record, so kept as a plain field."""
        self._breaker = Breaker(config.breaker_failures, config.breaker_cool_down)
        self._config = config
        self._operator = False
        self.resumes_at = 0.0
        """Monotonic time the vendor's ``Retry-After`` ends (0: never paused)."""
        self.stall_after = stall_after
        """Seconds without a call ending, while calls are in flight, that make a stall."""
        self.in_flight = 0
        self.last_ended = 0.0
        """When a call last ended (monotonic): the liveness watchdog's sign of life."""
        self._busy_since = 0.0

    # -- asking -------------------------------------------------------------------------------

    @property
    def max_concurrency(self) -> int:
        return self._max

    @property
    def rate(self) -> float:
        return self._rate.rate

    @property
    def operator_paused(self) -> bool:
        return self._operator

    def has_room(self) -> bool:
        """Another call may be in flight."""
        return self.in_flight < self.limit

    def stalled(self, now: float) -> bool:
        """Calls are in flight and none has ended for :attr:`stall_after`: the vendor is not
        answering, though no call has failed yet to tell the breaker."""
        if self.in_flight == 0:
            return False
        return now - max(self.last_ended, self._busy_since) > self.stall_after

    def clearance(self, now: float) -> Clearance:
        """Whether the next call may go (rate cap aside), wait, or the waiting work parks."""
        if self.parks_while_paused(now):
            return Clearance.PARK_PAUSED
        if self.resumes_at > now:
            return Clearance.WAIT
        breaker = self._breaker
        if breaker.state is BreakerState.CLOSED:
            return Clearance.CALL
        if breaker.is_open(now):
            return Clearance.PARK_BREAKER
        if breaker.state is BreakerState.HALF_OPEN and breaker.probing:
            return Clearance.PROBING
        return Clearance.CALL

    def refusal(self, now: float) -> str | None:
        """Why new work should not even wait for a call now: the breaker is open, or a pause
        outlasts what is worth waiting out."""
        if (
            not self._operator
            and self.resumes_at <= now
            and self._breaker.state is BreakerState.CLOSED
        ):
            return None  # the common case, asked for every new interaction
        if self._breaker.is_open(now):
            return BREAKER_OPEN
        if self.parks_while_paused(now):
            return PAUSED
        return None

    def parks_while_paused(self, now: float) -> bool:
        return self._operator or self.resumes_at - now > self._config.wait_out

    def takes_work(self, now: float) -> bool:
        """A new call would be made for new work, not parked: the breaker is closed, and the
        lane is neither paused for longer than is worth waiting nor stalled."""
        return (
            self._breaker.state is BreakerState.CLOSED
            and not self.parks_while_paused(now)
            and not self.stalled(now)
        )

    def take(self, now: float) -> float:
        """Start a call, taking a rate slot, and return 0; or take nothing and return the
        seconds until a slot is due. Every call started is :meth:`ended`."""
        wait = self._rate.try_take(now)
        if wait == 0:
            self._breaker.allow(now)
            if self.in_flight == 0:
                self._busy_since = now
            self.in_flight += 1
        return wait

    def ended(self, now: float) -> None:
        self.in_flight -= 1
        self.last_ended = now

    def paused_for(self, now: float) -> float:
        """Seconds the vendor's ``Retry-After`` still runs (0 or less: not paused)."""
        return self.resumes_at - now

    def paused(self, now: float) -> bool:
        return self._operator or self.resumes_at > now

    def gauges(self, now: float, queued: int) -> tuple[int, int, int, bool, bool]:
        """Limit, calls in flight, ``queued``, breaker open, paused: asked for every lane on
        every tick, so in one call."""
        return (
            self.limit,
            self.in_flight,
            queued,
            self._breaker.is_open(now),
            self._operator or self.resumes_at > now,
        )

    def vendor_down(self) -> bool:
        """The breaker is not closed: failures now are the vendor's, not the record's."""
        return self._breaker.state is not BreakerState.CLOSED

    def breaker_state(self, now: float) -> BreakerState:
        state = self._breaker.state
        if state is BreakerState.OPEN and not self._breaker.is_open(now):
            return BreakerState.HALF_OPEN
        return state

    # -- telling ------------------------------------------------------------------------------

    def pause(self) -> None:
        self._operator = True

    def resume(self) -> None:
        self._operator = False
        self.resumes_at = 0.0

    def unused(self, now: float, taken_at: float) -> None:
        """The call taken at ``taken_at`` made no request (held, already delivered, leased
        elsewhere): its rate slot goes back if it still can, and the breaker got no verdict,
        so the next call may probe."""
        self._breaker.probing = False
        if now - taken_at < REFUND_WITHIN:
            self._rate.refund(now)

    def observe(self, now: float, attempt: Attempt) -> float | None:
        """Learn from an attempt that has :meth:`ended`. Returns the seconds of a new or
        longer pause it started, for the log."""
        breaker = self._breaker
        if not attempt.called:  # see unused()
            return None
        outcome = attempt.outcome
        if attempt.kind is AttemptKind.DELIVERED:
            breaker.on_success()
            self._aimd.on_success(self.in_flight + 1)  # in flight with this one
            self.limit = self._aimd.limit
            return None
        if outcome is None or outcome.kind is not OutcomeKind.RETRY or not outcome.involved_vendor:
            breaker.on_neutral()
            return None
        breaker.on_failure(now)
        if outcome.status in _OVERLOAD_STATUSES or outcome.reason == "timeout":
            self._aimd.on_overload()
            self.limit = self._aimd.limit
        if outcome.retry_after:
            until = now + min(outcome.retry_after, self._config.max_pause)
            if until > self.resumes_at:
                self.resumes_at = until
                return until - now
        return None


def governor_for(tenant: Tenant, config: GovernorConfig, now: float) -> Governor:
    """A tenant's governor: its configured rate and concurrency, under the request window its
    platform documents (``tenant.settings.request_window()``), if any; a stall is a quarter of
    its delivery timeout without a call ending."""
    limits = tenant.limits
    rate = rate_limit(limits.rate_per_second, tenant.settings.request_window(), now=now)
    stall_after = max(0.1, tenant.delivery.timeout.total_seconds() / 4)
    return Governor(rate, limits.max_concurrency, config, stall_after=stall_after)
