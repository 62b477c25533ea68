"""Liveness and readiness state.

Liveness answers "would a restart help?": the event loop answers the probe, the consumer loop
keeps cycling, and work in hand keeps moving. Work moves when a record settles or a vendor call
ends; every call has a timeout, so a slow or dead vendor still moves it (calls end, records park),
and a ledger outage is waited out and says so. What is left is a task that waits on nothing that
will ever answer: that is a hang, and a restart helps. Liveness never looks at Kafka or a vendor
directly, so an outage of either cannot restart every pod at once.

Readiness answers "should this pod count?": started, group joined, ledger and broker
reachable, not shutting down. It must answer before the probe gives up, or the kubelet learns
only "timed out" and the operator nothing: a Redis that accepts connections and never answers
would hold a ping through every client timeout and retry (over 15 s). So the checks run side by
side, each bounded by ``check_timeout``, and a silent dependency is reported by name and address.
"""

from __future__ import annotations

import asyncio
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
    ledger_address: str = "the ledger"
    broker_address: str = "the broker"
    """Where each check reaches, for the operator reading ``/readyz``; never with a password."""
    check_timeout: float = 1.0
    """Well under the chart's 3 s probe timeout, with room for the response itself."""
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
        checks["ledger"], checks["broker"] = await asyncio.gather(
            _reachable(self.ledger_ping, self.ledger_address, self.check_timeout),
            _reachable(self.broker_ping, self.broker_address, self.check_timeout),
        )
        ok = all(v is True for v in checks.values())
        return ok, {"status": "ready" if ok else "not_ready", "checks": checks}


async def _reachable(
    ping: Callable[[], Awaitable[None]] | None, address: str, timeout: float
) -> bool | str:
    """True, or why not: any failure means not ready, and the check says which and where.

    Only the exception's class is shown: client messages may quote a URL with its password.
    """
    if ping is None:
        return True
    try:
        await asyncio.wait_for(ping(), timeout)
    except TimeoutError:
        return f"no answer from {address} within {float(timeout)} s"
    except Exception as exc:
        return f"unreachable: {type(exc).__name__} from {address}"
    return True
