"""8x8 Contact Center Interaction Data Augmentation API.

``POST {base_url}{path_prefix}/guid/{guid}`` (or ``/callId/{sip_call_id}``) with HTTP Basic
``tenant_id:action_token`` and a list of variables. 8x8's own documents disagree on the path
and on the body's outer shape, so both are tenant settings; the variable rules (name syntax,
lengths, ``dataType`` values) are checked here before any call, because a request the vendor
would refuse is a configuration or data problem that no retry can fix.

Write window: ``after_close``. The design holds analytics that arrive before the close for
after-close platforms and sends one complete snapshot once the interaction has ended, instead
of a live write per event. 8x8 documents the API for routing and agent display while the
interaction runs and says nothing about writes after it ends: a 404 then is
classified ``not_found`` and is permanent, since waiting cannot bring a finished interaction
back. Check the behaviour on the vendor's sandbox before a tenant goes live.

The request builder and the outcome table are pure functions here; ``adapter`` only sends.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import orjson

from service.auth.static import BasicAuth
from service.backoff import parse_retry_after
from service.events import Scalar
from service.platforms.base import Delivery, classify_http, excerpt
from service.platforms.eight_by_eight.settings import EIGHT_BY_EIGHT_NAME, EightByEightSettings
from service.platforms.outcomes import Outcome, OutcomeKind
from service.tenant_fields import FieldMapping
from service.transport import HttpRequest, HttpResponse

__all__ = [
    "DATA_TYPES",
    "PLATFORM",
    "PRIVATE_MASK",
    "Variable",
    "build_request",
    "classify",
    "credential_of",
    "mask_private",
    "private_values",
    "variable_problem",
    "variables_of",
    "wire_value",
]

PLATFORM = "8x8"
DATA_TYPES = frozenset({"text", "number", "phone", "phone number", "date", "time", "currency"})
PRIVATE_MASK = "[private]"
_ROUTES = {"guid": ("guid", "guid"), "call_id": ("callId", "call_id")}
_BODY_LIMIT = 64 * 1024
"""How much of a vendor answer is read for an excerpt; masking runs on all of it, before the
excerpt is cut, so a cut can never leave half of a private value in clear."""


@dataclass(frozen=True, slots=True)
class Variable:
    """One 8x8 interaction variable as it goes on the wire; flags are sent only when set."""

    name: str
    value: str
    display: bool | None = None
    display_name: str | None = None
    ivr: bool | None = None
    privacy: bool | None = None
    data_type: str | None = None

    def wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "value": self.value}
        optional = {
            "display": self.display,
            "displayName": self.display_name,
            "ivr": self.ivr,
            "privacy": self.privacy,
            "dataType": self.data_type,
        }
        body.update((key, flag) for key, flag in optional.items() if flag is not None)
        return body


def wire_value(value: Scalar) -> str | None:
    """8x8 takes every value as text (``"110.55"``); None means "send nothing"."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Plain decimal notation: "1e+20" would read as a word to an agent or a TTS engine.
        return format(Decimal(repr(value)), "f")
    return str(value)


def variables_of(
    values: Mapping[str, Scalar], fields: Mapping[str, FieldMapping]
) -> list[Variable]:
    """The delivery's values as variables, flags taken from the tenant's field mapping."""
    variables = []
    for name, value in values.items():
        text = wire_value(value)
        if text is None:
            continue
        rule = fields.get(name)
        if rule is None:
            variables.append(Variable(name, text))
            continue
        variables.append(
            Variable(
                name,
                text,
                display=rule.display,
                display_name=rule.display_name,
                ivr=rule.ivr,
                privacy=rule.privacy,
                data_type=rule.data_type,
            )
        )
    return variables


def _invalid(reason: str, message: str) -> Outcome:
    return Outcome(OutcomeKind.PERMANENT, reason, excerpt=message, error_class="InvalidVariable")


def variable_problem(variable: Variable, settings: EightByEightSettings) -> Outcome | None:
    """The rule 8x8 would refuse ``variable`` for, or None. Messages name the variable and
    never quote its value, which may be private."""
    name = variable.name
    if not EIGHT_BY_EIGHT_NAME.fullmatch(name):
        return _invalid(
            "invalid_variable",
            f"variable {name!r}: names start with '_' followed by letters and digits only",
        )
    if len(name) > settings.name_max_length:
        return _invalid(
            "name_too_long",
            f"variable {name!r}: name has {len(name)} characters, "
            f"name_max_length is {settings.name_max_length}",
        )
    if len(variable.value) > settings.value_max_length:
        return _invalid(
            "value_too_long",
            f"variable {name!r}: value has {len(variable.value)} characters, "
            f"value_max_length is {settings.value_max_length}",
        )
    label = variable.display_name
    if label is not None and len(label) > settings.display_name_max_length:
        return _invalid(
            "display_name_too_long",
            f"variable {name!r}: displayName has {len(label)} characters, "
            f"display_name_max_length is {settings.display_name_max_length}",
        )
    if variable.data_type is not None and variable.data_type not in DATA_TYPES:
        return _invalid(
            "invalid_data_type",
            f"variable {name!r}: dataType {variable.data_type!r} is not one of "
            f"{', '.join(sorted(DATA_TYPES))}",
        )
    return None


