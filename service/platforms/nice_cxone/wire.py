"""NICE CXone Business Data API.

``PUT /business-data-manager/v1/business-data/contact/{id}[/segment/{seg}]`` with a JSON array
of single-key objects and an OAuth2 bearer token from the password grant. Hosts are never
hard-coded: the token endpoint comes from ``{issuer}/.well-known/openid-configuration`` and the
API host from ``{issuer}/.well-known/cxone-configuration?tenantId=...``, with the tenant id read
from the access token's claims or, when the access token is opaque, from the ``id_token`` the
same answer carries; ``login.CxoneLogin`` is that login and applies the token. The
request builder and the outcome table are pure functions here; ``adapter`` does the IO around
them.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

import orjson

from service.backoff import parse_retry_after
from service.platforms.base import Delivery, classify_http, excerpt
from service.platforms.nice_cxone.settings import NiceCxoneSettings
from service.platforms.outcomes import Outcome, OutcomeKind
from service.transport import HttpRequest, HttpResponse

__all__ = ["PLATFORM", "build_request", "classify"]

PLATFORM = "nice-cxone"
_PATH = "/business-data-manager/v1/business-data/contact/"


def build_request(
    settings: NiceCxoneSettings, api_base: str, delivery: Delivery
) -> HttpRequest | Outcome:
    """The PUT for one delivery, or a permanent Outcome when routing cannot address it. The
    bearer token is the login's to apply."""
    contact_id = delivery.ref.get("contact_id")
    if not contact_id:
        return Outcome(
            OutcomeKind.PERMANENT,
            "missing_routing",
            excerpt="ref.contact_id is required for nice-cxone",
            error_class="RoutingError",
        )
    path = _PATH + quote(contact_id, safe="")
    if settings.level == "segment":
        segment_id = delivery.ref.get("segment_id")
        if not segment_id:
            return Outcome(
                OutcomeKind.PERMANENT,
                "missing_routing",
                excerpt="ref.segment_id is required when level is segment",
                error_class="RoutingError",
            )
        path += "/segment/" + quote(segment_id, safe="")
    body = orjson.dumps([{name: value} for name, value in delivery.values.items()])
    return HttpRequest(
        "PUT",
        api_base.rstrip("/") + path,
        {
            "Content-Type": "application/json",
            "Accept": "application/json",
            # Lets the vendor, or a proxy in front of it, drop a redelivered duplicate.
            "Idempotency-Key": delivery.idempotency_key,
        },
        body,
    )


def classify(
    response: HttpResponse, delivery: Delivery, settings: NiceCxoneSettings, now: datetime
) -> Outcome:
    """NICE's outcome table. A 401 comes here only once the token has been renewed and the
    request sent again, so it is final."""
    status = response.status
    if 200 <= status < 300:
        return Outcome.delivered(status)
    common = classify_http(response, parse_retry_after(response.headers.get("retry-after"), now))
    if common is not None:
        return common
    detail = excerpt(response.body)
    if status == 404:
        closed_at = delivery.closed_at
        if closed_at is not None and now - closed_at < settings.not_found_grace:
            # Business data sits in the recording store, which indexes a contact some time
            # after it closes: an early 404 is lag, not absence.
            return Outcome(OutcomeKind.RETRY, "not_found_indexing", status=404, excerpt=detail)
        return Outcome(
            OutcomeKind.PERMANENT,
            "not_found",
            status=404,
            excerpt=detail,
            error_class="VendorRejected",
        )
    reasons = {400: "rejected", 401: "auth_failed", 403: "permission_denied"}
    return Outcome(
        OutcomeKind.PERMANENT,
        reasons.get(status, f"http_{status}"),
        status=status,
        excerpt=detail,
        error_class="AuthError" if status in (401, 403) else "VendorRejected",
    )
