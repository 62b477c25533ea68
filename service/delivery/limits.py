"""A lane's three governors, pure and clock-driven.

- The hard cap is a vendor's documented or contracted rate, never exceeded whatever the
  concurrency: a :class:`TokenBucket` for a rate, a :class:`SlidingWindowLimit` for a platform
  that documents a count per window (100 requests a minute, say), both at once
  (:class:`JointLimit`) when a tenant configures a rate below such a window.
- :class:`AimdLimit` is the soft cap: how many calls may be in flight. It grows while the vendor
  keeps up and shrinks multiplicatively on signs of overload (429, 503, timeouts), like a TCP
  congestion window, so a struggling vendor gets less traffic instead of more retries.
- :class:`Breaker` stops calls altogether after a run of failures and lets one probe through
  after a cool-down; while it is open, new work goes to the retry topic without a call.

None of them sleeps or reads a clock: callers pass ``now`` (monotonic seconds), so every
transition is unit-testable and deterministic.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "WINDOW_MARGIN",
    "AimdLimit",
    "Breaker",
    "BreakerState",
    "JointLimit",
    "RateLimit",
    "SlidingWindowLimit",
    "TokenBucket",
    "rate_limit",
]

WINDOW_MARGIN = 1.0
"""Seconds a :class:`SlidingWindowLimit` holds each slot beyond the vendor's window.

