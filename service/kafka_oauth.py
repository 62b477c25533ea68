"""SASL/OAUTHBEARER token providers for the Kafka clients (``ENRICHER_KAFKA_SASL_OAUTH_*``).

Managed Kafka services authenticate with short-lived bearer tokens rather than a password:

- ``oidc``: the OAuth 2.0 client-credentials grant at an identity provider's token endpoint
  (Confluent Cloud, Keycloak, Okta, Microsoft Entra ID and the like);
- ``msk-iam``: Amazon MSK's IAM access control, whose "token" is a SigV4-signed URL made
  locally by ``aws-msk-iam-sasl-signer-python`` (the ``msk`` extra) from the pod's AWS
  credentials.

aiokafka asks the provider for a token whenever it opens a connection to a broker and never
re-authenticates an open one, so the token must be valid at each connect. A provider hands out
its cached token until :data:`REFRESH_AT` of its lifetime has passed and fetches a new one on the
next request after that, so no connection is ever opened with a token about to expire. A
refresh that fails while the cached token is still valid keeps the cached one (an identity
provider's blip must not stop reconnects); without a valid token the error says what to check.
Neither the client secret nor a token is ever logged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import importlib.util
import json
import time
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote_plus

import httpx
import structlog
from aiokafka.abc import AbstractTokenProvider

__all__ = [
    "DEFAULT_LIFETIME",
    "REFRESH_AT",
    "KafkaTokenError",
    "MskIamTokenProvider",
    "OidcTokenProvider",
    "msk_signer",
    "msk_signer_missing",
]

log = structlog.get_logger("enricher.kafka_oauth")

REFRESH_AT = 0.8
"""Share of a token's lifetime after which the next connection gets a fresh token (the
Kafka Java client's default refresh window too)."""
DEFAULT_LIFETIME = 300.0
"""Seconds a token is taken to live when neither ``expires_in`` nor a JWT ``exp`` says."""
_HTTP_TIMEOUT = 10.0
_MSK_EXTRA_HINT = (
    "ENRICHER_KAFKA_SASL_OAUTH_PROVIDER=msk-iam needs the aws-msk-iam-sasl-signer-python "
    "package: install interaction-enricher[msk] (the image: docker build --build-arg EXTRAS=msk)"
)


class KafkaTokenError(RuntimeError):
    """No valid OAUTHBEARER token could be had; the message says what to check."""


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    expires_at: float
    refresh_at: float


class _CachingTokenProvider(AbstractTokenProvider):  # type: ignore[misc]
    """One token shared by every connection, fetched again once :data:`REFRESH_AT` of its
    lifetime has passed; concurrent connects wait for one fetch instead of each making one."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._token: _Token | None = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    name: ClassVar[str]
    """The provider as ``ENRICHER_KAFKA_SASL_OAUTH_PROVIDER`` names it, for log lines."""

    @abstractmethod
    async def _fetch(self) -> tuple[str, float]:
        """A new token and its lifetime in seconds; raises :class:`KafkaTokenError`."""

    async def token(self) -> str:
        current = self._token
        if current is not None and self._clock() < current.refresh_at:
            return current.value
        async with self._loop_lock():
            current = self._token
            now = self._clock()
            if current is not None and now < current.refresh_at:
                return current.value  # fetched by the connect we waited for
            try:
                value, lifetime = await self._fetch()
            except KafkaTokenError as exc:
                if current is None or now >= current.expires_at:
                    raise
                log.warning(
                    "kafka_token_refresh_failed",
                    provider=self.name,
                    error=str(exc),
                    valid_for_seconds=round(current.expires_at - now),
                )
                return current.value
            now = self._clock()
            lifetime = max(lifetime, 1.0)
            self._token = _Token(value, now + lifetime, now + lifetime * REFRESH_AT)
            log.info("kafka_token_fetched", provider=self.name, lifetime_seconds=round(lifetime))
            return value

    def _loop_lock(self) -> asyncio.Lock:
        """A lock of the running loop: the settings (and so the provider) may outlive a loop."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock


