"""The NICE CXone adapter: discovery, the token and the PUT, around the pure parts in
``wire``. One token per tenant, renewed at 80% of its lifetime and once on a 401."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

import orjson

from service.platforms.base import Delivery, WriteWindow, excerpt
from service.platforms.calls import outcome_of
from service.platforms.nice_cxone.settings import NiceCxoneSettings
from service.platforms.nice_cxone.wire import (
    PLATFORM,
    build_request,
    classify,
    tenant_id_of,
    token_failure,
)
from service.platforms.outcomes import Outcome, OutcomeKind
from service.transport import HttpRequest, Transport

__all__ = ["AuthFailure", "NiceCxoneAdapter"]


class AuthFailure(Exception):
    """Credential trouble, already classified."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


@dataclass
class _Token:
    value: str
    refresh_at: float
    id_token: str | None = None


class NiceCxoneAdapter:
    platform = PLATFORM
    write_window: WriteWindow = NiceCxoneSettings.WRITE_WINDOW

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
        return await outcome_of(self._send(delivery))

    async def _send(self, delivery: Delivery) -> Outcome:
        try:
            token, outcome = await self._put(delivery)
            if outcome.status == 401:
                # One renewal on 401: the token may have been revoked or expired early.
                self._forget(token.value)
                _, outcome = await self._put(delivery)
        except AuthFailure as failure:
            return failure.outcome
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
            raise AuthFailure(token_failure(response))
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
