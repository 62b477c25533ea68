"""The one rule every adapter follows for a request that got no HTTP answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from service.platforms.outcomes import Outcome
from service.transport import TransportError

__all__ = ["outcome_of"]


async def outcome_of(
    call: Awaitable[Outcome], *, redact: Callable[[str], str] | None = None
) -> Outcome:
    """What ``call`` ends in, where a :class:`TransportError` on the way (a timeout, a lost
    connection) is :meth:`Outcome.no_answer`: retried, and waited on by the delivery lease,
    since the vendor may still apply it. ``redact`` scrubs the error text, which may echo a
    URL or credential, before it reaches a log or the DLQ."""
    try:
        return await call
    except TransportError as exc:
        message = str(exc)
        return Outcome.no_answer(exc.kind, redact(message) if redact else message)
