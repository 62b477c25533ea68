"""One interaction as an operator needs to see it: what the ledger holds, how far each platform
got, and the last answers that platform gave.

Values of privacy-flagged fields (``privacy: true``) are masked here exactly as in the DLQ:
they are for routing only and must not be readable anywhere the enricher shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from service.admin.models import (
    AttemptView,
    FieldView,
    InteractionState,
    InteractionSummary,
    InteractionView,
    PlatformDeliveryView,
)
from service.admin.recorder import OutcomeRecorder
from service.delivery.attempt import waits_for_window
from service.delivery.privacy import MASK
from service.events import Value
from service.merge import LedgerEntry
from service.platforms.base import WriteWindow
from service.tenants import Tenant

__all__ = ["delivery_state", "interaction_summary", "interaction_view"]


def interaction_view(
    entry: LedgerEntry,
    tenant: Tenant,
    recorder: OutcomeRecorder,
    redact: Callable[[str], str],
) -> InteractionView:
    private = tenant.private_sources()
    platforms = [tenant.platform, *sorted(p for p in entry.delivered if p != tenant.platform)]
    return InteractionView(
        tenant=entry.tenant,
        interaction_id=entry.interaction_id,
        revision=entry.revision,
        closed=entry.is_closed,
        closed_at=entry.closed_at,
        created_at=entry.created_at,
        updated_at=entry.updated_at,
        expires_at=entry.updated_at + tenant.retention if entry.updated_at else None,
        routing={name: _shown(s.value, redact) for name, s in sorted(entry.routing.items())},
        fields={
            name: FieldView(
                value=MASK if name in private else _shown(state.value, redact),
                at=state.at,
                event_id=state.event_id,
                masked=name in private,
            )
            for name, state in sorted(entry.fields.items())
        },
        platforms=[
            PlatformDeliveryView(
                platform=platform,
                current_revision=entry.revision,
                delivered_revision=entry.delivered.get(platform, 0),
                up_to_date=not entry.pending_for(platform),
                recent_attempts=[
                    AttemptView(**asdict(attempt))
                    for attempt in recorder.recent(entry.tenant, entry.interaction_id, platform)
                ],
            )
            for platform in platforms
        ],
    )


def _shown(value: Value, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, tuple):
        return [redact(v) if isinstance(v, str) else v for v in value]
    return value


def delivery_state(entry: LedgerEntry, platform: str, window: WriteWindow) -> InteractionState:
    """The same rule the lanes apply before a call: a change that may not be written yet is
    held, not pending, so an operator is not sent looking for a failure that is not there."""
    if not entry.pending_for(platform):
        return "delivered"
    return "held" if waits_for_window(window, entry) else "pending"


def interaction_summary(
    entry: LedgerEntry, tenant: Tenant, window: WriteWindow
) -> InteractionSummary:
    return InteractionSummary(
        tenant=entry.tenant,
        interaction_id=entry.interaction_id,
        platform=tenant.platform,
        state=delivery_state(entry, tenant.platform, window),
        revision=entry.revision,
        delivered_revision=entry.delivered.get(tenant.platform, 0),
        closed=entry.is_closed,
        updated_at=entry.updated_at,
        expires_at=entry.updated_at + tenant.retention if entry.updated_at else None,
    )
