"""The Acme Notes API on the wire, as pure functions: the request for a delivery, and what the
answer means.

``PATCH {base_url}/v2/workspaces/{workspace}/notes/{note_id}/fields`` with a JSON object of the
mapped fields and an OAuth2 bearer token (client credentials, ``POST {base_url}/oauth/token``,
which ``service.auth`` runs).
A note is addressed by the producer's own id, ``ref.note_id`` in the events. Nothing here does
IO, so both tables are tested without a network.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

import orjson
from service.backoff import parse_retry_after
from service.platforms.base import Delivery, classify_http, excerpt
from service.platforms.outcomes import Outcome, OutcomeKind
from service.transport import HttpRequest, HttpResponse

from acme_notes_enricher.settings import AcmeNotesSettings

__all__ = ["PLATFORM", "ROUTING_KEY", "build_request", "classify", "token_url"]

PLATFORM = "acme-notes"
ROUTING_KEY = "note_id"
"""The ``ref`` key events address a note by."""


def token_url(settings: AcmeNotesSettings) -> str:
    """Where the client-credentials login goes (``service.auth.ClientCredentials`` sends it)."""
    return settings.base_url.rstrip("/") + "/oauth/token"


def build_request(settings: AcmeNotesSettings, delivery: Delivery) -> HttpRequest | Outcome:
    """The PATCH for one delivery (the authenticator adds the token), or a permanent Outcome
    when the event does not say which note."""
    note_id = delivery.ref.get(ROUTING_KEY)
    if not note_id:
        return Outcome(
            OutcomeKind.PERMANENT,
            "missing_routing",
            excerpt=f"ref.{ROUTING_KEY} is required for {PLATFORM}",
            error_class="RoutingError",
        )
    url = (
        f"{settings.base_url.rstrip('/')}/v2/workspaces/{settings.workspace}"
        f"/notes/{quote(note_id, safe='')}/fields"
    )
    return HttpRequest(
        "PATCH",
        url,
        {
            "Content-Type": "application/json",
            # Acme Notes drops a write whose key it has already applied.
            "Idempotency-Key": delivery.idempotency_key,
        },
        orjson.dumps({"fields": dict(delivery.values)}),
    )


_REFUSALS = {
    400: ("rejected", "VendorRejected"),
    401: ("auth_failed", "AuthError"),
    403: ("permission_denied", "AuthError"),
    404: ("note_not_found", "VendorRejected"),
    410: ("note_archived", "VendorRejected"),
    422: ("rejected", "VendorRejected"),
}


def classify(response: HttpResponse, now: datetime) -> Outcome:
    """The outcome table. Throttling and outages (408, 425, 429, 5xx, with ``Retry-After``)
    are the shared HTTP rules; 409 is a note another client is editing, which clears by
    itself; every other refusal is permanent and goes to the dead-letter topic."""
    status = response.status
    if 200 <= status < 300:
        return Outcome.delivered(status)
    common = classify_http(response, parse_retry_after(response.headers.get("retry-after"), now))
    if common is not None:
        return common
    detail = excerpt(response.body)
    if status == 409:
        return Outcome(OutcomeKind.RETRY, "note_locked", status=409, excerpt=detail)
    reason, error_class = _REFUSALS.get(status, (f"http_{status}", "VendorRejected"))
    return Outcome(
        OutcomeKind.PERMANENT, reason, status=status, excerpt=detail, error_class=error_class
    )
