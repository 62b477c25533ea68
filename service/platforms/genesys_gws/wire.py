"""Genesys Web Services API v2: user data on the agent's own live interaction.

``POST {base_url}/api/v2/me/{media}/{session_id}`` with ``{"operationName": "UpdateUserData",
"userData": {...}}``. UpdateUserData overwrites the keys it names, so a retry or a replay writes
the same pairs again; AttachUserData appends a duplicate pair on every call and is never used.

GWS keeps a servlet session. Basic credentials travel on every request, yet the ``JSESSIONID``
cookie (and any load balancer stickiness cookie) must come back, and with CSRF protection on
every write must carry the token the session announced on a GET. That is the session cookie
flow (:class:`service.auth.SessionCookie`), opened with ``GET /api/v2/me`` before the first
write; this module says what GWS's answers mean to it (:func:`login_failure`,
:func:`is_session_refusal`).

Every GWS answer carries ``statusCode`` in a JSON body, while the HTTP status per code is not
documented: the outcome table keys off ``statusCode`` and falls back to the HTTP status only
when there is no readable body (a proxy, a gateway, the CSRF filter).

The request builder and the outcome table are pure functions here; ``adapter`` only does the
IO around them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from urllib.parse import quote

import orjson

from service.backoff import parse_retry_after
from service.events import Scalar
from service.platforms.base import Delivery, classify_http, excerpt
from service.platforms.genesys_gws.settings import GenesysGwsSettings
from service.platforms.outcomes import Outcome, OutcomeKind
from service.transport import HttpRequest, HttpResponse

__all__ = [
    "MEDIA",
    "SESSION_PATH",
    "build_request",
    "classify",
    "is_session_refusal",
    "login_failure",
    "routing_problem",
    "status_code_of",
    "wire_value",
]

PLATFORM = "genesys-gws"
MEDIA = frozenset({"calls", "chats", "smssessions"})
SESSION_PATH = "/api/v2/me"
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

TRANSIENT_CODES: Mapping[int, str] = {4: "gws_internal_error", 9: "gws_processing_incomplete"}
"""GWS or a Genesys server behind it failed, and "any non-zero code means the request changed
nothing": the same UpdateUserData may succeed later."""

PERMANENT_CODES: Mapping[int, str] = {
    1: "missing_parameter",
    2: "write_window_closed",
    3: "forbidden",
    5: "permission_denied",
    6: "not_found",
    7: "partial_success",
    8: "password_change_required",
    10: "value_out_of_range",
    11: "read_only_property",
    12: "unable_to_retrieve",
    13: "unable_to_create",
    14: "unable_to_delete",
    15: "unable_to_update",
    16: "unable_to_assign",
    17: "unable_to_unassign",
    18: "already_exists",
    19: "in_use",
    20: "auth_failed",
}
"""Code 2 is a released call or completed chat: the live write window has closed, and retrying
would loop until the retry budget runs out without any chance of success."""

_AUTH_CODES = frozenset({3, 5, 8, 20})


# --- wire format -------------------------------------------------------------------------------


def wire_value(value: Scalar) -> str | int | None:
    """GWS user data holds strings and integers (T-Server key-value lists, whose integers are
    32 bits). Booleans become ``"true"``/``"false"``, other numbers their text, so nothing is
    refused or silently truncated; None means "leave the key alone"."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value if INT32_MIN <= value <= INT32_MAX else str(value)
    if isinstance(value, float):
        if value.is_integer():
            whole = int(value)
            return whole if INT32_MIN <= whole <= INT32_MAX else str(whole)
        return repr(value)
    return value


def user_data(values: Mapping[str, Scalar]) -> dict[str, str | int]:
    converted = {name: wire_value(value) for name, value in values.items()}
    return {name: value for name, value in converted.items() if value is not None}


def routing_problem(delivery: Delivery) -> Outcome | None:
    """Why the delivery cannot be addressed, decided before any call is made."""
    media, session_id = delivery.ref.get("media"), delivery.ref.get("session_id")
    if not media or not session_id:
        return Outcome(
            OutcomeKind.PERMANENT,
            "missing_routing",
            excerpt="ref.media and ref.session_id are required for genesys-gws",
            error_class="RoutingError",
        )
    if media not in MEDIA:
        return Outcome(
            OutcomeKind.PERMANENT,
            "channel_not_supported",
            excerpt=f"ref.media {media!r} is not one of {', '.join(sorted(MEDIA))}",
            error_class="RoutingError",
        )
    return None


def build_request(settings: GenesysGwsSettings, delivery: Delivery) -> HttpRequest | Outcome:
    """The UpdateUserData POST for one delivery, or the Outcome that makes the call pointless
    (unroutable, or nothing left to write once null values are dropped). Basic credentials,
    the session's cookies and its CSRF token are the session flow's to apply."""
    problem = routing_problem(delivery)
    if problem is not None:
        return problem
    data = user_data(delivery.values)
    if not data:
        return Outcome.delivered(0)
    media, session_id = delivery.ref["media"], delivery.ref["session_id"]
    url = f"{settings.base_url.rstrip('/')}{SESSION_PATH}/{media}/{quote(session_id, safe='')}"
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "Idempotency-Key": delivery.idempotency_key,
    }
    body = orjson.dumps({"operationName": "UpdateUserData", "userData": data})
    return HttpRequest("POST", url, headers, body)


# --- outcome table -----------------------------------------------------------------------------


def status_code_of(body: bytes) -> tuple[int | None, str | None]:
    """``statusCode`` and ``statusMessage`` from a GWS body; (None, None) when unreadable."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(doc, dict):
        return None, None
    code = doc.get("statusCode")
    if not isinstance(code, int) or isinstance(code, bool):
        return None, None
    message = doc.get("statusMessage")
    return code, message if isinstance(message, str) else None


