"""OAuth 2.0 bearer tokens: the client credentials grant (RFC 6749 §4.4) and the resource owner
password grant (§4.3) with the token endpoint found by OpenID discovery.

A token is renewed at ``renew_at`` (80%) of the lifetime its answer gave (``expires_in``), so
no request carries one about to expire, and once more when a request is refused with 401.
What a token endpoint's refusal means is decided here, once for every platform: a 5xx or 429
is an outage (``token_endpoint_unavailable``, retried), ``invalid_client`` and
``invalid_grant`` are named configuration errors, any other refusal is ``auth_failed``; all
three are permanent.
"""

from __future__ import annotations

import base64
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote_plus, urlencode

import orjson

from service.auth.discovery import DiscoveryCache, fetch_document, require_text
from service.auth.flow import AuthError, Credential, Renewal, excerpt_without, failure, with_headers
from service.auth.static import basic_header
from service.platforms.outcomes import OutcomeKind
from service.transport import HttpRequest, HttpResponse

__all__ = [
    "ClientCredentials",
    "OAuth2Token",
    "PasswordGrant",
    "TokenAnswer",
    "claim",
    "read_token_answer",
    "token_request",
]

DEFAULT_LIFETIME = 3600.0
"""Assumed when a token answer omits ``expires_in`` (RFC 6749 makes it only recommended)."""

NAMED_ERRORS = frozenset({"invalid_client", "invalid_grant"})
"""Token endpoint errors that become their own DLQ reason, because each points at one secret
to fix (the client's, or the user's)."""

_FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class TokenAnswer:
    access_token: str
    lifetime: float
    id_token: str | None = None

    def __repr__(self) -> str:
        return f"TokenAnswer(lifetime={self.lifetime:g})"


def token_request(url: str, form: dict[str, str], headers: dict[str, str]) -> HttpRequest:
    return HttpRequest(
        "POST",
        url,
        {"Content-Type": _FORM, "Accept": "application/json", **headers},
        urlencode(form).encode(),
    )


def read_token_answer(
    response: HttpResponse, secrets: Iterable[str], default_lifetime: float = DEFAULT_LIFETIME
) -> TokenAnswer:
    """A token endpoint's answer (RFC 6749 §5.1), or the :class:`AuthError` it amounts to
    (§5.2). ``secrets`` are masked in the excerpt, in case an endpoint echoes a form."""
    secrets = tuple(secrets)
    if response.status != 200:
        raise token_refusal(response, secrets)
    try:
        doc = orjson.loads(response.body)
        access_token = doc["access_token"]
        lifetime = float(doc.get("expires_in", default_lifetime))
        token_type = doc.get("token_type", "bearer")
        id_token = doc.get("id_token")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        access_token = None
    if not isinstance(access_token, str) or not access_token:
        raise failure(
            OutcomeKind.RETRY,
            "token_endpoint_unavailable",
            detail="token answer has no access_token",
        )
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise failure(
            OutcomeKind.PERMANENT,
            "unsupported_token_type",
            detail=f"token_type {str(token_type)[:40]!r} is not bearer",
        )
    return TokenAnswer(access_token, lifetime, id_token if isinstance(id_token, str) else None)


def token_refusal(response: HttpResponse, secrets: Iterable[str]) -> AuthError:
    detail = excerpt_without(response.body, secrets)
    if response.status >= 500 or response.status == 429:
        return failure(
            OutcomeKind.RETRY, "token_endpoint_unavailable", status=response.status, detail=detail
        )
    try:
        error = orjson.loads(response.body).get("error", "")
    except (orjson.JSONDecodeError, AttributeError):
        error = ""
    reason = error if error in NAMED_ERRORS else "auth_failed"
    return failure(OutcomeKind.PERMANENT, reason, status=response.status, detail=detail)


@dataclass(frozen=True, slots=True)
class _Held:
    value: str
    renew_after: float


