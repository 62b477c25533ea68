"""Lanes: one per (tenant, platform), each with its own queue, limits, breaker and pause.

A lane never blocks the consumer: when its queue is full or its vendor is not taking calls,
new work is *parked* (settled as "park in the retry topic") at once, so a slow or failing
vendor cannot hold offsets, memory or capacity that other lanes need. The same goes for a
*stalled* lane, one whose calls are in flight but none has ended for a quarter of the delivery
timeout: it keeps only as many waiting as it may have in flight and parks the rest, so a vendor
that has just stopped answering cannot fill the pipeline's capacity with records that have no
chance before its breaker opens (the engine benchmark's isolation run lost a quarter of the
healthy tenant's throughput that way). A vendor that answers, only slowly, is held to a fair
share of the pipeline instead: when another tenant's record cannot enter, the lane parks its
newest waiting interactions (:meth:`Lanes.make_room`, :mod:`service.delivery.fair_share`).
``Retry-After`` pauses the whole lane, since every call to that vendor would meet the same
answer.

Every record gets exactly one :data:`~service.delivery.settlement.Settlement`: done
(delivered, held for the write window, or already up to date), parked (in which tier, due
when) or dead. The pipeline turns it into a commit, a retry-topic record or a DLQ record.

The parts: :mod:`service.delivery.lane` (queue, coalescing, the pump),
:mod:`service.delivery.governor` (may it call now), :mod:`service.delivery.retry_policy` (what
becomes of a record not delivered), :mod:`service.delivery.settlement`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from service.delivery.attempt import Ledgerish
from service.delivery.fair_share import Holdings, excess_over_share
from service.delivery.lane import AttemptHook, Lane
from service.delivery.lane_config import LaneConfig, LaneStatus
from service.delivery.retry_topics import Origin
from service.delivery.settlement import Dead, Done, Parked, Settlement, SettlementKind
from service.metrics import Metrics
from service.platforms.base import PlatformAdapter
from service.tenants import Tenant

__all__ = [
    "AttemptHook",
    "Dead",
    "Done",
    "Lane",
    "LaneConfig",
    "LaneStatus",
    "Lanes",
    "Parked",
    "Settlement",
    "SettlementKind",
]


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
        self.holdings = Holdings()
        """Records each tenant has between its merge and its settlement: the caller adds a
        record before the merge and removes it once settled."""

    def lane(self, tenant: str, platform: str) -> Lane | None:
        """The lane of ``tenant`` if it writes to ``platform``: what operator controls act on."""
        lane = self._lanes.get(tenant)
        return lane if lane is not None and lane.platform == platform else None

    def submit(
        self, tenant: str, interaction_id: str, origin: Origin
    ) -> asyncio.Future[Settlement]:
        return self._lanes[tenant].submit(interaction_id, origin)

    def park_early(self, tenant: str, interaction_id: str, origin: Origin) -> Parked | None:
        return self._lanes[tenant].park_early(interaction_id, origin)

    def make_room(self, waiting: str, capacity: int) -> dict[str, int]:
        """A record of ``waiting`` cannot enter a full pipeline of ``capacity`` records, of
        which :attr:`holdings` are in each tenant's lane: lanes that are behind and hold more than
        a fair share park their newest waiting records. Returns how many each parked.

        Nothing moves for a tenant whose own lane would not call its vendor now (its record is
        parked at once, needing no share), nor from a lane that keeps up (its records leave
        the pipeline soon anyway; parking them would cost them a retry tier for nothing)."""
        lane = self._lanes.get(waiting)
        if lane is None or not lane.takes_work():
            return {}
        parked: dict[str, int] = {}
        for tenant, excess in excess_over_share(self.holdings.counts, waiting, capacity).items():
            over = self._lanes.get(tenant)
            given = over.park_newest(excess) if over is not None and over.behind() else 0
            if given:
                parked[tenant] = given
        return parked

    def start(self) -> None:
        for lane in self._lanes.values():
            lane.start()

    async def close(self) -> None:
        for lane in self._lanes.values():
            await lane.close()

    def publish_gauges(self, *, force: bool = False) -> None:
        for lane in self._lanes.values():
            lane.publish_gauges(force=force)

    def last_activity(self) -> float:
        return max((lane.last_activity for lane in self._lanes.values()), default=0.0)

    def statuses(self) -> list[LaneStatus]:
        return [lane.status() for lane in self._lanes.values()]
