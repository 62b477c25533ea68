"""Sinch Contact Pro, CMI ``/contactData``.

``POST {base_url}/RI/cmi/contactData`` with ``{"id": <contact id>, "attachedData": {...}}``
adds or updates a contact's attached data. Sinch takes it only for phone and chat contacts that
are already disconnected (WrapUp, Handled, Abandoned, Deleted), and only for keys that are XML
element names on the channel's ExtraDataForHistory allow-list. Auth is HTTP Basic with a
dedicated API user plus, for cloud tenants, an API key in a header.

Everything that can be known before a call is checked before it: an email contact, a missing
contact id, a bad key or a contact still connected never cost a request. The request builder
and the outcome table are pure functions here; ``adapter`` only does the IO around them.

Sinch documents no error body for CMI, only the rules a write must follow. ``classify`` looks
for one of the simulator's codes anywhere in a JSON body and otherwise recognises the refusal
by the rule's wording, wherever the body puts it (plain text, an HTML or XML page, a JSON
``error``, ``message`` or ``detail``, nested or in a list); a 400 it cannot place is a
permanent ``rejected``, never a retry loop.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime

import orjson

from service.auth.static import ApiKeyHeader, BasicAuth, StaticCredential
from service.backoff import parse_retry_after
from service.events import Scalar
from service.platforms.base import Delivery, classify_http, excerpt
from service.platforms.outcomes import Outcome, OutcomeKind
from service.platforms.sinch_contact_pro.settings import XML_NAME, SinchContactProSettings
from service.transport import HttpRequest, HttpResponse

__all__ = [
    "CONTACT_DATA_PATH",
    "PLATFORM",
    "SUPPORTED_CHANNELS",
    "build_request",
    "channel_values",
    "classify",
    "credential_of",
    "is_disconnected",
    "key_problem",
    "routing_problem",
]

PLATFORM = "sinch-contact-pro"
CONTACT_DATA_PATH = "/RI/cmi/contactData"
SUPPORTED_CHANNELS = ("voice", "chat")
"""CMI takes attached data for phone and chat contacts only; email is refused."""

_ERROR_CODES: dict[str, tuple[OutcomeKind, str]] = {
    "contact_not_disconnected": (OutcomeKind.RETRY, "contact_state_refused"),
    "key_not_allowed": (OutcomeKind.PERMANENT, "key_not_allowed"),
    "invalid_key_name": (OutcomeKind.PERMANENT, "invalid_key_name"),
    "channel_not_supported": (OutcomeKind.PERMANENT, "channel_not_supported"),
    "invalid_body": (OutcomeKind.PERMANENT, "rejected"),
    "invalid_value": (OutcomeKind.PERMANENT, "rejected"),
}
"""The simulator's error codes (its module docstring) and what each means for a delivery.
``invalid_body`` and ``invalid_value`` are listed so that key names quoted in their messages
are never read as the wording of another rule."""

_WORDINGS: tuple[tuple[re.Pattern[str], OutcomeKind, str], ...] = (
    (
        re.compile(r"ExtraDataForHistory|Extra Data Included in Statistics", re.IGNORECASE),
        OutcomeKind.PERMANENT,
        "key_not_allowed",
    ),
    (
        re.compile(r"XML (element )?name", re.IGNORECASE),
        OutcomeKind.PERMANENT,
        "invalid_key_name",
    ),
    (
        re.compile(
            r"disconnected|\bconnected\b|\bwrap-?up\b|\bhandled\b|\babandoned\b", re.IGNORECASE
        ),
        OutcomeKind.RETRY,
        "contact_state_refused",
    ),
    (
        re.compile(r"\be-?mail\b|only phone and chat|phone and chat only", re.IGNORECASE),
        OutcomeKind.PERMANENT,
        "channel_not_supported",
    ),
)
"""The documented rules' wording, first match wins. The key rules come first because a key
refusal quotes key names, which may read like anything. The state rule comes before the
channel rule because the costs differ: a state refusal taken for a permanent one loses the
data, while the reverse only spends the tenant's bounded retries. Generic words (``status``,
``state``) are left out because stock error pages ("HTTP Status 400") hold them."""

_WORDED_STATUSES = frozenset({400, 409, 422})
"""Statuses a refusal of the request's content comes with. Others (404, 405, 415, ...) are
about the exchange itself, and their stock pages must not be read as a Sinch rule."""

_READ_LIMIT = 16_000
"""How much of a body is read for codes and wording; refusals are short."""

_STATUS_REASONS = {401: "auth_failed", 403: "permission_denied", 404: "not_found"}


def _permanent(reason: str, detail: str, error_class: str) -> Outcome:
    return Outcome(OutcomeKind.PERMANENT, reason, excerpt=detail, error_class=error_class)


def routing_problem(delivery: Delivery) -> Outcome | None:
    """Deliveries Sinch can never take, whatever is retried."""
    channel = delivery.channel
    if not channel:
        return _permanent(
            "missing_routing", "the channel is required for sinch-contact-pro", "RoutingError"
        )
    if channel not in SUPPORTED_CHANNELS:
        return _permanent(
            "channel_not_supported",
            f"Sinch Contact Pro stores attached data for voice and chat only, not {channel}",
            "RoutingError",
        )
    if not delivery.ref.get("contact_id"):
        return _permanent(
            "missing_routing", "ref.contact_id is required for sinch-contact-pro", "RoutingError"
        )
    return None


def key_problem(
    settings: SinchContactProSettings, keys: Iterable[str], channel: str
) -> Outcome | None:
    """Keys Sinch would refuse on this channel: a configuration error, so permanent.

    A malformed name wins over an allow-list miss because it can never be allowed; the
    excerpt names every offending key so one dead letter is enough to fix the config.
    """
    problems = [(key, settings.key_problem(key, channel)) for key in keys]
    found = [(key, text) for key, text in problems if text is not None]
    if not found:
        return None
    malformed = any(not XML_NAME.match(key) for key, _ in found)
    return _permanent(
        "invalid_key_name" if malformed else "key_not_allowed",
        "; ".join(text for _, text in found),
        "ConfigError",
    )


def is_disconnected(settings: SinchContactProSettings, status: str | None) -> bool:
    """``None`` means the close event did not say: Sinch is then left to judge. Producers
    spell statuses inconsistently (``Handled``, ``HANDLED``), so case is ignored."""
    if status is None:
        return True
    return status.casefold() in {s.casefold() for s in settings.disconnected_statuses}


def credential_of(settings: SinchContactProSettings) -> StaticCredential:
    """HTTP Basic of the API user and, for cloud tenants, the API key in its header."""
    basic = BasicAuth(settings.username, settings.password.get_secret_value())
    if settings.api_key is None:
        return basic
    return basic & ApiKeyHeader(settings.api_key_header, settings.api_key.get_secret_value())


def _headers(delivery: Delivery) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        # JSON first so errors come back readable; the RI guide asks POSTs for text/html.
        "Accept": "application/json, text/html;q=0.5",
        "Idempotency-Key": delivery.idempotency_key,
    }


def channel_values(
    settings: SinchContactProSettings, channel: str, values: Mapping[str, Scalar]
) -> dict[str, Scalar]:
    """The values written on ``channel``: all of them, unless ``fields_by_channel`` names
    the fields that channel gets."""
    return {key: value for key, value in values.items() if settings.writes(key, channel)}


def build_request(settings: SinchContactProSettings, delivery: Delivery) -> HttpRequest | Outcome:
    """The POST for one delivery, or the Outcome that makes a call pointless.

    Permanent refusals are checked before the status: a delivery that can never succeed must
    not spend its bounded retries waiting for a disconnect first.
    """
    refused = routing_problem(delivery)
    if refused is not None:
        return refused
    channel = delivery.channel or ""
    values = channel_values(settings, channel, delivery.values)
    if not values:
        return Outcome.delivered(0)  # nothing for this channel, as when nothing is mapped
    refused = key_problem(settings, values, channel)
    if refused is not None:
        return refused
    if not is_disconnected(settings, delivery.status):
        allowed = ", ".join(settings.disconnected_statuses)
        return Outcome(
            OutcomeKind.RETRY,
            "contact_not_disconnected",
            excerpt=f"contact status {delivery.status!r} is not one of {allowed}",
            error_class="ContactState",
        )
    body = orjson.dumps({"id": delivery.ref["contact_id"], "attachedData": values})
    url = settings.base_url.rstrip("/") + CONTACT_DATA_PATH
    return HttpRequest("POST", url, _headers(delivery), body)


def _strings(doc: object) -> list[str]:
    """Every string a JSON document holds, in document order, whatever its nesting; walked
    with a stack so that a deeply nested body cannot exhaust the interpreter's recursion."""
    found: list[str] = []
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return found


