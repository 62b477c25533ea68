"""Events sent by hand (``enricher send``): read, checked by the service's own parser and
addressed to their topic and key, all before anything reaches a broker.

Nothing here does I/O, so what a person is told about a bad event is exactly what the consumer
would have decided about it (the same :func:`~service.events.parse_event`, reason and detail),
and the command can refuse a whole batch before the first record is produced.
"""

from __future__ import annotations

import random
from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from service.dev.traffic import sample_ref
from service.events import ANALYTICS_RESULT, INTERACTION_CLOSED, BadInput, parse_event
from service.tenants import FieldMapping, Tenant

__all__ = [
    "ANY_TENANT",
    "EVENT_TYPES",
    "PLACEHOLDER",
    "Outgoing",
    "SendError",
    "address",
    "placeholder_environ",
    "read_events",
    "sample_event",
]

EVENT_TYPES = {"closed": INTERACTION_CLOSED, "analytics": ANALYTICS_RESULT}
"""``--type`` names of the two event types."""

_SAMPLE_VALUES: dict[str, Any] = {
    "sentiment.label": "positive",
    "sentiment.score": 0.8,
    "topics": ["billing", "upgrade"],
    "crm_account": "A-1001",
    "case_number": 4711,
    "vip": True,
    "card_last4": "4242",
}
"""Values for the merged fields the sample tenants map, shaped as the dev traffic sends them."""
_VALUES_BY_TYPE: dict[str | None, Any] = {"number": 1, "boolean": True, "string": "sample"}


class SendError(Exception):
    """Input that cannot be sent; the message says where it is and what is wrong with it."""


class _Placeholders(Mapping[str, str]):
    """An environment in which every ``${NAME}`` is set: unset ones read as a placeholder."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def __getitem__(self, name: str) -> str:
        return self._environ.get(name, PLACEHOLDER)

    def __contains__(self, name: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self._environ)

    def __len__(self) -> int:
        return len(self._environ)


PLACEHOLDER = "https://unset.invalid"
"""Stands in for an unset reference: valid wherever the tenants file takes a URL or a secret."""


def placeholder_environ(environ: Mapping[str, str]) -> Mapping[str, str]:
    """The environment to read a tenants file with for sending.

    Sending never calls a vendor: it needs each tenant's name, platform and mapped fields, not
    the credentials. Where the secrets are not set (a laptop, a CI job) the file still loads.
    """
    return _Placeholders(environ)


class _AnyTenant:
    """Accepts every tenant name: for sending without a tenants file to check names against."""

    def __contains__(self, name: object) -> bool:
        return True


ANY_TENANT: Container[str] = _AnyTenant()


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One validated event and where it goes."""

    origin: str
    """Where it was read: ``FILE`` for a single event, ``FILE:LINE`` for one of JSON Lines."""
    topic: str
    key: str
    value: bytes
    event_type: str


