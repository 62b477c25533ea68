"""The pure merge of an event into a ledger entry.

Every piece of state an event can set (a data field, a routing id, the channel, the contact
status, the closed flag) is a last-writer-wins register stamped with the event's
``(occurred_at, event_id)``. That order is total, so merging is commutative, associative and
idempotent: any arrival order of the same events gives the same entry, and a redelivered event
changes nothing. No clock is read here; the caller passes ``now`` for bookkeeping only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from service.events import INTERACTION_CLOSED, Event, Value

__all__ = ["FieldState", "LedgerEntry", "MergeResult", "merge_event"]


@dataclass(frozen=True, slots=True)
class FieldState:
    """One register: its value and the stamp of the event that wrote it."""

    value: Value
    at: datetime
    event_id: str

    def wins_over(self, other: FieldState | None) -> bool:
        """Newest ``occurred_at`` wins; ties go to the larger ``event_id``.

        A producer that reuses an ``event_id`` for different content would otherwise make the
        result depend on arrival order, so the value itself breaks the last tie.
        """
        if other is None:
            return True
        mine, theirs = (self.at, self.event_id), (other.at, other.event_id)
        if mine != theirs:
            return mine > theirs
        return _order_key(self.value) > _order_key(other.value)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """What the service knows about one interaction.

    ``routing`` holds the registers that tell a platform adapter where to write
    (``ref.contact_id``, ``channel``, ``status``, ...); ``fields`` holds the merged data.
    ``revision`` grows on every change; ``delivered`` maps platform to the last revision that
    platform acknowledged, which is how a retry knows whether it is still needed.
    """

    tenant: str
    interaction_id: str
    revision: int = 0
    fields: Mapping[str, FieldState] = field(default_factory=dict)
    routing: Mapping[str, FieldState] = field(default_factory=dict)
    closed: FieldState | None = None
    delivered: Mapping[str, int] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.tenant}:{self.interaction_id}"

    @property
    def is_closed(self) -> bool:
        return self.closed is not None

    @property
    def closed_at(self) -> datetime | None:
        return self.closed.at if self.closed is not None else None

    def ref(self) -> dict[str, str]:
        """The platform ids, as the adapters want them."""
        return {
            name.removeprefix("ref."): str(state.value)
            for name, state in self.routing.items()
            if name.startswith("ref.") and state.value is not None
        }

    def routing_value(self, name: str) -> str | None:
        state = self.routing.get(name)
        return None if state is None or state.value is None else str(state.value)

    def field_values(self) -> dict[str, Value]:
        return {name: state.value for name, state in self.fields.items()}

    def pending_for(self, platform: str) -> bool:
        """True while ``platform`` has not acknowledged the latest revision."""
        return self.delivered.get(platform, 0) < self.revision


@dataclass(frozen=True, slots=True)
class MergeResult:
    entry: LedgerEntry
    changed: bool


def merge_event(entry: LedgerEntry | None, event: Event, now: datetime) -> MergeResult:
    """Merge ``event`` into ``entry`` (None for an interaction not seen yet)."""
    if entry is None:
        return _first(event, now)
    fields = _merge_registers(entry.fields, event.fields, event)
    routing = _merge_registers(entry.routing, _routing_of(event), event)
    closed = entry.closed
    if event.type == INTERACTION_CLOSED:
        candidate = FieldState(True, event.occurred_at, event.event_id)
        if candidate.wins_over(closed):
            closed = candidate
    changed = (
        fields is not entry.fields or routing is not entry.routing or closed is not entry.closed
    )
    if not changed:
        return MergeResult(entry, changed=False)
    # Built field by field: dataclasses.replace re-reads the class's fields on every call,
    # and this runs for every event.
    merged = LedgerEntry(
        entry.tenant,
        entry.interaction_id,
        entry.revision + 1,
        fields,
        routing,
        closed,
        entry.delivered,
        entry.created_at,
        now,
    )
    return MergeResult(merged, changed=True)


def _first(event: Event, now: datetime) -> MergeResult:
    """The merge into nothing, which every new interaction pays: each register the event sets
    wins, so the entry is built once, without comparing stamps (a property test holds it equal
    to the general merge into an empty entry)."""
    at, event_id = event.occurred_at, event.event_id
    fields = {name: FieldState(value, at, event_id) for name, value in event.fields.items()}
    routing = {name: FieldState(value, at, event_id) for name, value in _routing_of(event).items()}
    closed = FieldState(True, at, event_id) if event.type == INTERACTION_CLOSED else None
    changed = bool(fields or routing or closed)
    entry = LedgerEntry(
        event.tenant,
        event.interaction_id,
        1 if changed else 0,
        fields,
        routing,
        closed,
        {},
        now,
        now,
    )
    return MergeResult(entry, changed=changed)


def mark_delivered(entry: LedgerEntry, platform: str, revision: int) -> LedgerEntry:
    """Record an acknowledged revision; an older acknowledgement never moves it back."""
    if entry.delivered.get(platform, 0) >= revision:
        return entry
    return LedgerEntry(
        entry.tenant,
        entry.interaction_id,
        entry.revision,
        entry.fields,
        entry.routing,
        entry.closed,
        {**entry.delivered, platform: revision},
        entry.created_at,
        entry.updated_at,
    )


def _order_key(value: Value) -> bytes:
    return orjson.dumps(value)


def _routing_of(event: Event) -> dict[str, Value]:
    routing: dict[str, Value] = {f"ref.{name}": value for name, value in event.ref.items()}
    if event.channel is not None:
        routing["channel"] = event.channel
    if event.status is not None:
        routing["status"] = event.status
    return routing


def _merge_registers(
    current: Mapping[str, FieldState], incoming: Mapping[str, Value], event: Event
) -> Mapping[str, FieldState]:
    """Return ``current`` itself when nothing wins, so callers can detect change by identity."""
    updated: dict[str, FieldState] | None = None
    for name, value in incoming.items():
        candidate = FieldState(value, event.occurred_at, event.event_id)
        if candidate.wins_over(current.get(name)):
            if updated is None:
                updated = dict(current)
            updated[name] = candidate
    return current if updated is None else updated