class OidcTokenProvider(_CachingTokenProvider):
    """OAuth 2.0 client credentials (RFC 6749 section 4.4) at an OIDC token endpoint.

    The client authenticates with HTTP Basic, the method every token endpoint must support,
    its id and secret form-encoded first as the RFC asks (and the Kafka Java client does).
    """

    name = "oidc"

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | None = None,
        extensions: Mapping[str, str] | None = None,
        timeout: float = _HTTP_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(clock=clock)
        self._url = token_url
        self._client_id = client_id
        self._auth = httpx.BasicAuth(quote_plus(client_id), quote_plus(client_secret))
        self._scope = scope
        self._extensions = dict(extensions or {})
        self._timeout = timeout

    def extensions(self) -> dict[str, str]:
        """SASL extensions sent with the token (Confluent Cloud's ``logicalCluster``...)."""
        return dict(self._extensions)

    async def _fetch(self) -> tuple[str, float]:
        form = {"grant_type": "client_credentials"}
        if self._scope:
            form["scope"] = self._scope
        where = f"OIDC token endpoint {self._url}"
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(
                    self._url, data=form, auth=self._auth, headers={"Accept": "application/json"}
                )
        except httpx.HTTPError as exc:
            raise KafkaTokenError(
                f"{where} unreachable ({type(exc).__name__}): check "
                "ENRICHER_KAFKA_SASL_OAUTH_TOKEN_URL"
            ) from None
        if response.status_code in (400, 401, 403):
            raise KafkaTokenError(
                f"{where} refused client {self._client_id!r} (HTTP {response.status_code}"
                f"{_oauth_error(response)}): check ENRICHER_KAFKA_SASL_OAUTH_CLIENT_ID, "
                "ENRICHER_KAFKA_SASL_OAUTH_CLIENT_SECRET(_FILE) and ENRICHER_KAFKA_SASL_OAUTH_SCOPE"
            )
        if response.status_code != 200:
            raise KafkaTokenError(f"{where} answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise KafkaTokenError(f"{where} answered without an access_token")
        token_type = body.get("token_type", "Bearer") if isinstance(body, dict) else "Bearer"
        if str(token_type).lower() != "bearer":
            raise KafkaTokenError(f"{where} issued a {token_type!r} token, not a bearer token")
        return token, _lifetime(body, token)


def _oauth_error(response: httpx.Response) -> str:
    """The RFC 6749 ``error`` (and description) of a refusal, bounded: it is logged."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return ""
    text = body["error"]
    if isinstance(body.get("error_description"), str):
        text += f": {body['error_description']}"
    return f" {text[:200]}"


def _lifetime(body: Mapping[str, Any], token: str) -> float:
    """Seconds the token lives: ``expires_in``, else the JWT's ``exp``, else the default."""
    expires_in = body.get("expires_in")
    if isinstance(expires_in, int | float | str):
        try:
            return float(expires_in)
        except ValueError:
            pass
    expiry = _jwt_expiry(token)
    if expiry is not None:
        return expiry - time.time()
    return DEFAULT_LIFETIME


def _jwt_expiry(token: str) -> float | None:
    """A JWT's ``exp`` claim, read without verifying it (the broker verifies the token)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) else None


def msk_signer_missing() -> str | None:
    """Why MSK IAM cannot work here (the signer library is not installed), or None; checked
    when the settings load, so a missing extra fails the start rather than the first connect."""
    return None if importlib.util.find_spec("aws_msk_iam_sasl_signer") else _MSK_EXTRA_HINT


def msk_signer() -> Callable[[str], tuple[str, int]]:
    """The signer library's token function, imported only when MSK IAM is configured."""
    try:
        from aws_msk_iam_sasl_signer import MSKAuthTokenProvider
    except ImportError:
        raise KafkaTokenError(_MSK_EXTRA_HINT) from None
    generate: Callable[[str], tuple[str, int]] = MSKAuthTokenProvider.generate_auth_token
    return generate


class MskIamTokenProvider(_CachingTokenProvider):
    """Amazon MSK IAM: a SigV4-signed ``kafka-cluster:Connect`` URL, base64url-encoded.

    Signing is local; the credentials come from the AWS default chain (IRSA's web identity
    token, EKS Pod Identity, instance profile, ``AWS_*`` variables), which may call STS or the
    instance metadata service, so it runs in a worker thread rather than on the event loop.
    """

    name = "msk-iam"

    def __init__(
        self,
        region: str,
        *,
        signer: Callable[[str], tuple[str, int]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(clock=clock)
        self._region = region
        self._sign = signer or msk_signer()

    async def _fetch(self) -> tuple[str, float]:
        try:
            token, expiry_ms = await asyncio.to_thread(self._sign, self._region)
        except Exception as exc:
            raise KafkaTokenError(
                f"MSK IAM: no token for region {self._region} ({type(exc).__name__}: {exc}): "
                "the pod needs AWS credentials allowed kafka-cluster:Connect (IRSA or EKS Pod "
                "Identity) and ENRICHER_KAFKA_SASL_OAUTH_AWS_REGION the cluster's region"
            ) from None
        return token, expiry_ms / 1000 - time.time()
