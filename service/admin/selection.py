"""How an operator selects dead letters, the same way on the command line and over HTTP.

A time is a duration ago (``24h``) or a moment: on the command line any ISO 8601 form
(``2026-11-20T08:00Z``; without a zone it is UTC), over HTTP an RFC 3339 date-time, which is
what its OpenAPI schema can state exactly. A page of the DLQ listing ends with a cursor naming
the last record shown, so the next page starts after it even when records were added in
between.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import StringConstraints, TypeAdapter, ValidationError

from service.delivery.dlq_reader import DeadLetterFilter, DeadLetterRecord
from service.durations import parse_duration
from service.platforms.registry import PlatformId

__all__ = [
    "CURSOR_PATTERN",
    "DURATION_PATTERN",
    "RFC3339_PATTERN",
    "Cursor",
    "InteractionId",
    "Page",
    "PlatformName",
    "Reason",
    "TenantName",
    "dead_letter_filter",
    "exact_moment",
    "page_of",
    "parse_moment",
    "selection_problems",
]

DURATION_PATTERN = r"^\d{1,9}(\.\d{1,6})?(ms|s|m|h|d)?$"
RFC3339_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
CURSOR_PATTERN = r"^\d{1,15}\.\d{1,9}\.\d{1,18}$"
PlatformName = PlatformId
TenantName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
InteractionId = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Reason = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
"""The filters' forms, one definition for both doors: the admin API's models declare their
fields with these types, and the command line checks its options with
:func:`selection_problems`, so a value one refuses the other refuses too."""

_FILTER_TYPES: dict[str, TypeAdapter[Any]] = {
    "tenant": TypeAdapter(TenantName),
    "platform": TypeAdapter(PlatformName),
    "reason": TypeAdapter(Reason),
    "interaction": TypeAdapter(InteractionId),
}

_DURATION = re.compile(DURATION_PATTERN)
_RFC3339 = re.compile(RFC3339_PATTERN)
_CURSOR = re.compile(CURSOR_PATTERN)
_LEAP_SECOND = re.compile(r"(?i)(t\d{2}:\d{2}:)60")
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def parse_moment(text: str | None, now: datetime) -> datetime | None:
    """``None`` for an empty selection; ``ValueError`` with a message an operator can act on.

    Any form Python reads as ISO 8601 is taken, as the command line always has; the HTTP API
    narrows that to :func:`exact_moment`. A moment beyond the calendar's ends is clamped to
    them: "further back than year 1" selects the same records as year 1.
    """
    if not text:
        return None
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    except OverflowError:
        return _EARLIEST
    try:
        moment = datetime.fromisoformat(_LEAP_SECOND.sub(r"\g<1>59", text.strip().upper()))
    except ValueError:
        raise ValueError(
            f"{text!r} is neither an ISO time such as 2026-11-20T08:00Z nor a duration ago "
            "such as 24h"
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return _EARLIEST if moment.year == 1 else _LATEST


def exact_moment(text: str) -> str:
    """Validates what the HTTP API documents: a duration, or an RFC 3339 date-time (with its
    zone, so nobody has to guess which clock a time was read on). Returns ``text`` unchanged."""
    if _DURATION.fullmatch(text):
        return text
    if _RFC3339.fullmatch(text):
        try:
            parse_moment(text, datetime.now(UTC))
        except ValueError:
            pass
        else:
            return text
    raise ValueError(
        f"{text!r} is neither an RFC 3339 time such as 2026-11-20T08:00:00Z nor a duration "
        "ago such as 24h"
    )


def selection_problems(values: dict[str, str | None]) -> dict[str, str]:
    """Filter name → why its value is refused (none for a valid or unset filter), checked
    exactly as the admin API checks the same query parameter."""
    problems: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        try:
            _FILTER_TYPES[name].validate_python(value)
        except ValidationError as exc:
            problems[name] = exc.errors(include_url=False)[0]["msg"]
    return problems


def dead_letter_filter(
    *,
    tenant: str | None = None,
    platform: str | None = None,
    reason: str | None = None,
    interaction_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> DeadLetterFilter:
    """An empty string selects nothing in particular, as an omitted option does. A window that
    ends before it starts is not an error, just empty: the schema of the HTTP API cannot say
    otherwise, and both doors must select alike."""
    return DeadLetterFilter(
        tenant=tenant or None,
        platform=platform or None,
        reason=reason or None,
        interaction_id=interaction_id or None,
        since=since,
        until=until,
    )


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """A record's place in the listing's order: oldest first, then partition and offset."""

    timestamp_ms: int
    partition: int
    offset: int

    @classmethod
    def of(cls, record: DeadLetterRecord) -> Cursor:
        return cls(record.timestamp_ms, record.partition, record.offset)

    @classmethod
    def parse(cls, text: str) -> Cursor:
        if not _CURSOR.fullmatch(text):
            raise ValueError(f"{text!r} is not a cursor from a previous page")
        timestamp_ms, partition, offset = (int(part) for part in text.split("."))
        return cls(timestamp_ms, partition, offset)

    def __str__(self) -> str:
        return f"{self.timestamp_ms}.{self.partition}.{self.offset}"


@dataclass(frozen=True, slots=True)
class Page:
    records: list[DeadLetterRecord]
    matching: int
    """Records matching the selection, on every page together."""
    next_cursor: Cursor | None


def page_of(records: Sequence[DeadLetterRecord], *, limit: int, after: Cursor | None) -> Page:
    """The ``limit`` records that follow ``after`` in listing order."""
    ordered = sorted(records, key=Cursor.of)
    rest = [r for r in ordered if after is None or Cursor.of(r) > after]
    shown = rest[:limit]
    more = len(rest) > limit
    return Page(shown, len(ordered), Cursor.of(shown[-1]) if more and shown else None)
