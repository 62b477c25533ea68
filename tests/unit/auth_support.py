"""Driving authentication flows by hand: canned answers in, the requests they made out."""

from __future__ import annotations

import base64
from collections.abc import Iterable

import orjson

from service.auth.flow import Renewal
from service.transport import HttpRequest, HttpResponse

__all__ = ["answer", "drive", "jwt"]


def answer(
    status: int,
    body: object = None,
    headers: dict[str, str] | None = None,
    cookies: tuple[str, ...] = (),
) -> HttpResponse:
    """A response; ``body`` as bytes, or anything else as JSON."""
    raw = b"" if body is None else body if isinstance(body, bytes) else orjson.dumps(body)
    return HttpResponse(status, headers or {}, raw, cookies)


def drive(renewal: Renewal, answers: Iterable[HttpResponse]) -> list[HttpRequest]:
    """Run ``renewal`` to its end, answering each request it yields with the next answer;
    raises what the flow raises, and fails the test if the flow asks for more."""
    pending = iter(answers)
    sent: list[HttpRequest] = []
    try:
        request = next(renewal)
        while True:
            sent.append(request)
            request = renewal.send(next(pending))
    except StopIteration:
        return sent


def jwt(claims: dict[str, object]) -> str:
    """An unsigned JWT: flows read claims, they never verify them."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return f"{part(b'{}')}.{part(orjson.dumps(claims))}.sig"
