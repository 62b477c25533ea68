"""Liveness and readiness state (DESIGN 8).

Liveness answers "would a restart help?": the event loop answers the probe, the consumer loop
keeps cycling, and work in hand keeps moving. Work moves when a record settles or a vendor call
ends; every call has a timeout, so a slow or dead vendor still moves it (calls end, records park),
and a ledger outage is waited out and says so. What is left is a task that waits on nothing that
will ever answer: that is a hang, and a restart helps. Liveness never looks at Kafka or a vendor
directly, so an outage of either cannot restart every pod at once.

Readiness answers "should this pod count?": started, group joined, ledger and broker
reachable, not shutting down.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["Health"]


@dataclass
class Health:
    stall_after: float = 120.0
    clock: Callable[[], float] = time.monotonic
    ledger_ping: Callable[[], Awaitable[None]] | None = None
    broker_ping: Callable[[], Awaitable[None]] | None = None
    in_flight: Callable[[], int] = lambda: 0
    last_activity: Callable[[], float] = lambda: 0.0
    waiting_on_store: Callable[[], bool] = lambda: False
    started: bool = False
    joined: bool = False
    stopping: bool = False
    fatal: str | None = None
    _last_beat: float = field(default=0.0)
    _last_progress: float = field(default=0.0)

    def beat(self) -> None:
        """The consumer loop calls this every cycle, busy or idle."""
        self._last_beat = self.clock()

    def progressed(self) -> None:
        """A record settled."""
        self._last_progress = self.clock()

    def live(self) -> tuple[bool, dict[str, object]]:
        if self.fatal:
            return False, {"status": "failed", "error": self.fatal}
        if self.started and not self.stopping:
            now = self.clock()
            stalled = now - self._last_beat
            if stalled > self.stall_after:
                return False, {"status": "stalled", "seconds_without_progress": round(stalled)}
            idle = now - max(self._last_progress, self.last_activity())
            held = self.in_flight()
            if held and idle > self.stall_after and not self.waiting_on_store():
                return False, {
                    "status": "stuck",
                    "in_flight": held,
                    "seconds_without_progress": round(idle),
                }
        return True, {"status": "ok"}

    def start(self) -> None:
        """The consumer has started: progress is measured from now."""
        self.started = True
        self._last_beat = self._last_progress = self.clock()

    async def ready(self) -> tuple[bool, dict[str, object]]:
        checks: dict[str, object] = {
            "started": self.started,
            "group_joined": self.joined,
            "not_shutting_down": not self.stopping,
            "healthy": self.fatal is None,
        }
        checks["ledger"] = await _reachable(self.ledger_ping)
        checks["broker"] = await _reachable(self.broker_ping)
        ok = all(v is True for v in checks.values())
        return ok, {"status": "ready" if ok else "not_ready", "checks": checks}


async def _reachable(ping: Callable[[], Awaitable[None]] | None) -> bool | str:
    """True, or why not: any failure means not ready, and the check says which."""
    try:
        if ping is not None:
            await ping()
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}"
    return True
