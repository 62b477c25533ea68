"""A lane's three governors, pure and clock-driven.

- :class:`TokenBucket` is the hard cap: a vendor's documented or contracted rate is never
  exceeded, whatever the concurrency.
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
from dataclasses import dataclass

__all__ = ["AimdLimit", "Breaker", "BreakerState", "TokenBucket"]


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

    def try_take(self, now: float) -> float:
        """Take a token and return 0, or take nothing and return the seconds until one is due."""
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate


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