def read_events(data: bytes, source: str) -> list[tuple[str, bytes]]:
    """Each event's origin and bytes: ``data`` holds one JSON object (pretty-printed or not) or
    JSON Lines, one object per line.

    An error names the file and line (and column, for JSON that does not parse).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SendError(f"{source}: not UTF-8 JSON: {exc.reason} at byte {exc.start}") from None
    lines = text.splitlines()
    filled = [(number, line) for number, line in enumerate(lines, 1) if line.strip()]
    if not filled:
        raise SendError(f"{source}: no event in it; give one JSON object or JSON Lines")
    try:
        whole = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if len(filled) > 1 and _parses(filled[0][1]):
            return [_line_event(source, number, line) for number, line in filled]
        raise SendError(f"{source}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
    _need_object(whole, f"{source}:{filled[0][0]}", several_hint=True)
    return [(source, text.strip().encode("utf-8"))]


def _parses(line: str) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def _line_event(source: str, number: int, line: str) -> tuple[str, bytes]:
    where = f"{source}:{number}"
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise SendError(f"{where}:{exc.colno}: not JSON: {exc.msg}") from None
    _need_object(value, where, several_hint=False)
    return (where, line.strip().encode("utf-8"))


def _need_object(value: Any, where: str, *, several_hint: bool) -> None:
    if isinstance(value, dict):
        return
    kind = _JSON_KINDS.get(type(value), "a JSON number")
    hint = "; send several events as JSON Lines, one object per line" if several_hint else ""
    raise SendError(f"{where}: {kind}, not an object{hint}")


_JSON_KINDS: dict[type, str] = {
    list: "a JSON array",
    str: "a JSON string",
    bool: "a JSON boolean",
    type(None): "JSON null",
}


def address(
    origin: str, value: bytes, known_tenants: Container[str], topics: Mapping[str, str]
) -> Outgoing:
    """The event validated as the consumer validates it, with the key the service requires
    (``{tenant}:{interaction_id}``) and the input topic of its type (``topics``: event type to
    topic name)."""
    body = orjson.loads(value)
    # Sent compact, one line per record, as producers write them (and as --dry-run shows it).
    value = orjson.dumps(body)
    tenant, interaction_id = body.get("tenant"), body.get("interaction_id")
    # A key from anything but two strings would only hide the field error the parser reports.
    key = (
        f"{tenant}:{interaction_id}".encode()
        if isinstance(tenant, str) and isinstance(interaction_id, str)
        else None
    )
    try:
        event = parse_event(key, value, known_tenants)
    except BadInput as exc:
        raise SendError(f"{origin}: {exc.reason}: {exc.detail}") from None
    return Outgoing(origin, topics[event.type], event.key, value, event.type)


def sample_event(
    name: str,
    tenant: Tenant,
    event_type: str,
    *,
    interaction_id: str,
    event_id: str,
    now: datetime,
    rng: random.Random,
) -> dict[str, Any]:
    """A sample event for a tenant of the tenants file: the ``ref`` its platform addresses an
    interaction by (as the dev traffic builds it) and a value for every field the tenant maps,
    so a single close shows every mapped field arriving at the platform."""
    body: dict[str, Any] = {
        "type": event_type,
        "version": 1,
        "event_id": event_id,
        "occurred_at": now.isoformat(),
        "tenant": name,
        "interaction_id": interaction_id,
    }
    # A platform written while the interaction runs needs ``ref`` and channel on analytics too.
    routed = event_type == INTERACTION_CLOSED or tenant.settings.write_window() == "live"
    if routed:
        n = rng.randrange(1, 1_000_000)
        body["channel"] = "voice"
        body["ref"] = sample_ref(tenant.platform, name, n, "voice", rng)
    if event_type == INTERACTION_CLOSED:
        body["status"] = "Handled"
    else:
        body["source"] = "enricher-send"
    body["data"] = _sample_data(tenant.fields.values())
    return body


def _sample_data(mappings: Iterable[FieldMapping]) -> dict[str, Any]:
    """Mapped sources as producers nest them (``sentiment.label`` inside ``sentiment``); a
    source that collides with another's nesting (``crm`` and ``crm.score``) is written with
    its dots, which flattens to the same name."""
    chosen: dict[str, Any] = {}
    for mapping in mappings:
        chosen.setdefault(mapping.source, _sample_value(mapping))
    data: dict[str, Any] = {}
    for source, value in sorted(chosen.items()):
        *parents, leaf = source.split(".")
        node: dict[str, Any] | None = data
        for part in parents:
            child = node.setdefault(part, {}) if node is not None else None
            node = child if isinstance(child, dict) else None
        if node is None or leaf in node:
            data[source] = value
        else:
            node[leaf] = value
    return data


def _sample_value(mapping: FieldMapping) -> Any:
    if mapping.source in _SAMPLE_VALUES:
        return _SAMPLE_VALUES[mapping.source]
    return _VALUES_BY_TYPE.get(mapping.type, "sample")
