"""Liveness and readiness state (DESIGN 8).

Liveness answers "would a restart help?": the event loop answers the probe and the consumer
loop keeps cycling. It never looks at Kafka or a vendor, so an outage of either cannot restart
every pod at once. Readiness answers "should this pod count?": started, group joined, ledger
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
    started: bool = False
    joined: bool = False
    stopping: bool = False
    fatal: str | None = None
    _last_beat: float = field(default=0.0)

    def beat(self) -> None:
        """The consumer loop calls this every cycle, busy or idle."""
        self._last_beat = self.clock()

    def live(self) -> tuple[bool, dict[str, object]]:
        if self.fatal:
            return False, {"status": "failed", "error": self.fatal}
        if self.started and not self.stopping:
            stalled = self.clock() - self._last_beat
            if stalled > self.stall_after:
                return False, {"status": "stalled", "seconds_without_progress": round(stalled)}
        return True, {"status": "ok"}

    async def ready(self) -> tuple[bool, dict[str, object]]:
        checks: dict[str, object] = {
            "started": self.started,
            "group_joined": self.joined,
            "not_shutting_down": not self.stopping,
            "healthy": self.fatal is None,
        }
        try:
            if self.ledger_ping is not None:
                await self.ledger_ping()
            checks["ledger"] = True
        except Exception as exc:  # any failure means not ready; the check says which
            checks["ledger"] = f"unreachable: {type(exc).__name__}"
        ok = all(v is True for v in checks.values())
        return ok, {"status": "ready" if ok else "not_ready", "checks": checks}
