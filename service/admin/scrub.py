"""Secrets out of JSON-like values on their way to an operator.

Walks the structure rather than masking serialized text, so a secret containing characters that
JSON escapes is still found, and masking can never break the document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["scrub"]


def scrub(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): scrub(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, redact) for v in value]
    return value
