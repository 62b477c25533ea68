"""What every platform adapter offers the delivery loop, and the helpers they share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from service.events import Scalar
from service.platforms.outcomes import Outcome, OutcomeKind
from service.transport import HttpResponse

__all__ = ["Delivery", "PlatformAdapter", "WriteWindow", "classify_http", "excerpt"]

WriteWindow = Literal["after_close", "live"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One call's worth of work: the latest snapshot of an interaction, mapped for a platform."""

    tenant: str
    interaction_id: str
    revision: int
    ref: Mapping[str, str]
    channel: str | None
    status: str | None
    closed_at: datetime | None
    values: Mapping[str, Scalar]

    @property
    def idempotency_key(self) -> str:
        return f"{self.tenant}:{self.interaction_id}:{self.revision}"


class PlatformAdapter(Protocol):
    platform: str
    write_window: WriteWindow

    async def send(self, delivery: Delivery) -> Outcome:
        """Deliver and classify. Vendor trouble comes back as an Outcome, never as an exception."""
        ...

    async def close(self) -> None: ...


def excerpt(body: bytes, limit: int = 1000) -> str:
    """A bounded piece of a vendor answer; callers redact it before cutting it shorter."""
    text = body[: limit * 2].decode("utf-8", errors="replace").replace("\n", " ").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def classify_http(response: HttpResponse, retry_after: float | None) -> Outcome | None:
    """The part of every outcome table that is plain HTTP; None means the
    platform must decide (2xx it accepts, and 4xx whose meaning is vendor-specific)."""
    status = response.status
    if status in (408, 425, 429) or status >= 500:
        return Outcome(
            OutcomeKind.RETRY,
            f"http_{status}",
            status=status,
            retry_after=retry_after,
            excerpt=excerpt(response.body),
            error_class="VendorUnavailable" if status >= 500 else "VendorThrottled",
        )
    return None
