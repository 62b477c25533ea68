"""Who gives way when the pipeline is full (tenant isolation), pure.

The pipeline holds at most ``max_in_flight`` records, and a lane may queue many of them. A
vendor that answers slowly but within its timeout is neither failing (its breaker stays shut)
nor stalled (its calls keep ending), so nothing else stops its lane from taking every place in
the pipeline; the consumer then waits for that vendor before it can read the next record of any
other tenant. That is head-of-line blocking one level up, between lanes instead of within one.

The rule: when the pipeline is full and the record waiting to enter belongs to a tenant that
holds less than a fair share (the capacity divided by the tenants holding records, the waiting
one included), every other tenant above its share gives back the excess. The lanes give back
their newest waiting interactions, which are parked in the retry topic like a full lane's; the
oldest keep their turn. A pipeline full of one tenant's records is plain back-pressure and
sheds nothing: parking a backlog that has no competitor would only cost it a detour.

This module only sizes the shares. :meth:`service.delivery.lanes.Lanes.make_room` decides
when they apply: for a tenant whose vendor takes calls, and against lanes that are behind. A
lane that keeps up frees its places within moments, and parking its records would cost them a
retry tier for nothing (the engine benchmark's isolation run showed it: a healthy 100 ms
tenant catching up on a backlog lost its queue to the tier, for records of a dead vendor that
were about to be parked anyway).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["Holdings", "excess_over_share"]


class Holdings:
    """Records per tenant between their merge and their lane's settlement: what a full
    pipeline is shared out by. A tenant holding nothing leaves the map, so the fair share
    walks only the tenants that hold records, however many are configured."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, tenant: str, records: int = 1) -> None:
        self.counts[tenant] = self.counts.get(tenant, 0) + records

    def remove(self, tenant: str, records: int = 1) -> None:
        left = self.counts[tenant] - records
        if left > 0:
            self.counts[tenant] = left
        else:
            del self.counts[tenant]


def excess_over_share(holdings: Mapping[str, int], waiting: str, capacity: int) -> dict[str, int]:
    """How many records each tenant should give back so a record of ``waiting`` can enter.

    ``holdings`` counts, per tenant, the records that wait in a lane or in its call; tenants
    with none may be left out. Empty when nobody need give way."""
    sharers = {name for name, held in holdings.items() if held > 0} | {waiting}
    if len(sharers) < 2:
        return {}
    fair = max(1, capacity // len(sharers))
    if holdings.get(waiting, 0) >= fair:
        return {}
    return {name: held - fair for name, held in holdings.items() if name != waiting and held > fair}