The vendor counts a request when it arrives; the limiter counts it when the lane takes the slot,
a ledger read, a pooled or new connection (a TLS handshake to a distant cluster) and maybe a
garbage-collection pause earlier. Those few milliseconds to a few hundred vary from request to
request, and a request that travels slowly lands closer to one taken a full window after it: at
the vendor, that pair would share a window. Holding each slot one second longer absorbs a delay
difference of up to a second, far more than those steps take, for 1/61 of a per-minute limit's
throughput (under 2 of 100 a minute)."""


class RateLimit(Protocol):
    """What a lane asks of its hard cap."""

    @property
    def rate(self) -> float:
        """Sustained calls a second, for the lane's status."""
        ...

    def wait(self, now: float) -> float:
        """Seconds until a take would succeed; 0 if one would now. Takes nothing."""
        ...

    def try_take(self, now: float) -> float:
        """Take a slot and return 0, or take nothing and return :meth:`wait`."""
        ...

    def refund(self, now: float) -> None:
        """Give back a slot taken for a call that turned out not to be needed (the record was
        already delivered, or is held), so it does not cost the vendor's budget."""
        ...


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up."""

    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: float | None = None, *, now: float = 0.0) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._rate = rate
        self._burst = max(1.0, burst if burst is not None else rate)
        self._tokens = self._burst
        self._stamp = now

    @property
    def rate(self) -> float:
        return self._rate

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now

    def wait(self, now: float) -> float:
        self._refill(now)
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self._rate

    def try_take(self, now: float) -> float:
        """Take a token and return 0, or take nothing and return the seconds until one is due."""
        wait = self.wait(now)
        if wait == 0:
            self._tokens -= 1.0
        return wait

    def refund(self, now: float) -> None:
        """The token comes back, but never beyond the burst: a bucket that has filled up since
        the take would have had no room for it anyway."""
        self._refill(now)
        self._tokens = min(self._burst, self._tokens + 1.0)


class SlidingWindowLimit:
    """At most ``limit`` takes in any ``window`` seconds: a vendor's "N requests a minute" held
    exactly, as a vendor that counts arrivals in a sliding window sees it.

    A token bucket at N per window cannot promise that: it starts full, so it allows its burst
    plus N in the first window (a vendor answered the 101st request of a start-up backlog with
    429).
    This keeps the time of every take still in the window, and a new take waits until the
    oldest has left. Each slot is held for ``window + margin`` (see :data:`WINDOW_MARGIN`), so
    requests that reach the vendor a little sooner or later than they were taken still never
    put N+1 arrivals in one of its windows.
    """

    __slots__ = ("_hold", "_limit", "_taken", "_window")

    def __init__(self, limit: int, window: float, *, margin: float = WINDOW_MARGIN) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if window <= 0:
            raise ValueError("window must be positive")
        if margin < 0:
            raise ValueError("margin cannot be negative")
        self._limit = limit
        self._window = window
        self._hold = window + margin
        self._taken: deque[float] = deque()

    @property
    def rate(self) -> float:
        return self._limit / self._window

    def _expire(self, now: float) -> None:
        # The same sum as in wait(): "left the window" and "no wait" must agree to the last bit,
        # or a full window could answer 0 and take one more.
        while self._taken and self._taken[0] + self._hold <= now:
            self._taken.popleft()

    def wait(self, now: float) -> float:
        self._expire(now)
        if len(self._taken) < self._limit:
            return 0.0
        return self._taken[0] + self._hold - now

    def try_take(self, now: float) -> float:
        """Take a slot and return 0, or take nothing and return the seconds until the oldest
        take leaves the window."""
        wait = self.wait(now)
        if wait == 0:
            # Never stamped before an earlier take: a clock read out of order stays counted.
            self._taken.append(max(now, self._taken[-1]) if self._taken else now)
        return wait

    def refund(self, now: float) -> None:
        """Give back a take, by freeing the oldest slot still held rather than the newest.

        Calls overlap: by the time a call finds it has nothing to send, other takes may have
        followed its own, and the limiter cannot tell which one was not used. Dropping the
        oldest time keeps every remaining one at or after the take it stands for, so the window
        may count a request later than it went out, never earlier, and the vendor never sees
        more than the limiter counted. Give back only while the unused take is still held
        (within ``window + margin`` of it); the lane does so right after the ledger read that
        made the call unnecessary.
        """
        self._expire(now)
        if self._taken:
            self._taken.popleft()


class JointLimit:
    """Several hard caps at once (a configured rate under a documented window): a take counts
    against all of them or none."""

    __slots__ = ("_limits",)

    def __init__(self, *limits: RateLimit) -> None:
        if not limits:
            raise ValueError("at least one limit")
        self._limits = limits

    @property
    def rate(self) -> float:
        return min(limit.rate for limit in self._limits)

    def wait(self, now: float) -> float:
        return max(limit.wait(now) for limit in self._limits)

    def try_take(self, now: float) -> float:
        # Asked before any takes, so no cap is given a slot back only because another refused:
        # a window's refund frees its oldest slot, which is not the same as never taking.
        wait = self.wait(now)
        if wait == 0:
            for limit in self._limits:
                limit.try_take(now)
        return wait

    def refund(self, now: float) -> None:
        for limit in self._limits:
            limit.refund(now)


def rate_limit(rate: float, window: tuple[int, float] | None, *, now: float) -> RateLimit:
    """A lane's hard cap: a tenant's configured ``rate`` a second and, where the platform
    documents one, its ``(requests, seconds)`` window. The bucket alone cannot hold a window:
    any rate close to N per window plus its burst puts more than N in the first one."""
    bucket = TokenBucket(rate, now=now)
    if window is None:
        return bucket
    requests, seconds = window
    return JointLimit(bucket, SlidingWindowLimit(requests, seconds))


class AimdLimit:
    """Additive increase, multiplicative decrease of the in-flight limit.

    The limit only grows while it is actually being used (in flight at least half of it), so an
    idle lane does not accumulate a limit it never tested; this is the growth rule of Netflix's
    concurrency-limits AIMD, whose users reported runaway growth without it.
    """

    __slots__ = ("_backoff", "_max", "_min", "value")

    def __init__(
        self, initial: int, *, minimum: int = 1, maximum: int, backoff: float = 0.75
    ) -> None:
        self._min = max(1, minimum)
        self._max = max(self._min, maximum)
        self._backoff = backoff
        self.value = float(min(max(initial, self._min), self._max))

    @property
    def limit(self) -> int:
        return int(self.value)

    def on_success(self, in_flight: int) -> None:
        if in_flight * 2 >= self.limit:
            self.value = min(float(self._max), self.value + 1.0)

    def on_overload(self) -> None:
        self.value = max(float(self._min), self.value * self._backoff)


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class Breaker:
    """Consecutive-failure breaker with a doubling cool-down.

    ``allow`` answers whether a call may start now; in half-open state exactly one probe is
    allowed until its result is recorded.
    """

    failure_threshold: int = 5
    cool_down: float = 5.0
    max_cool_down: float = 60.0
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    current_cool_down: float = 0.0
    probing: bool = False

    def allow(self, now: float) -> bool:
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN and now - self.opened_at >= self.current_cool_down:
            self.state = BreakerState.HALF_OPEN
            self.probing = False
        if self.state is BreakerState.HALF_OPEN and not self.probing:
            self.probing = True
            return True
        return False

    def is_open(self, now: float) -> bool:
        """Open and still cooling down: new work should not even be queued."""
        return self.state is BreakerState.OPEN and now - self.opened_at < self.current_cool_down

    def reopens_in(self, now: float) -> float:
        return max(0.0, self.opened_at + self.current_cool_down - now)

    def on_success(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.probing = False
        self.current_cool_down = 0.0

    def on_failure(self, now: float) -> None:
        if self.state is BreakerState.HALF_OPEN:
            self._open(now, min(self.max_cool_down, self.current_cool_down * 2))
            return
        self.failures += 1
        if self.state is BreakerState.CLOSED and self.failures >= self.failure_threshold:
            self._open(now, self.cool_down)

    def on_neutral(self) -> None:
        """A call that says nothing about the vendor's health (a permanent rejection of one
        payload) ends a probe without changing the verdict."""
        if self.state is BreakerState.HALF_OPEN:
            self.on_success()
        else:
            self.failures = 0

    def _open(self, now: float, cool_down: float) -> None:
        self.state = BreakerState.OPEN
        self.opened_at = now
        self.current_cool_down = max(cool_down, self.cool_down)
        self.probing = False
