"""OAuth 2.0 flows driven with canned answers: what they ask, what they keep, how they fail."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs

import pytest

from service.auth import AuthError, ClientCredentials, DiscoveryCache, PasswordGrant
from service.auth.discovery import shared_discovery
from service.platforms.outcomes import OutcomeKind
from service.transport import HttpRequest
from tests.unit.auth_support import answer, drive

TOKEN_URL = "https://idp.example/oauth/token"
ISSUER = "https://cxone.example"
OPENID = ISSUER + "/.well-known/openid-configuration"
TOKEN_OK = answer(200, {"access_token": "at-1", "token_type": "Bearer", "expires_in": 100})


def form(request: HttpRequest) -> dict[str, list[str]]:
    return parse_qs((request.body or b"").decode())


def basic(request: HttpRequest) -> str:
    return base64.b64decode(request.headers["Authorization"].removeprefix("Basic ")).decode()


# --- client credentials ------------------------------------------------------------------------


def test_client_credentials_authenticate_the_client_with_basic_by_default() -> None:
    flow = ClientCredentials(TOKEN_URL, "my app", "s&cret", scope="write read")
    [request] = drive(flow.renew(0.0), [TOKEN_OK])
    assert (request.method, request.url) == ("POST", TOKEN_URL)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form(request) == {"grant_type": ["client_credentials"], "scope": ["write read"]}
    assert basic(request) == "my+app:s%26cret"  # RFC 6749 §2.3.1: form-encoded first


def test_client_credentials_in_the_body_and_without_scope() -> None:
    flow = ClientCredentials(TOKEN_URL, "app", "secret", client_auth="body")
    [request] = drive(flow.renew(0.0), [TOKEN_OK])
    assert "Authorization" not in request.headers
    assert form(request) == {
        "grant_type": ["client_credentials"],
        "client_id": ["app"],
        "client_secret": ["secret"],
    }


def test_client_auth_must_be_basic_or_body() -> None:
    with pytest.raises(ValueError, match="client_auth"):
        ClientCredentials(TOKEN_URL, "a", "s", client_auth="header")  # type: ignore[arg-type]


def test_a_token_is_applied_as_bearer_and_renewed_at_80_percent_of_its_lifetime() -> None:
    flow = ClientCredentials(TOKEN_URL, "app", "secret")
    assert flow.stale(0.0)
    drive(flow.renew(10.0), [TOKEN_OK])
    applied = flow.apply(HttpRequest("GET", "https://api.example/x"))
    assert applied.headers["Authorization"] == "Bearer at-1"
    assert not flow.stale(89.9)
    assert flow.stale(90.0)  # started at 10, lifetime 100, renewed at 80 of it


def test_a_missing_expires_in_is_taken_as_an_hour() -> None:
    flow = ClientCredentials(TOKEN_URL, "app", "secret")
    drive(flow.renew(0.0), [answer(200, {"access_token": "t"})])
    assert not flow.stale(2879.0)
    assert flow.stale(2880.0)


def test_only_a_401_asks_for_a_new_token() -> None:
    flow = ClientCredentials(TOKEN_URL, "app", "secret")
    assert flow.rejected(answer(401))
    assert not flow.rejected(answer(403))
    assert not flow.rejected(answer(200))


@pytest.mark.parametrize(
    ("status", "body", "kind", "reason"),
    [
        (503, b"down", OutcomeKind.RETRY, "token_endpoint_unavailable"),
        (429, b"slow down", OutcomeKind.RETRY, "token_endpoint_unavailable"),
        (401, {"error": "invalid_client"}, OutcomeKind.PERMANENT, "invalid_client"),
        (400, {"error": "invalid_grant"}, OutcomeKind.PERMANENT, "invalid_grant"),
        (400, {"error": "invalid_scope"}, OutcomeKind.PERMANENT, "auth_failed"),
        (400, b"<html>bad</html>", OutcomeKind.PERMANENT, "auth_failed"),
        (200, {"token_type": "bearer"}, OutcomeKind.RETRY, "token_endpoint_unavailable"),
        (200, b"not json", OutcomeKind.RETRY, "token_endpoint_unavailable"),
        (200, {"access_token": "t", "expires_in": "soon"}, OutcomeKind.RETRY,
         "token_endpoint_unavailable"),
        (200, {"access_token": "t", "token_type": "mac"}, OutcomeKind.PERMANENT,
         "unsupported_token_type"),
    ],
)  # fmt: skip
def test_token_endpoint_answers_and_what_they_mean(
    status: int, body: Any, kind: OutcomeKind, reason: str
) -> None:
    flow = ClientCredentials(TOKEN_URL, "app", "secret")
    with pytest.raises(AuthError) as raised:
        drive(flow.renew(0.0), [answer(status, body)])
    outcome = raised.value.outcome
    assert (outcome.kind, outcome.reason, outcome.error_class) == (kind, reason, "AuthError")
    assert str(raised.value) == reason
    assert flow.stale(0.0)  # nothing kept from a failed renewal


def test_a_secret_echoed_by_the_token_endpoint_never_reaches_the_outcome() -> None:
    flow = ClientCredentials(TOKEN_URL, "app", "very-secret")
    echo = answer(400, b"grant_type=client_credentials&client_secret=very-secret")
    with pytest.raises(AuthError) as raised:
        drive(flow.renew(0.0), [echo])
    assert "very-secret" not in (raised.value.outcome.excerpt or "")
    assert "very-secret" not in str(raised.value)
    assert "very-secret" not in repr(flow)


# --- password grant with discovery -------------------------------------------------------------


def grant(cache: DiscoveryCache, username: str = "key") -> PasswordGrant:
    return PasswordGrant(ISSUER + "/", "app", "cs", username, "ks", discovery=cache)


OPENID_OK = answer(200, {"token_endpoint": ISSUER + "/auth/token"})


def test_password_grant_finds_the_token_endpoint_then_asks_with_basic_client_auth() -> None:
    flow = grant(DiscoveryCache())
    discovery, token = drive(flow.renew(0.0), [OPENID_OK, TOKEN_OK])
    assert (discovery.method, discovery.url) == ("GET", OPENID)
    assert "Authorization" not in discovery.headers
    assert token.url == ISSUER + "/auth/token"
    assert basic(token) == "app:cs"
    assert form(token) == {"grant_type": ["password"], "username": ["key"], "password": ["ks"]}


def test_tenants_of_one_issuer_share_its_discovery_document_until_it_expires() -> None:
    cache = DiscoveryCache(ttl=60.0)
    drive(grant(cache).renew(0.0), [OPENID_OK, TOKEN_OK])
    [token] = drive(grant(cache, username="other").renew(59.0), [TOKEN_OK])
    assert token.url == ISSUER + "/auth/token"
    assert [r.url for r in drive(grant(cache).renew(60.0), [OPENID_OK, TOKEN_OK])] == [
        OPENID,
        ISSUER + "/auth/token",
    ]


@pytest.mark.parametrize(
    ("discovery", "kind"),
    [
        (answer(503, b"down"), OutcomeKind.RETRY),
        (answer(429), OutcomeKind.RETRY),
        (answer(404, b"no such issuer"), OutcomeKind.PERMANENT),
        (answer(200, b"<html>"), OutcomeKind.RETRY),
        (answer(200, {"issuer": ISSUER}), OutcomeKind.RETRY),
    ],
)
def test_discovery_failures_are_named_and_never_cached(discovery: Any, kind: OutcomeKind) -> None:
    cache = DiscoveryCache()
    with pytest.raises(AuthError) as raised:
        drive(grant(cache).renew(0.0), [discovery])
    assert (raised.value.outcome.kind, raised.value.outcome.reason) == (kind, "discovery_failed")
    if discovery.status != 200:
        assert cache.urls == frozenset()


def test_flows_over_one_pool_share_its_cache_and_no_other() -> None:
    class Pool:
        """Stands for a transport: the cache is the pool's, whatever the pool is."""

    first, second = Pool(), Pool()
    assert shared_discovery(first) is shared_discovery(first)
    assert shared_discovery(first) is not shared_discovery(second)
