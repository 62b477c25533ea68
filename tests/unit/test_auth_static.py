"""Credentials that travel unchanged on every request."""

from __future__ import annotations

import base64

from service.auth import ApiKeyHeader, BasicAuth, BearerToken
from service.transport import HttpRequest, HttpResponse
from tests.unit.auth_support import drive

REQUEST = HttpRequest("POST", "https://vendor.example/x", {"authorization": "old", "A": "1"}, b"{}")


def test_basic_sends_base64_of_user_colon_password_in_utf8() -> None:
    applied = BasicAuth("tenant", "pä:ss").apply(REQUEST)
    scheme, _, encoded = applied.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == "tenant:pä:ss"
    assert "authorization" not in applied.headers  # replaced whatever its case
    assert (applied.headers["A"], applied.body, applied.url) == ("1", b"{}", REQUEST.url)


def test_bearer_from_a_secret_and_an_api_key_header() -> None:
    assert BearerToken("s3cret").apply(REQUEST).headers["Authorization"] == "Bearer s3cret"
    assert ApiKeyHeader("X-Api-Key", "k3y").apply(REQUEST).headers["X-Api-Key"] == "k3y"


def test_basic_and_an_api_key_go_together() -> None:
    both = BasicAuth("u", "p") & ApiKeyHeader("X-Api-Key", "k3y")
    headers = both.apply(REQUEST).headers
    assert headers["Authorization"].startswith("Basic ")
    assert headers["X-Api-Key"] == "k3y"


def test_static_credentials_never_renew_and_leave_refusals_to_the_adapter() -> None:
    for credential in (BasicAuth("u", "p"), BearerToken("t"), ApiKeyHeader("K", "v")):
        assert not credential.stale(0.0)
        assert drive(credential.renew(0.0), []) == []
        assert not credential.rejected(HttpResponse(401, {}, b""))


def test_repr_names_the_scheme_never_the_secret() -> None:
    credentials = [BasicAuth("u", "pw-123"), BearerToken("tok-123"), ApiKeyHeader("K", "key-123")]
    for credential in credentials:
        assert "123" not in repr(credential)
    assert "123" not in repr(credentials[0] & credentials[2])
