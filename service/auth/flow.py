"""The shape every authentication flow has, and the errors it ends in.

A flow is a credential's state plus the steps that renew it. Renewal is a generator that
yields the requests it needs and is sent their answers (the model of httpx's
``Auth.auth_flow``), so a flow never does IO itself: a test drives it with canned answers,
and :mod:`service.auth.runner` drives it over the real transport, once at a time however many
calls wait for it.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping

from service.platforms.outcomes import Outcome, OutcomeKind
from service.transport import HttpRequest, HttpResponse

__all__ = [
    "AuthError",
    "Credential",
    "Renewal",
    "excerpt_without",
    "failure",
    "with_headers",
]

Renewal = Generator[HttpRequest, HttpResponse, None]
"""Yields each request a renewal needs and is sent its answer; returns once the credential is
fresh, raises :class:`AuthError` when it cannot be made so."""


class AuthError(Exception):
    """A credential could not be obtained or renewed. ``outcome`` is what the delivery that
    needed it ends in; the message is the outcome's reason only, never a secret or a vendor
    answer (those go to the outcome's redacted excerpt)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome

    @property
    def permanent(self) -> bool:
        return self.outcome.kind is OutcomeKind.PERMANENT


class Credential:
    """One credential's state and how to renew it. The defaults describe a credential that
    never expires and has nothing to renew (Basic, a static bearer token, an API key).

    The runner calls ``stale`` before every request, ``renew`` when it says so (or after a
    rejection), ``apply`` on every request and ``observe`` on every answer. A flow assigns
    its new state at the end of ``renew`` only, so a call applying it meanwhile sees either
    the old credential or the new one, never half of each.
    """

    def stale(self, now: float) -> bool:
        """Whether a renewal is due before the next request (``now`` from the runner's
        monotonic clock)."""
        del now
        return False

    def renew(self, now: float) -> Renewal:
        """Obtain a fresh credential; ``now`` is when the renewal starts."""
        del now
        yield from ()

    def apply(self, request: HttpRequest) -> HttpRequest:
        """``request`` carrying the credential."""
        raise NotImplementedError

    def rejected(self, response: HttpResponse) -> bool:
        """Whether the answer refuses the credential rather than the request, so that one
        renewal and one retry may help. A credential with nothing to renew says no: its
        refusal is the adapter's to classify."""
        del response
        return False

    def observe(self, response: HttpResponse) -> None:
        """Learn from an answer to a request this credential was applied to (a session's
        refreshed cookies); most credentials learn nothing."""
        del response


def with_headers(request: HttpRequest, headers: Mapping[str, str]) -> HttpRequest:
    """``request`` with ``headers`` added, replacing any of the same name whatever its case."""
    # Built directly: dataclasses.replace inspects the fields on every call, and this runs
    # once per vendor call.
    names = {name.lower() for name in headers}
    kept = {k: v for k, v in request.headers.items() if k.lower() not in names}
    return HttpRequest(request.method, request.url, {**kept, **headers}, request.body)


def excerpt_without(body: bytes, secrets: Iterable[str], limit: int = 1000) -> str:
    """A bounded piece of an answer with every known secret masked, for an outcome."""
    text = body[: limit * 2].decode("utf-8", errors="replace").replace("\n", " ").strip()
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failure(
    kind: OutcomeKind,
    reason: str,
    *,
    status: int | None = None,
    detail: str | None = None,
    error_class: str | None = "AuthError",
) -> AuthError:
    return AuthError(Outcome(kind, reason, status=status, excerpt=detail, error_class=error_class))
