"""NICE CXone Business Data API.

``PUT /business-data-manager/v1/business-data/contact/{id}[/segment/{seg}]`` with a JSON array
of single-key objects and an OAuth2 bearer token from the password grant. Hosts are never
hard-coded: the token endpoint comes from ``{issuer}/.well-known/openid-configuration`` and the
API host from ``{issuer}/.well-known/cxone-configuration?tenantId=...``, with the tenant id read
from the access token's claims or, when the access token is opaque, from the ``id_token`` the
same answer carries. The request builder and the outcome table are pure functions; the adapter
class only does the IO around them.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

import orjson

from service.backoff import parse_retry_after
from service.platforms.base import Delivery, PlatformAdapter, WriteWindow, classify_http, excerpt
from service.platforms.outcomes import Outcome, OutcomeKind
from service.platforms.spec import AdapterContext, PlatformSpec
from service.tenants import NiceCxoneSettings
from service.transport import HttpRequest, HttpResponse, Transport, TransportError

__all__ = ["SPEC", "NiceCxoneAdapter", "build_request", "classify", "tenant_id_of"]

PLATFORM = "nice-cxone"
_PATH = "/business-data-manager/v1/business-data/contact/"


class AuthFailure(Exception):
    """Credential trouble, already classified."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


def build_request(
    settings: NiceCxoneSettings, api_base: str, delivery: Delivery, token: str
) -> HttpRequest | Outcome:
    """The PUT for one delivery, or a permanent Outcome when routing cannot address it."""
    contact_id = delivery.ref.get("contact_id")
    if not contact_id:
        return Outcome(
            OutcomeKind.PERMANENT,
            "missing_routing",
            excerpt="ref.contact_id is required for nice-cxone",
            error_class="RoutingError",
        )
    path = _PATH + quote(contact_id, safe="")
    if settings.level == "segment":
        segment_id = delivery.ref.get("segment_id")
        if not segment_id:
            return Outcome(
                OutcomeKind.PERMANENT,
                "missing_routing",
                excerpt="ref.segment_id is required when level is segment",
                error_class="RoutingError",
            )
        path += "/segment/" + quote(segment_id, safe="")
    body = orjson.dumps([{name: value} for name, value in delivery.values.items()])
    return HttpRequest(
        "PUT",
        api_base.rstrip("/") + path,
        {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            # Lets the vendor, or a proxy in front of it, drop a redelivered duplicate.
            "Idempotency-Key": delivery.idempotency_key,
        },
        body,
    )


def classify(
    response: HttpResponse, delivery: Delivery, settings: NiceCxoneSettings, now: datetime
) -> Outcome:
    """NICE's outcome table. 401 is handled by the adapter (one token refresh) before this."""
    status = response.status
    if 200 <= status < 300:
        return Outcome.delivered(status)
    common = classify_http(response, parse_retry_after(response.headers.get("retry-after"), now))
    if common is not None:
        return common
    detail = excerpt(response.body)
    if status == 404:
        closed_at = delivery.closed_at
        if closed_at is not None and now - closed_at < settings.not_found_grace:
            # Business data sits in the recording store, which indexes a contact some time
            # after it closes: an early 404 is lag, not absence.
            return Outcome(OutcomeKind.RETRY, "not_found_indexing", status=404, excerpt=detail)
        return Outcome(
            OutcomeKind.PERMANENT,
            "not_found",
            status=404,
            excerpt=detail,
            error_class="VendorRejected",
        )
    reasons = {400: "rejected", 401: "auth_failed", 403: "permission_denied"}
    return Outcome(
        OutcomeKind.PERMANENT,
        reasons.get(status, f"http_{status}"),
        status=status,
        excerpt=detail,
        error_class="AuthError" if status in (401, 403) else "VendorRejected",
    )


@dataclass
class _Token:
    value: str
    refresh_at: float
    id_token: str | None = None