def is_session_refusal(response: HttpResponse) -> bool:
    """The session, not the request, was refused: ``statusCode 20``, or a 401/403 without a
    GWS body (the CSRF filter's "Missing or invalid Csrf token" answers before GWS does).
    A fresh session may be accepted where the old one was not."""
    code, _ = status_code_of(response.body)
    if code is not None:
        return code == 20
    return response.status in (401, 403)


def login_failure(response: HttpResponse, now: datetime) -> Outcome | None:
    """What the answer to the session's ``GET /api/v2/me`` means: None when the session is
    open, else the outcome every write waiting for it ends in (the same table as a write's)."""
    outcome = classify(response, now)
    return None if outcome.kind is OutcomeKind.DELIVERED else outcome


def classify(response: HttpResponse, now: datetime) -> Outcome:
    """The GWS outcome table (see the README). Session refusals come here only once the
    adapter has already re-opened the session and retried, so they are final."""
    code, _ = status_code_of(response.body)
    if code is None:
        return _classify_unreadable(response, now)
    status = response.status
    if code == 0:
        if 200 <= status < 300:
            return Outcome.delivered(status)
        # A success code under an error status contradicts itself; trust the HTTP layer.
        return _classify_unreadable(response, now)
    detail = excerpt(response.body)
    if code in TRANSIENT_CODES:
        return Outcome(
            OutcomeKind.RETRY,
            TRANSIENT_CODES[code],
            status=status,
            retry_after=parse_retry_after(response.headers.get("retry-after"), now),
            excerpt=detail,
            error_class="VendorUnavailable",
        )
    return Outcome(
        OutcomeKind.PERMANENT,
        PERMANENT_CODES.get(code, f"gws_status_{code}"),
        status=status,
        excerpt=detail,
        error_class="AuthError" if code in _AUTH_CODES else "VendorRejected",
    )


def _classify_unreadable(response: HttpResponse, now: datetime) -> Outcome:
    status = response.status
    detail = excerpt(response.body)
    if 200 <= status < 300:
        # Accepted by something, but not GWS's acknowledgement: perhaps a proxy's page, perhaps
        # a write that happened. UpdateUserData overwrites, so sending again is safe, and the
        # retry budget bounds the loop before the change is dead-lettered.
        return Outcome(
            OutcomeKind.RETRY,
            "unreadable_answer",
            status=status,
            excerpt=detail,
            error_class="VendorUnreadable",
        )
    common = classify_http(response, parse_retry_after(response.headers.get("retry-after"), now))
    if common is not None:
        return common
    if status in (401, 403):
        return Outcome(
            OutcomeKind.PERMANENT,
            "auth_failed",
            status=status,
            excerpt=detail,
            error_class="AuthError",
        )
    if status == 404:
        # GWS answers an unknown interaction with statusCode 6; a bare 404 is a wrong base_url.
        return Outcome(
            OutcomeKind.PERMANENT,
            "endpoint_not_found",
            status=404,
            excerpt=detail,
            error_class="VendorRejected",
        )
    return Outcome(
        OutcomeKind.PERMANENT,
        f"http_{status}",
        status=status,
        excerpt=detail,
        error_class="VendorRejected",
    )
