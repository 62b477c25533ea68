"""Scrubbing secrets from anything that leaves the process as text (logs, DLQ headers)."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["Redactor"]

_MASK = "[redacted]"
# Bearer tokens, JWT-looking strings and token fields in vendor answers, whoever's they are.
_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    re.compile(
        r"(?i)(\"?(?:access_token|id_token|refresh_token|password|client_secret)\"?\s*[:=]\s*\"?)"
        r"[^\"&,\s]+"
    ),
)


class Redactor:
    """Replaces known secret values and token-shaped text with a mask."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def add(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted(
            {*self._secrets, *(s for s in secrets if len(s) >= 4)}, key=len, reverse=True
        )

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, _MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + _MASK, text)
        return text