class NiceCxoneAdapter:
    platform = PLATFORM
    write_window: WriteWindow = "after_close"

    def __init__(
        self,
        settings: NiceCxoneSettings,
        transport: Transport,
        *,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._transport = transport
        self._timeout = timeout
        self._clock = clock
        self._wall_clock = wall_clock
        self._token: _Token | None = None
        self._token_endpoint: str | None = None
        self._api_base: str | None = settings.api_base_url
        self._lock = asyncio.Lock()

    async def send(self, delivery: Delivery) -> Outcome:
        try:
            token, outcome = await self._put(delivery)
            if outcome.status == 401:
                # One renewal on 401: the token may have been revoked or expired early.
                self._forget(token.value)
                _, outcome = await self._put(delivery)
        except AuthFailure as failure:
            return failure.outcome
        except TransportError as exc:
            return Outcome.no_answer(exc.kind, str(exc))
        return outcome

    def _forget(self, token: str) -> None:
        """Drop ``token`` unless another delivery already replaced it: many calls refused at
        once must lead to one renewal, not one each."""
        if self._token is not None and self._token.value == token:
            self._token = None

    async def _put(self, delivery: Delivery) -> tuple[_Token, Outcome]:
        token = await self._access_token()
        api_base = await self._api_endpoint(token)
        request = build_request(self._settings, api_base, delivery, token.value)
        if isinstance(request, Outcome):
            return token, request
        response = await self._transport.send(request, self._timeout)
        if response.status == 401:
            return token, Outcome(
                OutcomeKind.PERMANENT,
                "auth_failed",
                status=401,
                excerpt=excerpt(response.body),
                error_class="AuthError",
            )
        return token, classify(response, delivery, self._settings, self._wall_clock())

    async def _access_token(self) -> _Token:
        token = self._token
        if token is not None and self._clock() < token.refresh_at:
            return token
        async with self._lock:  # single flight: many deliveries, one token request
            token = self._token
            if token is None or self._clock() >= token.refresh_at:
                token = await self._fetch_token()
                self._token = token
            return token

    async def _fetch_token(self) -> _Token:
        if self._token_endpoint is None:
            doc = await self._get_json(
                self._settings.issuer.rstrip("/") + "/.well-known/openid-configuration",
                "discovery_failed",
            )
            endpoint = doc.get("token_endpoint")
            if not isinstance(endpoint, str):
                raise AuthFailure(
                    Outcome(
                        OutcomeKind.RETRY,
                        "discovery_failed",
                        excerpt="openid-configuration has no token_endpoint",
                    )
                )
            self._token_endpoint = endpoint
        s = self._settings
        basic = base64.b64encode(
            f"{s.client_id}:{s.client_secret.get_secret_value()}".encode()
        ).decode()
        form = urlencode(
            {
                "grant_type": "password",
                "username": s.access_key_id.get_secret_value(),
                "password": s.access_key_secret.get_secret_value(),
            }
        ).encode()
        started = self._clock()
        response = await self._transport.send(
            HttpRequest(
                "POST",
                self._token_endpoint,
                {
                    "Authorization": f"Basic {basic}",
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                },
                form,
            ),
            self._timeout,
        )
        if response.status != 200:
            raise AuthFailure(_token_failure(response))
        try:
            doc = orjson.loads(response.body)
            value, lifetime = str(doc["access_token"]), float(doc.get("expires_in", 3600))
            id_token = doc.get("id_token")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            raise AuthFailure(
                Outcome(
                    OutcomeKind.RETRY,
                    "token_endpoint_unavailable",
                    excerpt="token answer has no access_token",
                    error_class="AuthError",
                )
            ) from None
        # Renew at 80% of the lifetime so no request ever carries a token about to expire.
        return _Token(
            value, started + lifetime * 0.8, id_token if isinstance(id_token, str) else None
        )

    async def _api_endpoint(self, token: _Token) -> str:
        if self._api_base is not None:
            return self._api_base
        tenant_id = tenant_id_of(token.value, token.id_token)
        if not tenant_id:
            raise AuthFailure(
                Outcome(
                    OutcomeKind.PERMANENT,
                    "discovery_failed",
                    excerpt="neither the access token nor the id_token carries a tenantId claim",
                    error_class="AuthError",
                )
            )
        doc = await self._get_json(
            self._settings.issuer.rstrip("/")
            + "/.well-known/cxone-configuration?"
            + urlencode({"tenantId": tenant_id}),
            "discovery_failed",
        )
        endpoint = doc.get("api_endpoint")
        if not isinstance(endpoint, str):
            area = doc.get("area")
            if not isinstance(area, str):
                raise AuthFailure(
                    Outcome(
                        OutcomeKind.RETRY,
                        "discovery_failed",
                        excerpt="cxone-configuration has no api_endpoint",
                    )
                )
            endpoint = f"https://api-{area}.niceincontact.com"
        self._api_base = endpoint
        return endpoint

    async def _get_json(self, url: str, reason: str) -> dict[str, object]:
        response = await self._transport.send(
            HttpRequest("GET", url, {"Accept": "application/json"}), self._timeout
        )
        if response.status != 200:
            kind = (
                OutcomeKind.RETRY
                if response.status >= 500 or response.status == 429
                else OutcomeKind.PERMANENT
            )
            raise AuthFailure(
                Outcome(kind, reason, status=response.status, excerpt=excerpt(response.body))
            )
        try:
            doc = orjson.loads(response.body)
        except orjson.JSONDecodeError:
            doc = None
        if not isinstance(doc, dict):
            raise AuthFailure(Outcome(OutcomeKind.RETRY, reason, excerpt="answer is not JSON"))
        return doc

    async def close(self) -> None:
        return None


def _token_failure(response: HttpResponse) -> Outcome:
    """Token endpoint refusals are configuration errors and must be loud, not retried forever;
    its outages are transient like any other."""
    if response.status >= 500 or response.status == 429:
        return Outcome(
            OutcomeKind.RETRY,
            "token_endpoint_unavailable",
            status=response.status,
            excerpt=excerpt(response.body),
            error_class="AuthError",
        )
    try:
        error = orjson.loads(response.body).get("error", "")
    except (orjson.JSONDecodeError, AttributeError):
        error = ""
    reason = {"invalid_client": "invalid_client", "invalid_grant": "invalid_grant"}.get(
        error, "auth_failed"
    )
    return Outcome(
        OutcomeKind.PERMANENT,
        reason,
        status=response.status,
        excerpt=excerpt(response.body),
        error_class="AuthError",
    )


def tenant_id_of(access_token: str, id_token: str | None) -> str | None:
    """The tenant id discovery needs. The access token is tried first; when it is opaque (a
    reference, not a JWT) the ``id_token`` of the same answer is where CXone puts the claim."""
    return _claim(access_token, "tenantId") or (_claim(id_token, "tenantId") if id_token else None)


def _claim(token: str, name: str) -> str | None:
    """Read a claim without verifying the signature: we are the token's holder, not its
    audience, and only need the routing hint NICE puts there."""
    try:
        payload = token.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    value = claims.get(name) if isinstance(claims, dict) else None
    return str(value) if value else None


def _create_adapter(context: AdapterContext) -> PlatformAdapter:
    return NiceCxoneAdapter(
        context.settings_as(NiceCxoneSettings), context.transport, timeout=context.timeout
    )


SPEC = PlatformSpec(
    id=PLATFORM,
    title="NICE CXone",
    settings=NiceCxoneSettings,
    create_adapter=_create_adapter,
    docs_page="platforms/nice-cxone.md",
)
