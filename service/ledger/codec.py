"""JSON encoding of ledger entries, shared by every backend so they store identical documents.

Times are handed to orjson as datetimes: it writes the same ISO 8601 text as
``datetime.isoformat`` (tested), in C, and encoding runs twice per delivery.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from service.events import Value
from service.merge import FieldState, LedgerEntry

__all__ = ["decode_entry", "encode_entry"]


def encode_entry(entry: LedgerEntry) -> bytes:
    return orjson.dumps(
        {
            "tenant": entry.tenant,
            "interaction_id": entry.interaction_id,
            "revision": entry.revision,
            "fields": {k: _encode_state(v) for k, v in entry.fields.items()},
            "routing": {k: _encode_state(v) for k, v in entry.routing.items()},
            "closed": _encode_state(entry.closed) if entry.closed else None,
            "delivered": dict(entry.delivered),
            "created_at": entry.created_at,
            "updated_at": entry.updated_at,
        }
    )


def decode_entry(data: bytes | str) -> LedgerEntry:
    doc = orjson.loads(data)
    return LedgerEntry(
        tenant=doc["tenant"],
        interaction_id=doc["interaction_id"],
        revision=doc["revision"],
        fields={k: _decode_state(v) for k, v in doc["fields"].items()},
        routing={k: _decode_state(v) for k, v in doc["routing"].items()},
        closed=_decode_state(doc["closed"]) if doc["closed"] else None,
        delivered=doc["delivered"],
        created_at=_parse(doc["created_at"]),
        updated_at=_parse(doc["updated_at"]),
    )


def _encode_state(state: FieldState) -> list[Any]:
    return [state.value, state.at, state.event_id]


def _decode_state(raw: list[Any]) -> FieldState:
    value, at, event_id = raw
    decoded: Value = tuple(value) if isinstance(value, list) else value
    return FieldState(decoded, datetime.fromisoformat(at), event_id)


def _parse(raw: str | None) -> datetime | None:
    return datetime.fromisoformat(raw) if raw else None
