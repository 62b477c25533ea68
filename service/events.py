"""Input events (a contract): parsing, validation, flattening and limits.

Parsing never raises anything but :class:`BadInput`, whose ``reason`` is a short stable code
that becomes the DLQ ``enricher.reason`` header and a metric label. Upstream pipelines get a
precise ``detail`` so they can fix their producer; the consumer carries on either way.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "ANALYTICS_RESULT",
    "INTERACTION_CLOSED",
    "LIMITS",
    "MAX_REF_IDS",
    "BadInput",
    "Event",
    "Limits",
    "Scalar",
    "Value",
    "flatten",
    "parse_event",
]

INTERACTION_CLOSED = "interaction.closed"
ANALYTICS_RESULT = "analytics.result"
SUPPORTED_VERSIONS: dict[str, frozenset[int]] = {
    INTERACTION_CLOSED: frozenset({1}),
    ANALYTICS_RESULT: frozenset({1}),
}

Scalar = str | int | float | bool | None
Value = Scalar | tuple[Scalar, ...]
"""A merged field value: a JSON scalar or a list of scalars (kept as a tuple: values are shared
between ledger revisions and must not be mutated in place)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-event limits. They protect vendors (several cap field counts and sizes) and the
    ledger from a runaway producer."""

    max_event_bytes: int = 64 * 1024
    max_fields: int = 200
    max_field_name: int = 128


LIMITS = Limits()


class BadInput(Exception):
    """An input record that can never be processed; it goes to the DLQ with ``reason``."""

    def __init__(self, reason: str, detail: str, *, tenant: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.tenant = tenant


@dataclass(frozen=True, slots=True)
class Event:
    """A validated input event, in the shape the merge core works with."""

    type: str
    event_id: str
    occurred_at: datetime
    tenant: str
    interaction_id: str
    fields: Mapping[str, Value]
    ref: Mapping[str, str]
    channel: str | None = None
    status: str | None = None
    source: str | None = None

    @property
    def key(self) -> str:
        return f"{self.tenant}:{self.interaction_id}"


Tenant = Annotated[
    str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
]
Id = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=256)]
Channel = Literal["voice", "chat", "sms", "email"]


def _iso_text(value: object) -> object:
    """Let only text shaped like a calendar date on to the datetime parser.

    Pydantic reads a number, or a string of digits, as Unix time: ``1732096500`` and
    ``"20261120"`` would merge as instants the producer never wrote, and ``occurred_at`` decides
    which write wins. A date in the contract's form always has a ``-`` after its four-digit year,
    which no number has, so that one comparison is enough to tell them apart.
    """
    if type(value) is str and value[4:5] == "-":
        return value
    raise PydanticCustomError(
        "iso_datetime",
        "must be an ISO 8601 date and time with a time zone, like 2026-11-20T10:15:00Z; got {got}",
        {"got": _shown(value)},
    )


def _shown(value: object) -> str:
    """A wrong value as the producer wrote it, short enough for a DLQ header."""
    if value is None:
        return "null"
    kind = _JSON_KINDS.get(type(value), "a value")
    try:
        text = orjson.dumps(value).decode()
    except TypeError:  # not from JSON: a caller validating Python objects
        text = repr(value)
    return f"{kind} {text[:40]}{'...' if len(text) > 40 else ''}"


_JSON_KINDS = {
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    list: "an array",
    dict: "an object",
}


Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_text)]


MAX_REF_IDS = 32
"""Ids under keys no built-in platform uses that one ``ref`` keeps: routing is a handful of
ids, and each is kept in the ledger."""
MAX_REF_ID_LENGTH = 256


class Ref(BaseModel):
    """Platform ids. The ones the built-in platforms route on are typed; an id under any other
    key is kept as well, so a platform added later (a plug-in, the generic HTTP platform) can
    route on it (``ref.ticket_id``): a string of 1-256 characters, at most 32 of them. Anything
    else under a key no platform here knows is ignored, as it always was."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, Id]

    contact_id: Id | None = None
    segment_id: Id | None = None
    call_id: Id | None = None
    guid: Id | None = None
    session_id: Id | None = None
    media: Literal["calls", "chats", "smssessions"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _ids_only(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        # Unknown keys were always ignored, so a producer may send anything under one: only
        # what is a usable id is kept, the first MAX_REF_IDS of them, and the rest is ignored
        # as before, never refused.
        kept: dict[str, Any] = {}
        unknown = 0
        for key, value in data.items():
            if key in cls.model_fields:
                kept[key] = value
            elif (
                isinstance(value, str)
                and 0 < len(value) <= MAX_REF_ID_LENGTH
                and unknown < MAX_REF_IDS
            ):
                kept[key] = value
                unknown += 1
        return kept

    def ids(self) -> dict[str, str]:
        """Every id given, by key."""
        # The attributes themselves: model_dump costs several times more for these few ids.
        known = {k: v for k, v in self.__dict__.items() if v is not None}
        return {**known, **(self.__pydantic_extra__ or {})}


class _Envelope(BaseModel):
    # Extra top-level keys are ignored: producers may add fields without breaking consumers.
    model_config = ConfigDict(extra="ignore", frozen=True)

    version: StrictInt
    event_id: Id
    occurred_at: Timestamp
    tenant: Tenant
    interaction_id: Id
    data: dict[StrictStr, Any] = Field(default_factory=dict)


class InteractionClosedV1(_Envelope):
    type: Literal["interaction.closed"]
    channel: Channel
    ref: Ref
    status: Id | None = None


class AnalyticsResultV1(_Envelope):
    type: Literal["analytics.result"]
    source: Id | None = None
    ref: Ref | None = None
    channel: Channel | None = None


_MODELS: dict[str, type[InteractionClosedV1] | type[AnalyticsResultV1]] = {
    INTERACTION_CLOSED: InteractionClosedV1,
    ANALYTICS_RESULT: AnalyticsResultV1,
}


def parse_event(
    key: bytes | None,
    value: bytes | None,
    known_tenants: Container[str],
    limits: Limits = LIMITS,
) -> Event:
    """Validate one Kafka record against the event contract.

    The checks run cheapest-first so a flood of garbage costs little: size, JSON, envelope,
    schema, tenant, key, flattening limits.
    """
    if value is None:
        raise BadInput("not_json", "record has no value (tombstone)")
    if len(value) > limits.max_event_bytes:
        raise BadInput(
            "too_large", f"event is {len(value)} bytes; the limit is {limits.max_event_bytes}"
        )
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise BadInput("not_json", f"value is not UTF-8 JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise BadInput("not_an_object", f"value is a JSON {type(raw).__name__}, not an object")
    tenant_hint = raw.get("tenant") if isinstance(raw.get("tenant"), str) else None
    model = _model_for(raw, tenant_hint)
    try:
        parsed = model.model_validate(raw)
    except ValidationError as exc:
        raise BadInput("invalid_event", _describe(exc), tenant=tenant_hint) from None
    if parsed.tenant not in known_tenants:
        raise BadInput("unknown_tenant", f"tenant {parsed.tenant!r} is not configured")
    _check_key(key, parsed.tenant, parsed.interaction_id)
    fields = flatten(parsed.data, limits, tenant=parsed.tenant)
    ref = parsed.ref.ids() if parsed.ref is not None else {}
    try:
        occurred_at = parsed.occurred_at.astimezone(UTC)
    except OverflowError:  # 0001-01-01 or 9999-12-31 with an offset: no UTC instant exists
        raise BadInput("invalid_event", "occurred_at: outside the range of dates") from None
    return Event(
        type=parsed.type,
        event_id=parsed.event_id,
        occurred_at=occurred_at,
        tenant=parsed.tenant,
        interaction_id=parsed.interaction_id,
        fields=fields,
        ref=ref,
        channel=parsed.channel,
        status=parsed.status if isinstance(parsed, InteractionClosedV1) else None,
        source=parsed.source if isinstance(parsed, AnalyticsResultV1) else None,
    )


def _model_for(
    raw: dict[str, Any], tenant: str | None
) -> type[InteractionClosedV1] | type[AnalyticsResultV1]:
    event_type = raw.get("type")
    if not isinstance(event_type, str) or event_type not in _MODELS:
        known = ", ".join(sorted(_MODELS))
        raise BadInput("unknown_type", f"type {event_type!r} is not one of: {known}", tenant=tenant)
    version = raw.get("version")
    if type(version) is not int or version not in SUPPORTED_VERSIONS[event_type]:
        supported = ", ".join(str(v) for v in sorted(SUPPORTED_VERSIONS[event_type]))
        raise BadInput(
            "unsupported_version",
            f"{event_type} version {version!r} is not supported (supported: {supported})",
            tenant=tenant,
        )
    return _MODELS[event_type]


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False)[:5]:
        location = ".".join(str(p) for p in error["loc"]) or "event"
        parts.append(f"{location}: {error['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _check_key(key: bytes | None, tenant: str, interaction_id: str) -> None:
    expected = f"{tenant}:{interaction_id}"
    if key is None:
        raise BadInput("key_mismatch", f"record has no key; expected {expected!r}", tenant=tenant)
    try:
        decoded = key.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput("key_mismatch", "record key is not UTF-8", tenant=tenant) from None
    if decoded != expected:
        raise BadInput(
            "key_mismatch",
            f"record key {decoded!r} does not match body {expected!r}",
            tenant=tenant,
        )


_SCALARS = (str, bool, int, float)
"""JSON scalars other than null (a tuple: an ``X | Y`` union is built anew on every use)."""


def flatten(
    data: Mapping[str, Any], limits: Limits = LIMITS, *, tenant: str | None = None
) -> dict[str, Value]:
    """Flatten nested objects with ``.`` so every vendor sees flat key/value pairs.

    Lists must hold scalars only: no vendor can store a list of objects, and guessing a
    flattening for them would silently invent field names.
    """
    out: dict[str, Value] = {}
    stack: list[tuple[str, Any]] = list(data.items())
    stack.reverse()
    while stack:
        name, value = stack.pop()
        if isinstance(value, dict):
            if not value:
                continue
            nested = [(f"{name}.{k}", v) for k, v in value.items()]
            nested.reverse()
            stack.extend(nested)
            continue
        if len(name) > limits.max_field_name:
            raise BadInput(
                "field_name_too_long",
                f"field {name[:40]!r}... is {len(name)} characters; the limit is "
                f"{limits.max_field_name}",
                tenant=tenant,
            )
        if not name or name[0] == "." or name[-1] == "." or ".." in name:
            raise BadInput(
                "invalid_event", f"data has an empty field name in {name!r}", tenant=tenant
            )
        if name in out:
            raise BadInput(
                "invalid_event", f"data.{name} is given twice once flattened", tenant=tenant
            )
        out[name] = (
            value
            if value is None or isinstance(value, _SCALARS)
            else _list_value(name, value, tenant)
        )
        if len(out) > limits.max_fields:
            raise BadInput(
                "too_many_fields",
                f"data has more than {limits.max_fields} fields once flattened",
                tenant=tenant,
            )
    return out


def _list_value(name: str, value: Any, tenant: str | None) -> Value:
    if isinstance(value, list):
        for index, item in enumerate(value):
            if not (item is None or isinstance(item, _SCALARS)):
                raise BadInput(
                    "invalid_event",
                    f"data.{name}[{index}] is a {type(item).__name__}; lists may hold only scalars",
                    tenant=tenant,
                )
        return tuple(value)
    raise BadInput("invalid_event", f"data.{name} has an unsupported value", tenant=tenant)