def _texts(body: bytes) -> list[str]:
    """The texts a body carries: a JSON body's strings, or else the body itself."""
    raw = body[:_READ_LIMIT]
    try:
        return _strings(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return [raw.decode("utf-8", errors="replace")]


def _refusal(status: int, body: bytes) -> tuple[OutcomeKind, str] | None:
    """What a 4xx body says went wrong: by a known code anywhere in it, else (for a status a
    content refusal comes with) by the wording of the rule it broke."""
    texts = _texts(body)
    for text in texts:
        known = _ERROR_CODES.get(text.strip())
        if known is not None:
            return known
    if status not in _WORDED_STATUSES:
        return None
    for pattern, kind, reason in _WORDINGS:
        if any(pattern.search(text) for text in texts):
            return kind, reason
    return None


def classify(response: HttpResponse, now: datetime) -> Outcome:
    """Sinch's outcome table (README, Sinch Contact Pro). Basic auth has nothing to renew, so
    a 401 (a wrong or expired API-user password, a wrong API key) is permanent at once."""
    status = response.status
    if 200 <= status < 300:
        return Outcome.delivered(status)
    common = classify_http(response, parse_retry_after(response.headers.get("retry-after"), now))
    if common is not None:
        return common
    detail = excerpt(response.body)
    if status in (401, 403):
        return Outcome(
            OutcomeKind.PERMANENT,
            _STATUS_REASONS[status],
            status=status,
            excerpt=detail,
            error_class="AuthError",
        )
    refusal = _refusal(status, response.body) if 400 <= status < 500 else None
    if refusal is None:
        reason = "rejected" if status == 400 else _STATUS_REASONS.get(status, f"http_{status}")
        refusal = (OutcomeKind.PERMANENT, reason)
    kind, reason = refusal
    return Outcome(
        kind,
        reason,
        status=status,
        excerpt=detail,
        error_class="ContactState" if kind is OutcomeKind.RETRY else "VendorRejected",
    )
