"""Builders for events in the shape the merge core sees them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from service.events import ANALYTICS_RESULT, INTERACTION_CLOSED, Event, Value

T0 = datetime(2026, 11, 20, 10, 15, tzinfo=UTC)


def closed(
    event_id: str = "e-closed",
    at: datetime = T0,
    fields: Mapping[str, Value] | None = None,
    ref: dict[str, str] | None = None,
    interaction_id: str = "call-1",
    tenant: str = "acme",
) -> Event:
    return Event(
        type=INTERACTION_CLOSED,
        event_id=event_id,
        occurred_at=at,
        tenant=tenant,
        interaction_id=interaction_id,
        fields=fields or {},
        ref=ref if ref is not None else {"contact_id": "8675309"},
        channel="voice",
        status="Handled",
    )


def analytics(
    event_id: str = "e-analytics",
    at: datetime = T0 + timedelta(minutes=2),
    fields: Mapping[str, Value] | None = None,
    interaction_id: str = "call-1",
    tenant: str = "acme",
) -> Event:
    return Event(
        type=ANALYTICS_RESULT,
        event_id=event_id,
        occurred_at=at,
        tenant=tenant,
        interaction_id=interaction_id,
        fields=fields or {},
        ref={},
        source="speech-analytics",
    )


def closed_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "interaction.closed",
        "version": 1,
        "event_id": "5f0c2a4e-8d1b-4c55-9b0e-2f1f3c7a9d01",
        "occurred_at": "2026-11-20T10:15:00Z",
        "tenant": "acme",
        "interaction_id": "call-000123",
        "channel": "voice",
        "ref": {"contact_id": "8675309", "segment_id": "b2e28d4e"},
        "status": "Handled",
        "data": {"crm_account": "A-1001", "case_number": 4711, "vip": True},
    }
    body.update(overrides)
    return body


def analytics_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "analytics.result",
        "version": 1,
        "event_id": "0b7e1c6a-2f43-4f0e-a1f5-6c1d1c0f2b77",
        "occurred_at": "2026-11-20T10:17:30Z",
        "tenant": "acme",
        "interaction_id": "call-000123",
        "source": "speech-analytics",
        "data": {
            "sentiment": {"label": "negative", "score": -0.62},
            "topics": ["billing", "cancel"],
        },
    }
    body.update(overrides)
    return body


def encode(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body)
