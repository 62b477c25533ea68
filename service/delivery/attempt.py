"""One delivery attempt for one interaction: the step every lane call runs.

It re-reads the ledger first, so whatever triggered it (a fresh event, a retry, a replay) sends
the interaction's newest merged snapshot, and a revision the platform already acknowledged is
never sent again (DESIGN 5.2). Retrying, pacing and parking are the lane's business; this module
only says what happened.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from service.events import Scalar
from service.mapping import FieldProblem, map_fields
from service.merge import LedgerEntry
from service.platforms.base import Delivery, PlatformAdapter
from service.platforms.outcomes import Outcome, OutcomeKind
from service.tenants import Tenant

__all__ = ["Attempt", "AttemptKind", "Ledgerish", "attempt_delivery", "delivery_of"]


class AttemptKind(enum.Enum):
    DELIVERED = "delivered"
    HELD = "held"
    """Waiting for the write window (an after-close platform before the close)."""
    UP_TO_DATE = "up_to_date"
    """The platform already acknowledged the latest revision (or the entry expired)."""
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Attempt:
    kind: AttemptKind
    revision: int = 0
    outcome: Outcome | None = None
    called: bool = False
    """Whether the vendor was called (only calls count as attempts and feed the governors)."""
    elapsed: float = 0.0
    problems: tuple[FieldProblem, ...] = field(default=())


class Ledgerish(Protocol):
    """The two ledger calls an attempt needs (a structural subset of Ledger)."""

    async def get(self, tenant: str, interaction_id: str, now: datetime) -> LedgerEntry | None: ...

    async def mark_delivered(
        self, tenant: str, interaction_id: str, platform: str, revision: int
    ) -> None: ...


async def attempt_delivery(
    ledger: Ledgerish,
    tenant: Tenant,
    adapter: PlatformAdapter,
    tenant_name: str,
    interaction_id: str,
    *,
    now: datetime,
) -> Attempt:
    platform = adapter.platform
    entry = await ledger.get(tenant_name, interaction_id, now)
    if entry is None or not entry.pending_for(platform):
        return Attempt(AttemptKind.UP_TO_DATE, entry.revision if entry else 0)
    if adapter.write_window == "after_close" and not entry.is_closed:
        return Attempt(AttemptKind.HELD, entry.revision)
    if adapter.write_window == "live" and not entry.ref() and not entry.is_closed:
        # A live platform needs the session's address; analytics that carry none wait for an
        # event that does, instead of failing as unroutable.
        return Attempt(AttemptKind.HELD, entry.revision)
    mapped = map_fields(entry.field_values(), tenant.fields)
    if not mapped.values:
        # Nothing mapped has a value yet: there is nothing to write, and nothing to wait for.
        await ledger.mark_delivered(tenant_name, interaction_id, platform, entry.revision)
        return Attempt(AttemptKind.UP_TO_DATE, entry.revision, problems=mapped.problems)
    started = time.perf_counter()
    try:
        outcome = await adapter.send(delivery_of(entry, mapped.values))
    except Exception as exc:  # a request the client refused to build: this change, not all
        outcome = Outcome(
            OutcomeKind.PERMANENT,
            "unsendable",
            excerpt=type(exc).__name__,
            error_class=type(exc).__name__,
        )
    elapsed = time.perf_counter() - started
    if outcome.kind is OutcomeKind.DELIVERED:
        await ledger.mark_delivered(tenant_name, interaction_id, platform, entry.revision)
        return Attempt(
            AttemptKind.DELIVERED, entry.revision, outcome, True, elapsed, mapped.problems
        )
    return Attempt(AttemptKind.FAILED, entry.revision, outcome, True, elapsed, mapped.problems)


def delivery_of(entry: LedgerEntry, values: Mapping[str, Scalar]) -> Delivery:
    return Delivery(
        tenant=entry.tenant,
        interaction_id=entry.interaction_id,
        revision=entry.revision,
        ref=entry.ref(),
        channel=entry.routing_value("channel"),
        status=entry.routing_value("status"),
        closed_at=entry.closed_at,
        values=values,
    )