def _path(settings: EightByEightSettings, delivery: Delivery) -> str | Outcome:
    segment, ref_key = _ROUTES[settings.identifier]
    identifier = delivery.ref.get(ref_key)
    if not identifier:
        return Outcome(
            OutcomeKind.PERMANENT,
            "missing_routing",
            excerpt=f"ref.{ref_key} is required for 8x8 (identifier: {settings.identifier})",
            error_class="RoutingError",
        )
    prefix = settings.path_prefix.rstrip("/")
    return f"{prefix}/{segment}/{quote(identifier, safe='')}"


def _body(settings: EightByEightSettings, variables: list[Variable]) -> bytes:
    wire = [variable.wire() for variable in variables]
    shapes: dict[str, Any] = {
        "variables": {"variables": wire},
        "data_list": {"data": [{"variables": wire}]},
        "data_object": {"data": {"variables": wire}},
    }
    return orjson.dumps(shapes[settings.body_shape])


def credential_of(settings: EightByEightSettings) -> BasicAuth:
    """HTTP Basic of the tenant id and its action token."""
    return BasicAuth(settings.tenant_id, settings.action_token.get_secret_value())


def build_request(
    settings: EightByEightSettings, fields: Mapping[str, FieldMapping], delivery: Delivery
) -> HttpRequest | Outcome:
    """The POST for one delivery, or the Outcome that stops it before any call."""
    path = _path(settings, delivery)
    if isinstance(path, Outcome):
        return path
    variables = variables_of(delivery.values, fields)
    if not variables:
        return Outcome.delivered(0)  # nothing to write, as when nothing is mapped
    if len(variables) > settings.max_variables:
        return _invalid(
            "too_many_variables",
            f"{len(variables)} variables; max_variables is {settings.max_variables}",
        )
    for variable in variables:
        problem = variable_problem(variable, settings)
        if problem is not None:
            return problem
    return HttpRequest(
        "POST",
        settings.base_url.rstrip("/") + path,
        {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Idempotency-Key": delivery.idempotency_key,
        },
        _body(settings, variables),
    )


def private_values(values: Mapping[str, Scalar], fields: Mapping[str, FieldMapping]) -> list[str]:
    """The wire text of every privacy-flagged value, for masking vendor answers."""
    return [
        variable.value
        for variable in variables_of(values, fields)
        if variable.privacy and variable.value
    ]


def mask_private(text: str, private: Iterable[str]) -> str:
    """Replace every private value, longest first so one containing another goes whole.

    Masking is by plain substring: a short private value may mask innocent text too, and
    over-masking an error message is the safe way to be wrong.
    """
    for value in sorted({p for p in private if p}, key=len, reverse=True):
        text = text.replace(value, PRIVATE_MASK)
        escaped = orjson.dumps(value).decode()[1:-1]  # as it appears inside a JSON string
        if escaped != value:
            text = text.replace(escaped, PRIVATE_MASK)
    return text


def _vendor_message(body: bytes) -> str | None:
    """8x8's error body is ``{"status":"error","code":400,"message":...}``, as 8x8 documents it."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    message = doc.get("message") if isinstance(doc, dict) else None
    return message if isinstance(message, str) and message else None


def _safe_excerpt(response: HttpResponse, private: Collection[str]) -> str:
    """The vendor's ``message`` when it sent one, else the body; private values masked."""
    body = response.body[:_BODY_LIMIT]
    text = _vendor_message(body) or body.decode("utf-8", errors="replace")
    return excerpt(mask_private(text, private).encode())


def classify(response: HttpResponse, private: Collection[str], now: datetime) -> Outcome:
    """8x8's outcome table. ``private`` are the request's privacy-flagged
    values as sent, which must never come back in clear in an excerpt."""
    status = response.status
    if 200 <= status < 300:
        return Outcome.delivered(status)
    detail = _safe_excerpt(response, private)
    common = classify_http(response, parse_retry_after(response.headers.get("retry-after"), now))
    if common is not None:
        # classify_http's excerpt is the raw body: replace it with the masked one.
        return replace(common, excerpt=detail)
    if status == 401:
        # Basic auth has nothing to renew: a refused action token was rotated in
        # Configuration Manager (which invalidates the old one at once) or is wrong.
        return Outcome(
            OutcomeKind.PERMANENT,
            "auth_failed",
            status=401,
            excerpt=f"8x8 refused the action token (rotated or wrong; update the secret): {detail}",
            error_class="AuthError",
        )
    reasons = {400: "rejected", 403: "permission_denied", 404: "not_found"}
    return Outcome(
        OutcomeKind.PERMANENT,
        reasons.get(status, f"http_{status}"),
        status=status,
        excerpt=detail,
        error_class="AuthError" if status == 403 else "VendorRejected",
    )
