"""The letters the pipeline writes about records it did not deliver: a parked copy in a retry
tier, and a dead letter with provenance; and the original put back into a copy that had to be
written without its value.

Both keep the original record (key, value, headers) so that reading it back, or replaying it,
is the very change that failed; both are written durably before the record's offset may be
committed. A dead letter is the one copy people read, so privacy-flagged fields are masked in
its value (:mod:`service.delivery.privacy`) and its response excerpt is redacted. The pipeline
decides *whether* to write; this module decides *what* is written and counts it, so the rules
for letters live apart from the loop that reads and settles records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import structlog

from service import __version__
from service.delivery.dead_letter import DeadLetter, DeadLetterSink, RecordSink
from service.delivery.fit import OMITTED, VALUE_SIZE
from service.delivery.originals import OriginalReader
from service.delivery.privacy import MASKED_HEADER, mask_fields
from service.delivery.retry_topics import Origin, RetryTier, parked_headers
from service.events import BadInput
from service.kafka_seam import Record
from service.mapping import FieldProblem
from service.metrics import UNKNOWN, Metrics
from service.redaction import Redactor
from service.tenants import Tenant

__all__ = ["Outbox", "Undelivered", "tenant_of_key"]

log = structlog.get_logger("enricher.pipeline")


@dataclass(frozen=True, slots=True)
class Undelivered:
    """What the lanes left to write for one record: letters for fields that could not be
    mapped, and the change parked in a tier (``park``) or dead-lettered (``bury``)."""

    platform: str
    reason: str
    action: Literal["park", "bury"] | None = None
    revision: int = 0
    attempts: int = 0
    first_failure_at: datetime | None = None
    last_failure_at: datetime | None = None
    status: int | None = None
    """The vendor's HTTP status, when it answered."""
    error_class: str | None = None
    excerpt: str | None = None
    """The start of the vendor's answer, unredacted."""
    tier: int = 0
    """For ``park``: the retry tier to park in."""
    due_at: float | None = None
    """For ``park``: epoch seconds at which the record may be retried."""
    problems: Sequence[FieldProblem] = ()


