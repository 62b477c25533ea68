"""Driving one interaction's latest snapshot to its platform, with in-process retries.

The loop re-reads the ledger before every attempt, so a retry always sends the newest merged
snapshot and a change already acknowledged is never sent again (DESIGN 5.2). What it cannot
deliver it hands back as a :class:`Report` for the pipeline to dead-letter: this module writes
nothing to Kafka.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from service.delivery.backoff import full_jitter
from service.events import Scalar
from service.mapping import FieldProblem, map_fields
from service.merge import LedgerEntry
from service.metrics import Metrics
from service.platforms.base import Delivery, PlatformAdapter
from service.platforms.outcomes import Outcome, OutcomeKind
from service.tenants import Tenant

__all__ = ["Deliverer", "Report", "ReportKind", "RetryPolicy"]


class ReportKind(enum.Enum):
    DELIVERED = "delivered"
    HELD = "held"
    """Waiting for the write window (after-close platforms before the close)."""
    UP_TO_DATE = "up_to_date"
    """The platform already acknowledged the latest revision (or the entry expired)."""
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Report:
    kind: ReportKind
    platform: str
    revision: int = 0
    outcome: Outcome | None = None
    attempts: int = 0
    first_failure_at: datetime | None = None
    last_failure_at: datetime | None = None
    problems: tuple[FieldProblem, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_delay: float = 0.5
    max_delay: float = 30.0


class Ledgerish(Protocol):
    """The two ledger calls the deliverer needs (a structural subset of Ledger)."""

    async def get(self, tenant: str, interaction_id: str, now: datetime) -> LedgerEntry | None: ...

    async def mark_delivered(
        self, tenant: str, interaction_id: str, platform: str, revision: int
    ) -> None: ...


class Deliverer:
    def __init__(
        self,
        ledger: Ledgerish,
        tenants: Mapping[str, Tenant],
        adapters: Mapping[str, PlatformAdapter],
        metrics: Metrics,
        policy: RetryPolicy = RetryPolicy(),
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
    ) -> None:
        self._ledger = ledger
        self._tenants = tenants
        self._adapters = adapters
        self._metrics = metrics
        self._policy = policy
        self._sleep = sleep
        self._now = wall_clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._concurrency = {
            name: asyncio.Semaphore(t.limits.max_concurrency) for name, t in tenants.items()
        }

    async def deliver(self, tenant: str, interaction_id: str) -> Report:
        adapter = self._adapters[tenant]
        config = self._tenants[tenant]
        platform = adapter.platform
        attempts = 0
        first_failure: datetime | None = None
        while True:
            entry = await self._ledger.get(tenant, interaction_id, self._now())
            if entry is None or not entry.pending_for(platform):
                return Report(ReportKind.UP_TO_DATE, platform, entry.revision if entry else 0)
            if adapter.write_window == "after_close" and not entry.is_closed:
                self._metrics.held.labels(tenant, platform).inc()
                return Report(ReportKind.HELD, platform, entry.revision)
            mapped = map_fields(entry.field_values(), config.fields)
            delivery = _delivery_of(entry, mapped.values)
            if not mapped.values:
                outcome: Outcome = Outcome.delivered(0)  # nothing mapped: nothing to write
            else:
                attempts += 1
                outcome = await self._send(adapter, config, delivery)
            if outcome.kind is OutcomeKind.DELIVERED:
                await self._ledger.mark_delivered(tenant, interaction_id, platform, entry.revision)
                self._metrics.delivered.labels(tenant, platform).inc()
                return Report(
                    ReportKind.DELIVERED,
                    platform,
                    entry.revision,
                    outcome,
                    attempts,
                    first_failure,
                    self._now() if first_failure else None,
                    mapped.problems,
                )
            now = self._now()
            first_failure = first_failure or now
            delay = (
                None
                if outcome.kind is OutcomeKind.PERMANENT or attempts >= config.delivery.max_attempts
                else self._delay(attempts, outcome)
            )
            if delay is None:
                return Report(
                    ReportKind.DEAD,
                    platform,
                    entry.revision,
                    outcome,
                    attempts,
                    first_failure,
                    now,
                    mapped.problems,
                )
            self._metrics.retried.labels(tenant, platform, outcome.reason).inc()
            await self._sleep(delay)

    def _delay(self, attempts: int, outcome: Outcome) -> float | None:
        """Backoff before the next attempt; None when the vendor asked for a longer pause than
        in-process retrying may take (the change is dead-lettered rather than blocking)."""
        policy = self._policy
        jitter = full_jitter(attempts, policy.base_delay, policy.max_delay, self._rng)
        if outcome.retry_after is None:
            return jitter
        if outcome.retry_after > policy.max_delay:
            return None
        return max(outcome.retry_after, jitter)

    async def _send(self, adapter: PlatformAdapter, config: Tenant, delivery: Delivery) -> Outcome:
        semaphore = self._concurrency[delivery.tenant]
        async with semaphore:
            started = time.perf_counter()
            outcome = await adapter.send(delivery)
            elapsed = time.perf_counter() - started
        status_class = f"{outcome.status // 100}xx" if outcome.status else outcome.reason
        self._metrics.vendor_requests.labels(
            delivery.tenant, adapter.platform, status_class
        ).observe(elapsed)
        return outcome


def _delivery_of(entry: LedgerEntry, values: Mapping[str, Scalar]) -> Delivery:
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
