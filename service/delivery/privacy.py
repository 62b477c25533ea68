"""Privacy-flagged values out of the DLQ, pure.

A mapped field flagged ``privacy`` is for routing only; its value must not be stored in clear
anywhere the enricher writes for people to read. A DLQ record keeps the original event, so the
fields feeding such platform fields are masked in it, and the record says which ones
(``enricher.masked``). A replayed record drops the masked fields before merging, so a replay
never writes the mask over the real value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

__all__ = ["MASK", "MASKED_HEADER", "mask_fields", "masked_fields"]

MASK = "***"
MASKED_HEADER = "enricher.masked"


def mask_fields(value: bytes | None, sources: Iterable[str]) -> tuple[bytes | None, list[str]]:
    """``value`` with every ``data`` field named in ``sources`` (flattened names) masked, and
    the names that were. Input that is not a JSON event is returned unchanged."""
    wanted = frozenset(sources)
    if not wanted or value is None:
        return value, []
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value, []
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        return value, []
    masked: list[str] = []
    event["data"] = _mask(event["data"], "", wanted, masked)
    if not masked:
        return value, []
    return orjson.dumps(event), sorted(masked)


def _mask(node: Any, prefix: str, wanted: frozenset[str], masked: list[str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, item in node.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if name in wanted:
                out[key] = MASK
                masked.append(name)
            else:
                out[key] = _mask(item, name, wanted, masked)
        return out
    return node


def masked_fields(headers: Sequence[tuple[str, bytes]]) -> frozenset[str]:
    for key, value in headers:
        if key == MASKED_HEADER:
            text = value.decode("utf-8", errors="replace")
            return frozenset(name for name in text.split(",") if name)
    return frozenset()