class Outbox:
    def __init__(
        self,
        *,
        tiers: Sequence[RetryTier],
        retry_prefix: str,
        tenants: Mapping[str, Tenant],
        dead_letters: DeadLetterSink,
        parking: RecordSink,
        metrics: Metrics,
        redactor: Redactor,
        wall_clock: Callable[[], datetime],
        originals: OriginalReader | None = None,
    ) -> None:
        self._tiers = tiers
        self._retry_prefix = retry_prefix
        self._tenants = tenants
        self._dead_letters = dead_letters
        self._parking = parking
        self._metrics = metrics
        self._redact = redactor
        self._now = wall_clock
        self._originals = originals

    async def write(
        self,
        record: Record,
        origin: Origin,
        tenant: str,
        interaction_id: str,
        undelivered: Undelivered,
    ) -> None:
        for problem in undelivered.problems:
            await self._unmappable(
                record, origin, tenant, interaction_id, undelivered, problem=problem
            )
        if undelivered.action == "park":
            await self._park(record, origin, tenant, undelivered)
        elif undelivered.action == "bury":
            await self._bury(record, origin, tenant, interaction_id, undelivered)

    async def _unmappable(
        self,
        record: Record,
        origin: Origin,
        tenant: str,
        interaction_id: str,
        undelivered: Undelivered,
        *,
        problem: FieldProblem,
    ) -> None:
        platform = undelivered.platform
        self._metrics.dead_lettered.labels(tenant, platform, "unmappable_field").inc()
        await self.dead_letter(
            record,
            origin,
            reason="unmappable_field",
            detail=f"{problem.target} (from {problem.source}): {problem.message}",
            error_class="MappingError",
            tenant=tenant,
            platform=platform,
            interaction_id=interaction_id,
            revision=undelivered.revision,
        )

    async def _park(
        self, record: Record, origin: Origin, tenant: str, undelivered: Undelivered
    ) -> None:
        tier = self._tiers[undelivered.tier]
        if undelivered.due_at is None:  # the retry policy gives every parked record its due time
            raise ValueError(f"a record parked in {tier.topic} carries no due time")
        headers = parked_headers(
            record.headers or (),
            origin,
            due_at=undelivered.due_at,
            attempts=undelivered.attempts,
            first_failure_at=undelivered.first_failure_at or self._now(),
            reason=undelivered.reason,
        )
        await self._parking.send(tier.topic, record.key, record.value, headers)
        self._metrics.parked.labels(
            tenant,
            undelivered.platform,
            tier.topic.removeprefix(self._retry_prefix),
            undelivered.reason,
        ).inc()

    async def _bury(
        self,
        record: Record,
        origin: Origin,
        tenant: str,
        interaction_id: str,
        undelivered: Undelivered,
    ) -> None:
        u = undelivered
        self._metrics.dead_lettered.labels(tenant, u.platform, u.reason).inc()
        log.warning(
            "dead_lettered",
            tenant=tenant,
            interaction_id=interaction_id,
            platform=u.platform,
            reason=u.reason,
            status=u.status,
            attempts=u.attempts,
        )
        await self.dead_letter(
            record,
            origin,
            reason=u.reason,
            error_class=u.error_class or "VendorError",
            http_status=u.status,
            # Redact before cutting, so a secret straddling the cut is still masked whole.
            response_excerpt=self._redact(u.excerpt)[:300] if u.excerpt else None,
            attempts=u.attempts,
            first_failure_at=u.first_failure_at,
            last_failure_at=u.last_failure_at,
            tenant=tenant,
            platform=u.platform,
            interaction_id=interaction_id,
            revision=u.revision,
        )

    async def reject(self, record: Record, origin: Origin, bad: BadInput) -> None:
        """A record that is not a valid event, dead-lettered as it came."""
        named = bad.tenant or tenant_of_key(record.key)
        known = self._tenants.get(named or "")
        tenant = named if known is not None and named else UNKNOWN
        platform = known.platform if known is not None else "none"
        self._metrics.consumed.labels(tenant, platform, "invalid").inc()
        self._metrics.bad_input.labels(tenant, bad.reason).inc()
        self._metrics.dead_lettered.labels(tenant, platform, bad.reason).inc()
        log.warning(
            "bad_input",
            reason=bad.reason,
            detail=self._redact(bad.detail),
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        await self.dead_letter(
            record,
            origin,
            reason=bad.reason,
            detail=self._redact(bad.detail),
            error_class="BadInput",
            tenant=tenant if tenant != UNKNOWN else None,
        )

    async def restore(self, record: Record, origin: Origin) -> Record | None:
        """The original event behind a copy written without its value, with the copy's own
        ``enricher.*`` headers (its tier, due time, replay count); ``None`` once the original
        is gone from its topic, which is then dead-lettered as ``original_unavailable``."""
        original = (
            await self._originals.fetch(origin.topic, origin.partition, origin.offset)
            if self._originals is not None
            else None
        )
        if original is None:
            await self._original_unavailable(record, origin)
            return None
        ours = [
            (k, v)
            for k, v in record.headers or ()
            if k.startswith("enricher.") and k not in (OMITTED, VALUE_SIZE, MASKED_HEADER)
        ]
        return _Restored(
            record.topic,
            record.partition,
            record.offset,
            original.key,
            original.value,
            [*original.headers, *ours],
        )

    async def _original_unavailable(self, record: Record, origin: Origin) -> None:
        """A copy written without its value whose original is gone from its topic."""
        known = tenant_of_key(record.key)
        tenant = known if known in self._tenants else None
        platform = self._tenants[tenant].platform if tenant else "none"
        self._metrics.dead_lettered.labels(
            tenant or UNKNOWN, platform, "original_unavailable"
        ).inc()
        size = next((v for k, v in record.headers or () if k == VALUE_SIZE), b"")
        where = f"{origin.topic}/{origin.partition}@{origin.offset}"
        log.warning("original_unavailable", source=where)
        await self.dead_letter(
            record,
            origin,
            reason="original_unavailable",
            detail=f"the copy was written without its value, and {where} no longer holds it",
            error_class="OriginalGone",
            tenant=tenant,
            omitted="value",
            value_size=int(size) if size.isdigit() else None,
        )

    async def dead_letter(self, record: Record, origin: Origin, **provenance: Any) -> None:
        value = record.value
        masked: list[str] = []
        tenant = self._tenants.get(provenance.get("tenant") or "")
        if tenant is not None:
            value, masked = mask_fields(value, tenant.private_sources())
        letter = DeadLetter(
            source_topic=origin.topic,
            source_partition=origin.partition,
            source_offset=origin.offset,
            service_version=__version__,
            replays=origin.replays or None,
            masked=",".join(masked) or None,
            **provenance,
        )
        headers = [(k, v) for k, v in record.headers or () if k != MASKED_HEADER]
        await self._dead_letters.send(record.key, value, headers, letter)


@dataclass(frozen=True, slots=True)
class _Restored:
    """A record read from a retry tier, with the original's key and value put back."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def tenant_of_key(key: bytes | None) -> str | None:
    """The tenant a record's key names, for labelling input whose body could not be read."""
    if not key or b":" not in key:
        return None
    return key.split(b":", 1)[0].decode("utf-8", errors="replace")