class OAuth2Token(Credential):
    """A bearer token from a token endpoint; subclasses say how to ask for one."""

    def __init__(self, *, renew_at: float = 0.8) -> None:
        self._renew_at = renew_at
        self._held: _Held | None = None

    def stale(self, now: float) -> bool:
        return self._held is None or now >= self._held.renew_after

    def renew(self, now: float) -> Renewal:
        answer = yield from self._obtain(now)
        self._accept(answer, now)

    def _obtain(self, now: float) -> Generator[HttpRequest, HttpResponse, TokenAnswer]:
        raise NotImplementedError

    def _accept(self, answer: TokenAnswer, started: float) -> None:
        """Keep ``answer``; its lifetime runs from when the request left, not when the answer
        came back, so a slow endpoint cannot make a token outlive its expiry here."""
        self._held = _Held(answer.access_token, started + answer.lifetime * self._renew_at)

    def apply(self, request: HttpRequest) -> HttpRequest:
        if self._held is None:
            raise RuntimeError("apply before the first renewal")
        return with_headers(request, {"Authorization": f"Bearer {self._held.value}"})

    def rejected(self, response: HttpResponse) -> bool:
        """401 is the resource server refusing the token (RFC 6750 §3.1: ``invalid_token``),
        revoked or expired before its time; 403 is a missing permission, which no new token
        of the same grant cures."""
        return response.status == 401


class ClientCredentials(OAuth2Token):
    """RFC 6749 §4.4: the client's own credentials for a token.

    ``ClientCredentials(token_url, client_id, client_secret, scope=None, client_auth="basic")``.
    ``client_auth="basic"`` sends the client's id and secret as HTTP Basic (each form-encoded
    first, §2.3.1), ``"body"`` as ``client_id`` and ``client_secret`` form fields for
    endpoints that take only those. ``scope`` is sent when given (space-separated scopes).
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        client_auth: Literal["basic", "body"] = "basic",
        *,
        renew_at: float = 0.8,
    ) -> None:
        super().__init__(renew_at=renew_at)
        if client_auth not in ("basic", "body"):
            raise ValueError("client_auth must be 'basic' or 'body'")
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._client_auth = client_auth

    def request(self) -> HttpRequest:
        form = {"grant_type": "client_credentials"}
        if self._scope:
            form["scope"] = self._scope
        headers: dict[str, str] = {}
        if self._client_auth == "basic":
            user, secret = quote_plus(self._client_id), quote_plus(self._client_secret)
            headers["Authorization"] = basic_header(user, secret)
        else:
            form |= {"client_id": self._client_id, "client_secret": self._client_secret}
        return token_request(self._token_url, form, headers)

    def _obtain(self, now: float) -> Generator[HttpRequest, HttpResponse, TokenAnswer]:
        response = yield self.request()
        return read_token_answer(response, (self._client_secret,))

    def __repr__(self) -> str:
        return f"ClientCredentials({self._token_url!r}, client_auth={self._client_auth!r})"


class PasswordGrant(OAuth2Token):
    """RFC 6749 §4.3 with the token endpoint from ``{issuer}/.well-known/openid-configuration``
    (kept in ``discovery``: pass :func:`~service.auth.discovery.shared_discovery` of the
    transport to share it with every tenant of the issuer). The client authenticates with HTTP
    Basic of its id and secret as given."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        username: str,
        password: str,
        *,
        discovery: DiscoveryCache | None = None,
        renew_at: float = 0.8,
    ) -> None:
        super().__init__(renew_at=renew_at)
        self._issuer = issuer.rstrip("/")
        self._client = basic_header(client_id, client_secret)
        self._secrets = (client_secret, username, password)
        self._form = {"grant_type": "password", "username": username, "password": password}
        self._discovery = discovery if discovery is not None else DiscoveryCache()

    @property
    def issuer(self) -> str:
        return self._issuer

    @property
    def discovery(self) -> DiscoveryCache:
        return self._discovery

    def _obtain(self, now: float) -> Generator[HttpRequest, HttpResponse, TokenAnswer]:
        url = self._issuer + "/.well-known/openid-configuration"
        document = yield from fetch_document(self._discovery, url, now)
        endpoint = require_text(
            document, "token_endpoint", "discovery_failed", "openid-configuration"
        )
        response = yield token_request(endpoint, self._form, {"Authorization": self._client})
        return read_token_answer(response, self._secrets)

    def __repr__(self) -> str:
        return f"PasswordGrant({self._issuer!r})"


def claim(token: str, name: str) -> str | None:
    """A JWT claim, read without verifying the signature: the client is the token's holder,
    not its audience, and only reads routing hints the issuer put there. None for an opaque
    token (a reference, not a JWT) or a missing or empty claim."""
    try:
        payload = token.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    value = claims.get(name) if isinstance(claims, dict) else None
    return str(value) if value else None
