"""NICE CXone Business Data API.

``PUT /business-data-manager/v1/business-data/contact/{id}[/segment/{seg}]`` with a JSON array
of single-key objects and an OAuth2 bearer token from the password grant. Hosts are never
hard-coded: the token endpoint comes from ``{issuer}/.well-known/openid-configuration`` and the
API host from ``{issuer}/.well-known/cxone-configuration?tenantId=...``, with the tenant id read
from the access token's claims or, when the access token is opaque, from the ``id_token`` the
same answer carries. The request builder and the outcome tables are pure functions here;
``adapter`` does the IO around them.
"""

from __future__ import annotations

import base64
from datetime import datetime
from urllib.parse import quote

import orjson

from service.backoff import parse_retry_after
from service.platforms.base import Delivery, classify_http, excerpt
from service.platforms.nice_cxone.settings import NiceCxoneSettings
from service.platforms.outcomes import Outcome, OutcomeKind
from service.transport import HttpRequest, HttpResponse

__all__ = ["PLATFORM", "build_request", "classify", "tenant_id_of", "token_failure"]

PLATFORM = "nice-cxone"
_PATH = "/business-data-manager/v1/business-data/contact/"


def build_request(
    settings: NiceCxoneSettings, api_base: str, delivery: Delivery, token: str
) -> HttpRequest | Outcome:
    """The PUT for one delivery, or a permanent Outcome when routing cannot address it."""
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
            "Authorization": f"Bearer {token}",
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
    """NICE's outcome table. 401 is handled by the adapter (one token refresh) before this."""
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


def token_failure(response: HttpResponse) -> Outcome:
    """Token endpoint refusals are configuration errors and must be loud, not retried forever;
    its outages are transient like any other."""
    if response.status >= 500 or response.status == 429:
        return Outcome(
            OutcomeKind.RETRY,
            "token_endpoint_unavailable",
            status=response.status,
            excerpt=excerpt(response.body),
            error_class="AuthError",
        )
    try:
        error = orjson.loads(response.body).get("error", "")
    except (orjson.JSONDecodeError, AttributeError):
        error = ""
    reason = {"invalid_client": "invalid_client", "invalid_grant": "invalid_grant"}.get(
        error, "auth_failed"
    )
    return Outcome(
        OutcomeKind.PERMANENT,
        reason,
        status=response.status,
        excerpt=excerpt(response.body),
        error_class="AuthError",
    )


def tenant_id_of(access_token: str, id_token: str | None) -> str | None:
    """The tenant id discovery needs. The access token is tried first; when it is opaque (a
    reference, not a JWT) the ``id_token`` of the same answer is where CXone puts the claim."""
    return _claim(access_token, "tenantId") or (_claim(id_token, "tenantId") if id_token else None)


def _claim(token: str, name: str) -> str | None:
    """Read a claim without verifying the signature: we are the token's holder, not its
    audience, and only need the routing hint NICE puts there."""
    try:
        payload = token.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    value = claims.get(name) if isinstance(claims, dict) else None
    return str(value) if value else None
