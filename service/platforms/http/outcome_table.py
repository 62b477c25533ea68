"""The generic platform's outcome table: the tenant's rows first, then the defaults.

Pure: a status, the answer's headers and body, the interaction's close time and the clock in,
one :class:`Outcome` out. The adapter renews credentials once on a 401 before it gets here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from service.backoff import parse_retry_after
from service.platforms.base import classify_http, excerpt
from service.platforms.http.settings import OutcomeRule
from service.platforms.outcomes import Outcome, OutcomeKind
from service.transport import HttpResponse

__all__ = ["DEFAULT_REASONS", "classify"]

DEFAULT_REASONS = {400: "rejected", 401: "auth_failed", 403: "permission_denied"}
"""Reasons of the permanent defaults, the same words the built-in platforms use."""


def classify(
    response: HttpResponse,
    rules: Sequence[OutcomeRule],
    closed_at: datetime | None,
    now: datetime,
) -> Outcome:
    status = response.status
    retry_after = parse_retry_after(response.headers.get("retry-after"), now)
    for rule in rules:
        if status not in rule.status or not _applies(rule, closed_at, now):
            continue
        return _outcome(rule, response, retry_after)
    if 200 <= status < 300:
        return Outcome.delivered(status)
    common = classify_http(response, retry_after)
    if common is not None:
        return common
    return Outcome(
        OutcomeKind.PERMANENT,
        DEFAULT_REASONS.get(status, f"http_{status}"),
        status=status,
        excerpt=excerpt(response.body),
        error_class="AuthError" if status in (401, 403) else "VendorRejected",
    )


_RETRY_CLASSES = {500: "VendorUnavailable", 429: "VendorThrottled"}


def _applies(rule: OutcomeRule, closed_at: datetime | None, now: datetime) -> bool:
    if rule.until_after_close is None:
        return True
    return closed_at is not None and now - closed_at < rule.until_after_close


def _outcome(rule: OutcomeRule, response: HttpResponse, retry_after: float | None) -> Outcome:
    status = response.status
    if rule.outcome == "delivered":
        return Outcome(OutcomeKind.DELIVERED, rule.reason or "delivered", status)
    reason = rule.reason or f"http_{status}"
    if rule.outcome == "retry":
        return Outcome(
            OutcomeKind.RETRY,
            reason,
            status=status,
            retry_after=retry_after,
            excerpt=excerpt(response.body),
            error_class=_RETRY_CLASSES.get(status // 100 * 100 if status >= 500 else status),
        )
    return Outcome(
        OutcomeKind.PERMANENT,
        reason,
        status=status,
        excerpt=excerpt(response.body),
        error_class="VendorRejected",
    )
