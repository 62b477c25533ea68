"""Genesys Web Services API v2: user data on the agent's own live interaction.

``POST {base_url}/api/v2/me/{media}/{session_id}`` with ``{"operationName": "UpdateUserData",
"userData": {...}}``. UpdateUserData overwrites the keys it names, so a retry or a replay writes
the same pairs again; AttachUserData appends a duplicate pair on every call and is never used.

GWS keeps a servlet session. Basic credentials travel on every request, yet the ``JSESSIONID``
cookie (and any load balancer stickiness cookie) must come back, and with CSRF protection on
every write must carry the token the session announced on a GET. The shared transport keeps no
cookie jar, so each adapter keeps its tenant's session itself and opens it with
``GET /api/v2/me`` before the first write.

Every GWS answer carries ``statusCode`` in a JSON body, while the HTTP status per code is not
documented: the outcome table keys off ``statusCode`` and falls back to the HTTP status only
when there is no readable body (a proxy, a gateway, the CSRF filter).

The request builder, the cookie and session parsing and the outcome table are pure functions
here; ``adapter`` only does the IO around them.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
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
    "GwsSession",
    "build_request",
    "classify",
    "is_session_refusal",
    "merge_cookies",
    "parse_set_cookie",
    "routing_problem",
    "session_from",
    "status_code_of",
    "wire_value",
]

PLATFORM = "genesys-gws"
MEDIA = frozenset({"calls", "chats", "smssessions"})
SESSION_PATH = "/api/v2/me"
DEFAULT_CSRF_HEADER = "X-CSRF-TOKEN"
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
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")


@dataclass
class GwsSession:
    """One GWS HTTP session: the cookies to send back and the CSRF header, if the server
    protects writes. Cookies are updated in place from every answer on the session."""

    cookies: dict[str, str] = field(default_factory=dict)
    csrf: tuple[str, str] | None = None
    """(header name, token); None when the server announced no CSRF protection."""


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


def basic_credential(settings: GenesysGwsSettings) -> str:
    secret = f"{settings.username}:{settings.password.get_secret_value()}"
    return "Basic " + base64.b64encode(secret.encode()).decode()


def cookie_header(cookies: Mapping[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def session_headers(settings: GenesysGwsSettings, session: GwsSession | None) -> dict[str, str]:
    headers = {"Authorization": basic_credential(settings), "Accept": "application/json"}
    if session is not None and session.cookies:
        headers["Cookie"] = cookie_header(session.cookies)
    return headers


def build_request(
    settings: GenesysGwsSettings, delivery: Delivery, session: GwsSession | None
) -> HttpRequest | Outcome:
    """The UpdateUserData POST for one delivery, or the Outcome that makes the call pointless
    (unroutable, or nothing left to write once null values are dropped)."""
    problem = routing_problem(delivery)
    if problem is not None:
        return problem
    data = user_data(delivery.values)
    if not data:
        return Outcome.delivered(0)
    media, session_id = delivery.ref["media"], delivery.ref["session_id"]
    url = f"{settings.base_url.rstrip('/')}{SESSION_PATH}/{media}/{quote(session_id, safe='')}"
    headers = session_headers(settings, session)
    headers["Content-Type"] = "application/json"
    headers["Idempotency-Key"] = delivery.idempotency_key
    if session is not None and session.csrf is not None:
        name, token = session.csrf
        headers[name] = token
    body = orjson.dumps({"operationName": "UpdateUserData", "userData": data})
    return HttpRequest("POST", url, headers, body)


# --- sessions and cookies ----------------------------------------------------------------------


def parse_set_cookie(header: str, now: datetime) -> tuple[str, str | None] | None:
    """``(name, value)`` from one Set-Cookie header, value None when the server deletes the
    cookie (``Max-Age<=0`` or an ``Expires`` in the past); None when the header is unusable.
    Path and Domain are ignored: an adapter talks to one GWS origin and sends it everything."""
    pair, *attributes = header.split(";")
    name, equals, value = pair.partition("=")
    name, value = name.strip(), value.strip().strip('"')
    if not equals or not name:
        return None
    for attribute in attributes:
        key, _, argument = attribute.partition("=")
        key, argument = key.strip().lower(), argument.strip()
        if key == "max-age" and argument.lstrip("-").isdigit() and int(argument) <= 0:
            return name, None
        if key == "expires" and _expired(argument, now):
            return name, None
    return name, value


def _expired(text: str, now: datetime) -> bool:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when <= now


def merge_cookies(
    jar: Mapping[str, str], set_cookies: Iterable[str], now: datetime
) -> dict[str, str]:
    merged = dict(jar)
    for header in set_cookies:
        parsed = parse_set_cookie(header, now)
        if parsed is None:
            continue
        name, value = parsed
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def session_from(response: HttpResponse, now: datetime) -> GwsSession:
    """The session a successful GET opened. ``X-CSRF-HEADER`` names the header to send and
    ``X-CSRF-TOKEN`` holds its value; without a token, protection is off and writes go bare."""
    token = response.headers.get("x-csrf-token")
    name = (response.headers.get("x-csrf-header") or DEFAULT_CSRF_HEADER).strip()
    if not _HEADER_NAME.match(name):
        name = DEFAULT_CSRF_HEADER
    csrf = (name, token.strip()) if token and token.strip() else None
    return GwsSession(merge_cookies({}, response.set_cookies, now), csrf)


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
