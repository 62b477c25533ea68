"""The audit trail of operator actions: one ``enricher.audit`` log line per action.

Who replayed which dead letters, or paused which lane, is answered by the platform's log
pipeline, so every entry point (the command line, the admin API) writes the same line and
only ``user`` tells them apart.
"""

from __future__ import annotations

from dataclasses import asdict

import structlog

from service.delivery.dlq_reader import DeadLetterFilter
from service.delivery.replay import ReplaySummary

__all__ = ["ADMIN_API_USER", "audit_lane", "audit_replay"]

ADMIN_API_USER = "admin-api"
"""The admin API's one shared token identifies no person; the line says which door was used."""

_log = structlog.get_logger("enricher.audit")


def audit_replay(
    selection: DeadLetterFilter, summary: ReplaySummary, *, user: str, failed: str | None = None
) -> None:
    """``dlq_replayed``, or ``dlq_replay_failed`` with the error when sending stopped:
    ``replayed`` then counts what was written before it."""
    extra = {} if failed is None else {"error": failed}
    _log.info(
        "dlq_replayed" if failed is None else "dlq_replay_failed",
        **extra,
        selection={k: str(v) for k, v in asdict(selection).items() if v is not None},
        selected=summary.selected,
        replayed=summary.replayed,
        skipped_replay_limit=summary.skipped_replay_limit,
        skipped_superseded=summary.skipped_superseded,
        skipped_claimed=summary.skipped_claimed,
        skipped_original_gone=summary.skipped_original_gone,
        user=user,
    )


def audit_lane(action: str, tenant: str, platform: str, *, user: str) -> None:
    _log.info(f"lane_{action}", tenant=tenant, platform=platform, user=user)
