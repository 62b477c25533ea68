"""The NICE CXone login driven with canned answers: token endpoint, token, then the API host."""

from __future__ import annotations

from typing import Any

import pytest

from service.auth import AuthError, DiscoveryCache
from service.platforms.nice_cxone.login import CxoneLogin, tenant_id_of
from service.platforms.outcomes import OutcomeKind
from service.transport import HttpRequest
from tests.unit.auth_support import answer, drive, jwt

ISSUER = "https://cxone.example"
TENANT = "11111111-2222-3333-4444-555555555555"
OPENID_OK = answer(200, {"token_endpoint": ISSUER + "/auth/token"})
HOST_OK = answer(200, {"api_endpoint": "https://api-na1.example"})


def login(cache: DiscoveryCache | None = None, **options: Any) -> CxoneLogin:
    return CxoneLogin(
        ISSUER,
        "app",
        "cs",
        "key",
        "ks",
        discovery=cache if cache is not None else DiscoveryCache(),
        **options,
    )


def token(access_token: str, **extra: Any) -> Any:
    return answer(200, {"access_token": access_token, "expires_in": 3600, **extra})


def test_discovers_the_token_endpoint_then_the_api_host_of_the_tokens_tenant() -> None:
    flow = login()
    requests = drive(flow.renew(0.0), [OPENID_OK, token(jwt({"tenantId": TENANT})), HOST_OK])
    assert [r.url for r in requests] == [
        ISSUER + "/.well-known/openid-configuration",
        ISSUER + "/auth/token",
        ISSUER + f"/.well-known/cxone-configuration?tenantId={TENANT}",
    ]
    assert flow.api_base == "https://api-na1.example"
    put = flow.apply(HttpRequest("PUT", flow.api_base + "/x"))
    assert put.headers["Authorization"] == "Bearer " + jwt({"tenantId": TENANT})


def test_an_opaque_access_token_leaves_the_tenant_id_to_the_id_token() -> None:
    answer_ = token("opaque-ref", id_token=jwt({"tenantId": TENANT}))
    requests = drive(login().renew(0.0), [OPENID_OK, answer_, HOST_OK])
    assert requests[-1].url.endswith(f"tenantId={TENANT}")


def test_an_area_without_an_api_endpoint_names_the_host() -> None:
    flow = login()
    drive(
        flow.renew(0.0), [OPENID_OK, token(jwt({"tenantId": TENANT})), answer(200, {"area": "eu1"})]
    )
    assert flow.api_base == "https://api-eu1.niceincontact.com"


def test_a_configured_api_base_skips_host_discovery() -> None:
    flow = login(api_base_url="http://127.0.0.1:1")
    requests = drive(flow.renew(0.0), [OPENID_OK, token("opaque")])
    assert len(requests) == 2
    assert flow.api_base == "http://127.0.0.1:1"


def test_tenants_sharing_an_issuer_and_a_cxone_tenant_fetch_each_document_once() -> None:
    cache = DiscoveryCache()
    drive(login(cache).renew(0.0), [OPENID_OK, token(jwt({"tenantId": TENANT})), HOST_OK])
    second = login(cache)
    [only] = drive(second.renew(1.0), [token(jwt({"tenantId": TENANT}))])
    assert only.url == ISSUER + "/auth/token"
    assert second.api_base == "https://api-na1.example"


def test_no_tenant_id_anywhere_is_permanent() -> None:
    with pytest.raises(AuthError) as raised:
        drive(login().renew(0.0), [OPENID_OK, token("opaque")])
    outcome = raised.value.outcome
    assert (outcome.kind, outcome.reason, outcome.error_class) == (
        OutcomeKind.PERMANENT,
        "discovery_failed",
        "AuthError",
    )


def test_a_host_document_without_a_host_is_transient_and_keeps_no_token() -> None:
    flow = login()
    with pytest.raises(AuthError) as raised:
        drive(flow.renew(0.0), [OPENID_OK, token(jwt({"tenantId": TENANT})), answer(200, {})])
    assert (raised.value.outcome.kind, raised.value.outcome.reason) == (
        OutcomeKind.RETRY,
        "discovery_failed",
    )
    assert flow.stale(0.0)


@pytest.mark.parametrize(
    ("access_token", "id_token", "expected"),
    [
        (jwt({"tenantId": "t-access"}), None, "t-access"),
        (jwt({"tenantId": "t-access"}), jwt({"tenantId": "t-id"}), "t-access"),
        ("opaque-reference", jwt({"tenantId": "t-id"}), "t-id"),
        ("opaque.with.dots", jwt({"tenantId": "t-id"}), "t-id"),
        (jwt({"sub": "user"}), jwt({"tenantId": "t-id"}), "t-id"),
        ("opaque-reference", None, None),
        ("opaque-reference", "also-opaque", None),
        ("opaque-reference", jwt({"sub": "user"}), None),
        ("a.!!!.c", "opaque", None),
        (jwt({"sub": "x"}), jwt({"tenantId": ""}), None),
    ],
)
def test_the_tenant_id_comes_from_the_access_token_else_the_id_token(
    access_token: str, id_token: str | None, expected: str | None
) -> None:
    assert tenant_id_of(access_token, id_token) == expected
