"""Whether a copy of a record fits the producer's limit, pure.

The DLQ, a retry tier and a replay each write a copy of an input record with ``enricher.*``
headers on top. An input record that just fitted under Kafka's record limit then does not, and
a producer refuses it (``MessageSizeTooLargeError``) every time the record is read again: one
record would stop the service for good. So every copy is measured first, the way the producer
measures it, and a copy that would not fit is written without the value (and, if that is still
too much, without the key and the producer's headers too). ``enricher.omitted`` says what was
left out and ``enricher.value_size`` how large the value was; the copy's headers name the
source topic, partition and offset where the original still sits, so it can be fetched again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BATCH_OVERHEAD",
    "DEFAULT_MAX_REQUEST_SIZE",
    "OMITTED",
    "RECORD_ERROR_CODES",
    "RECORD_OVERHEAD",
    "VALUE_SIZE",
    "Copy",
    "about_the_record",
    "copies",
    "fitting_copies",
    "fitting_copy",
    "is_omitted",
    "record_size",
]

Headers = Sequence[tuple[str, bytes]]

DEFAULT_MAX_REQUEST_SIZE = 1_048_576
"""The producer's ``max_request_size`` unless configured: Kafka's own default record limit."""
BATCH_OVERHEAD = 61
"""The v2 record batch header (offset, length, epoch, magic, CRC, ..., record count)."""
RECORD_OVERHEAD = 21
"""The most a record's own framing takes besides its key, value and headers: its length,
attributes, timestamp and offset deltas as varints. A record is sent in a batch of its own at
worst, so both overheads count, as the producer counts them."""
OMITTED = "enricher.omitted"
VALUE_SIZE = "enricher.value_size"
_OURS = "enricher."


def _varint_size(value: int) -> int:
    """Bytes of a zig-zag varint, as Kafka writes lengths and counts."""
    encoded = (value << 1) ^ (value >> 63)
    size = 1
    while encoded >= 0x80:
        encoded >>= 7
        size += 1
    return size


def _field_size(data: bytes | None) -> int:
    return 1 if data is None else _varint_size(len(data)) + len(data)


def record_size(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    """The size the producer checks against ``max_request_size``: the record in a batch of its
    own, with the largest framing it can take."""
    size = BATCH_OVERHEAD + RECORD_OVERHEAD + _field_size(key) + _field_size(value)
    size += _varint_size(len(headers))
    for name, data in headers:
        size += _field_size(name.encode("utf-8")) + _field_size(data)
    return size


@dataclass(frozen=True, slots=True)
class Copy:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    omitted: tuple[str, ...] = ()
    """What was left out of the original: ``()``, ``("value",)`` or
    ``("key", "value", "headers")``."""


def _marked(
    headers: Headers, omitted: tuple[str, ...], value: bytes | None
) -> list[tuple[str, bytes]]:
    kept = [(k, v) for k, v in headers if k not in (OMITTED, VALUE_SIZE)]
    return [
        *kept,
        (OMITTED, ",".join(omitted).encode()),
        (VALUE_SIZE, str(len(value or b"")).encode()),
    ]


def copies(key: bytes | None, value: bytes | None, headers: Headers) -> list[Copy]:
    """Every form a copy can take, most complete first: as it is, without the value, and with
    only the ``enricher.*`` headers. An omitted value is sent as empty bytes, never as a null
    (a tombstone on a compacted topic, and Kafka needs a key or a value)."""
    full = Copy(key, value, list(headers))
    if value is None:
        without_value = None
    else:
        without_value = Copy(key, b"", _marked(headers, ("value",), value), ("value",))
    ours = [(k, v) for k, v in headers if k.startswith(_OURS)]
    bare = Copy(
        None, b"", _marked(ours, ("key", "value", "headers"), value), ("key", "value", "headers")
    )
    return [c for c in (full, without_value, bare) if c is not None]


def fitting_copies(
    key: bytes | None, value: bytes | None, headers: Headers, limit: int
) -> list[Copy]:
    """The forms within ``limit`` bytes (the producer's ``max_request_size``), most complete
    first: the first is sent, and each next one if the broker refuses the one before as a
    record (:func:`about_the_record`). When not even the bare copy fits, the limit is below
    the size of our own headers (a configuration error, not a record's): the bare copy is
    returned alone, and the producer refuses it."""
    forms = copies(key, value, headers)
    fitting = [f for f in forms if record_size(f.key, f.value, f.headers) <= limit]
    return fitting or forms[-1:]


def fitting_copy(key: bytes | None, value: bytes | None, headers: Headers, limit: int) -> Copy:
    """The most complete copy within ``limit`` bytes (see :func:`fitting_copies`)."""
    return fitting_copies(key, value, headers, limit)[0]


def is_omitted(headers: Headers) -> bool:
    """Whether a record is a copy written without its value (see :func:`copies`)."""
    for name, data in headers:
        if name == OMITTED:
            return b"value" in data.split(b",")
    return False


RECORD_ERROR_CODES = frozenset({2, 10, 18, 43, 87})
"""Kafka error codes that refuse one record, not the broker or the topic:
CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE, UNSUPPORTED_FOR_MESSAGE_FORMAT and
INVALID_RECORD. A broker can refuse a copy the producer took (a topic whose
``max.message.bytes`` is below the producer's limit, a broker-side record check); the next
smaller copy is tried then. Anything else (the broker down, a timeout, authorisation) is not
about the record, and stays fatal."""


def about_the_record(error: BaseException) -> bool:
    """Whether ``error`` refuses this record only, so a smaller copy may be accepted."""
    return getattr(error, "errno", None) in RECORD_ERROR_CODES
