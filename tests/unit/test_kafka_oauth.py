"""Kafka SASL/OAUTHBEARER: the settings, the OIDC client-credentials provider against a real
token endpoint on 127.0.0.1, and Amazon MSK IAM signing with the real signer library.

What a user gets is what aiokafka sends the broker: the SASL initial response built by its own
``OAuthAuthenticator`` from the provider the settings hand to every client.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiokafka.abc import AbstractTokenProvider
from aiokafka.conn import OAuthAuthenticator
from pydantic import ValidationError

from service.admin.config_view import redacted_settings
from service.kafka_oauth import (
    KafkaTokenError,
    MskIamTokenProvider,
    OidcTokenProvider,
    msk_signer,
)
from service.redaction import Redactor
from service.settings import Settings

CLIENT_ID = "enricher-kafka"
CLIENT_SECRET = "oidc-client-secret-7f3a9"
OIDC: dict[str, Any] = {
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_mechanism": "OAUTHBEARER",
    "kafka_sasl_oauth_provider": "oidc",
    "kafka_sasl_oauth_client_id": CLIENT_ID,
}


@dataclass
class TokenEndpoint:
    """A token endpoint that issues access-1, access-2, ... and records each request."""

    url: str = ""
    lifetime: int = 60
    status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.requests.append({"form": form, "authorization": request.headers["Authorization"]})
        if self.status != 200:
            error = {"error": "invalid_client", "error_description": "bad client credentials"}
            return web.json_response(error, status=self.status)
        token = f"access-{len(self.requests)}"
        body = {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime}
        return web.json_response(body)


@pytest.fixture
async def endpoint() -> AsyncIterator[TokenEndpoint]:
    state = TokenEndpoint()
    app = web.Application()
    app.router.add_post("/oauth2/token", state.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state.url = str(server.make_url("/oauth2/token"))
    try:
        yield state
    finally:
        await server.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def provider(endpoint: TokenEndpoint, clock: Clock, **kwargs: Any) -> OidcTokenProvider:
    return OidcTokenProvider(endpoint.url, CLIENT_ID, CLIENT_SECRET, clock=clock, **kwargs)


async def initial_response(token_provider: AbstractTokenProvider) -> str:
    """The SASL/OAUTHBEARER client message aiokafka sends the broker at connect."""
    step = await OAuthAuthenticator(sasl_oauth_token_provider=token_provider).step(b"")
    assert step is not None
    payload, _expects_reply = step
    return bytes(payload).decode()


# ---------------------------------------------------------------------------------------------
# OIDC client credentials


async def test_oidc_token_is_sent_as_a_bearer_token(endpoint: TokenEndpoint) -> None:
    token_provider = provider(
        endpoint, Clock(), scope="kafka", extensions={"logicalCluster": "lkc-123"}
    )
    message = await initial_response(token_provider)
    assert message == "n,,\x01auth=Bearer access-1\x01logicalCluster=lkc-123\x01\x01"
    (request,) = endpoint.requests
    assert request["form"] == {"grant_type": "client_credentials", "scope": "kafka"}
    scheme, _, credentials = request["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(credentials).decode() == f"{CLIENT_ID}:{CLIENT_SECRET}"


async def test_oidc_token_is_reused_then_refreshed_before_it_expires(
    endpoint: TokenEndpoint,
) -> None:
    clock = Clock()
    token_provider = provider(endpoint, clock)  # tokens live 60 s
    assert await token_provider.token() == "access-1"
    clock.now += 47  # every connect within 80% of the lifetime shares the token
    assert await token_provider.token() == "access-1"
    assert len(endpoint.requests) == 1
    clock.now += 2  # 49 s: 11 s before it expires, the next connect gets a new one
    assert await token_provider.token() == "access-2"
    assert len(endpoint.requests) == 2


async def test_concurrent_connects_share_one_fetch(endpoint: TokenEndpoint) -> None:
    token_provider = provider(endpoint, Clock())
    tokens = await asyncio.gather(*(token_provider.token() for _ in range(8)))
    assert set(tokens) == {"access-1"}
    assert len(endpoint.requests) == 1


async def test_oidc_refusal_says_what_to_check(endpoint: TokenEndpoint) -> None:
    endpoint.status = 401
    with pytest.raises(KafkaTokenError) as caught:
        await provider(endpoint, Clock()).token()
    message = str(caught.value)
    assert f"OIDC token endpoint {endpoint.url} refused client {CLIENT_ID!r}" in message
    assert "HTTP 401 invalid_client: bad client credentials" in message
    assert "ENRICHER_KAFKA_SASL_OAUTH_CLIENT_SECRET" in message
    assert CLIENT_SECRET not in message


async def test_failed_refresh_keeps_a_token_that_is_still_valid(endpoint: TokenEndpoint) -> None:
    clock = Clock()
    token_provider = provider(endpoint, clock)
    assert await token_provider.token() == "access-1"
    endpoint.status = 503
    clock.now += 50  # due for a refresh, 10 s left
    assert await token_provider.token() == "access-1"
    clock.now += 11  # expired: nothing valid to fall back on
    with pytest.raises(KafkaTokenError, match="answered HTTP 503"):
        await token_provider.token()


async def test_unreachable_endpoint_names_the_variable() -> None:
    token_provider = OidcTokenProvider("http://127.0.0.1:9/token", CLIENT_ID, CLIENT_SECRET)
    with pytest.raises(KafkaTokenError, match="ENRICHER_KAFKA_SASL_OAUTH_TOKEN_URL"):
        await token_provider.token()


async def test_jwt_expiry_is_used_when_expires_in_is_missing() -> None:
    claims = base64.urlsafe_b64encode(json.dumps({"exp": time.time() + 100}).encode()).decode()
    jwt = f"eyJhbGciOiJSUzI1NiJ9.{claims.rstrip('=')}.c2ln"

    async def handle(request: web.Request) -> web.Response:
        return web.json_response({"access_token": jwt, "token_type": "bearer"})

    app = web.Application()
    app.router.add_post("/token", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        clock = Clock()
        token_provider = OidcTokenProvider(
            str(server.make_url("/token")), CLIENT_ID, CLIENT_SECRET, clock=clock
        )
        assert await token_provider.token() == jwt
        token = token_provider._token
        assert token is not None
        assert 95 < token.expires_at - clock.now <= 100
    finally:
        await server.close()


# ---------------------------------------------------------------------------------------------
# Settings


async def test_settings_give_every_client_one_provider(
    endpoint: TokenEndpoint, tmp_path: Path
) -> None:
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(CLIENT_SECRET + "\n", encoding="utf-8")
    settings = Settings(
        **OIDC,
        kafka_sasl_oauth_token_url=endpoint.url,
        kafka_sasl_oauth_client_secret_file=secret_file,
        kafka_sasl_oauth_extensions={"identityPoolId": "pool-1"},
    )
    options = settings.kafka_client_options()
    assert options["sasl_mechanism"] == "OAUTHBEARER"
    assert "sasl_plain_password" not in options
    token_provider = options["sasl_oauth_token_provider"]
    assert token_provider is settings.kafka_client_options()["sasl_oauth_token_provider"]
    message = await initial_response(token_provider)
    assert message == "n,,\x01auth=Bearer access-1\x01identityPoolId=pool-1\x01\x01"


def test_extensions_come_from_json_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in OIDC.items():
        monkeypatch.setenv(f"ENRICHER_{name.upper()}", value)
    monkeypatch.setenv("ENRICHER_KAFKA_SASL_OAUTH_TOKEN_URL", "https://idp.example.com/token")
    monkeypatch.setenv("ENRICHER_KAFKA_SASL_OAUTH_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("ENRICHER_KAFKA_SASL_OAUTH_EXTENSIONS", '{"logicalCluster": "lkc-9"}')
    assert Settings().kafka_sasl_oauth_extensions == {"logicalCluster": "lkc-9"}


def test_client_secret_never_shows_in_dumps_or_logs() -> None:
    settings = Settings(
        **OIDC,
        kafka_sasl_oauth_token_url="https://idp.example.com/token",
        kafka_sasl_oauth_client_secret=CLIENT_SECRET,
    )
    assert CLIENT_SECRET in settings.secret_values()
    redact = Redactor(settings.secret_values())
    assert CLIENT_SECRET not in repr(settings)
    assert CLIENT_SECRET not in settings.model_dump_json()
    shown = redacted_settings(settings, redact)
    assert shown["kafka_sasl_oauth_client_secret"] == "[redacted]"
    assert CLIENT_SECRET not in json.dumps(shown)
    assert redact(f"token request failed for {CLIENT_SECRET}") == (
        "token request failed for [redacted]"
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"kafka_sasl_mechanism": "OAUTHBEARER", "kafka_security_protocol": "SASL_SSL"},
            "ENRICHER_KAFKA_SASL_MECHANISM=OAUTHBEARER needs ENRICHER_KAFKA_SASL_OAUTH_PROVIDER",
        ),
        (
            {"kafka_sasl_mechanism": "OAUTHBEARER", "kafka_sasl_oauth_provider": "oidc"},
            "needs ENRICHER_KAFKA_SECURITY_PROTOCOL=SASL_SSL",
        ),
        (
            {"kafka_sasl_oauth_provider": "oidc"},
            "ENRICHER_KAFKA_SASL_OAUTH_PROVIDER is used only with "
            "ENRICHER_KAFKA_SASL_MECHANISM=OAUTHBEARER",
        ),
        (
            OIDC,
            "ENRICHER_KAFKA_SASL_OAUTH_PROVIDER=oidc needs ENRICHER_KAFKA_SASL_OAUTH_TOKEN_URL, "
            "ENRICHER_KAFKA_SASL_OAUTH_CLIENT_SECRET (or _FILE)",
        ),
        (
            {
                **OIDC,
                "kafka_sasl_oauth_client_secret": CLIENT_SECRET,
                "kafka_sasl_oauth_token_url": "http://idp.example.com/token",
            },
            "ENRICHER_KAFKA_SASL_OAUTH_TOKEN_URL must be an https:// URL",
        ),
        (
            {
                **OIDC,
                "kafka_sasl_oauth_client_secret": CLIENT_SECRET,
                "kafka_sasl_oauth_token_url": "https://idp.example.com/token",
                "kafka_sasl_oauth_extensions": {"auth": "x"},
            },
            "ENRICHER_KAFKA_SASL_OAUTH_EXTENSIONS: key 'auth'",
        ),
        (
            {**OIDC, "kafka_sasl_oauth_provider": "msk-iam"},
            "ENRICHER_KAFKA_SASL_OAUTH_PROVIDER=msk-iam needs ENRICHER_KAFKA_SASL_OAUTH_AWS_REGION",
        ),
        (
            {**OIDC, "kafka_sasl_oauth_provider": "msk-iam", "kafka_sasl_oauth_aws_region": "eu"},
            "ENRICHER_KAFKA_SASL_OAUTH_AWS_REGION 'eu' is not an AWS region",
        ),
        (
            {**OIDC, "kafka_sasl_oauth_provider": "kerberos"},
            "'oidc' or 'msk-iam'",
        ),
    ],
)
def test_incomplete_oauth_settings_are_refused_naming_the_variable(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(**settings)
    (error,) = caught.value.errors()
    assert message in error["msg"]


def test_missing_secret_file_names_the_variable(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    with pytest.raises(ValidationError, match="ENRICHER_KAFKA_SASL_OAUTH_CLIENT_SECRET_FILE"):
        Settings(
            **OIDC,
            kafka_sasl_oauth_token_url="https://idp.example.com/token",
            kafka_sasl_oauth_client_secret_file=missing,
        )


# ---------------------------------------------------------------------------------------------
# Amazon MSK IAM

MSK: dict[str, Any] = {
    **OIDC,
    "kafka_sasl_oauth_provider": "msk-iam",
    "kafka_sasl_oauth_aws_region": "eu-west-1",
}
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Static credentials in the environment: the default chain stops there, no network."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.usefixtures("aws_credentials")
async def test_msk_iam_token_is_a_signed_connect_url() -> None:
    pytest.importorskip("aws_msk_iam_sasl_signer", reason="the msk extra is not installed")
    settings = Settings(**MSK)
    token_provider = settings.kafka_client_options()["sasl_oauth_token_provider"]
    assert isinstance(token_provider, MskIamTokenProvider)
    message = await initial_response(token_provider)
    token = message.removeprefix("n,,\x01auth=Bearer ").removesuffix("\x01\x01")
    url = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname) == ("https", "kafka.eu-west-1.amazonaws.com")
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["Action"] == "kafka-cluster:Connect"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Credential"].startswith(f"{ACCESS_KEY}/")
    assert query["X-Amz-Credential"].endswith("/eu-west-1/kafka-cluster/aws4_request")
    assert query["X-Amz-Expires"] == "900"
    assert len(query["X-Amz-Signature"]) == 64
    assert SECRET_KEY not in url
    cached = token_provider._token
    assert cached is not None
    assert 800 < cached.expires_at - token_provider._clock() <= 900
    assert await token_provider.token() == token  # reused until the refresh point


async def test_msk_iam_without_credentials_says_what_to_check() -> None:
    def no_credentials(region: str) -> tuple[str, int]:
        raise AttributeError("'NoneType' object has no attribute 'access_key'")

    token_provider = MskIamTokenProvider("eu-west-1", signer=no_credentials)
    with pytest.raises(KafkaTokenError, match="the pod needs AWS credentials"):
        await token_provider.token()


def test_msk_iam_without_the_signer_library_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "aws_msk_iam_sasl_signer", None)
    with pytest.raises(KafkaTokenError, match=r"interaction-enricher\[msk\]"):
        msk_signer()
    monkeypatch.setattr("service.kafka_oauth.importlib.util.find_spec", lambda name: None)
    with pytest.raises(ValidationError, match=r"msk-iam needs the aws-msk-iam-sasl-signer-python"):
        Settings(**MSK)
