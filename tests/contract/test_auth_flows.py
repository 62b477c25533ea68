"""Authentication flows over real loopback HTTP against the NICE CXone and Genesys GWS
simulators, driven by the runner the adapters use."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import orjson
import pytest

from service.auth import (
    Authenticator,
    AuthError,
    BasicAuth,
    DiscoveryCache,
    SessionCookie,
)
from service.auth.runner import SharedGets
from service.http_server import AppServer
from service.platforms.genesys_gws.wire import classify, is_session_refusal
from service.platforms.nice_cxone.login import CxoneLogin
from service.platforms.nice_cxone.simulator import AccessKey, NiceSimConfig, create_app
from service.platforms.outcomes import OutcomeKind
from service.transport import AiohttpTransport, HttpRequest, HttpResponse
from tests.fixtures.genesys_gws import GWS_PASSWORD, GWS_USERNAME, GwsSim, serve_gws
from tests.fixtures.nice import NICE_TENANT_ID, Sim

CONTACT = "/business-data-manager/v1/business-data/contact/8675309"


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    transport = AiohttpTransport()
    yield transport
    await transport.close()


@pytest.fixture
async def nice() -> AsyncIterator[Sim]:
    config = NiceSimConfig(
        clients={"app": "app-secret"},
        access_keys={
            f"key-{i}": AccessKey(secret="key-secret", tenant_id=NICE_TENANT_ID) for i in range(20)
        },
        field_catalogue={"Sentiment"},
    )
    async with (
        AppServer(create_app(config)) as server,
        httpx.AsyncClient(base_url=server.url) as control,
    ):
        sim = Sim(server.url, control)
        await sim.contact("8675309")
        yield sim


def cxone(nice: Sim, transport: AiohttpTransport, key: str = "key-0") -> Authenticator:
    login = CxoneLogin(nice.url, "app", "app-secret", key, "key-secret", discovery=DiscoveryCache())
    return Authenticator(login, transport, timeout=5.0, shared_gets=SharedGets())


def put(auth: Authenticator) -> HttpRequest:
    login = auth.credential
    assert isinstance(login, CxoneLogin)
    body = orjson.dumps([{"Sentiment": "negative"}])
    return HttpRequest("PUT", login.api_base + CONTACT, {"Content-Type": "application/json"}, body)


async def test_cxone_discovers_logs_in_and_writes_with_its_token(
    nice: Sim, transport: AiohttpTransport
) -> None:
    auth = cxone(nice, transport)
    await auth.ready()
    response = await auth.send(put(auth))
    assert response.status == 204
    assert await nice.fields("8675309") == {"Sentiment": "negative"}
    assert [len(await nice.requests(p)) for p in ("openid", "cxone-conf", "/auth/token")] == [
        1,
        1,
        1,
    ]


async def test_cxone_token_revoked_mid_run_is_renewed_once_for_many_calls(
    nice: Sim, transport: AiohttpTransport
) -> None:
    auth = cxone(nice, transport)
    await auth.ready()
    assert (await auth.send(put(auth))).status == 204
    await nice.control.post("/_sim/tokens/expire")

    responses = await asyncio.gather(*(auth.send(put(auth)) for _ in range(30)))

    assert {r.status for r in responses} == {204}
    assert len(await nice.requests("/auth/token")) == 2


async def test_cxone_tenants_sharing_an_issuer_fetch_its_documents_once(
    nice: Sim, transport: AiohttpTransport
) -> None:
    cache, shared = DiscoveryCache(), SharedGets()
    tenants = [
        Authenticator(
            CxoneLogin(nice.url, "app", "app-secret", f"key-{i}", "key-secret", discovery=cache),
            transport,
            shared_gets=shared,
        )
        for i in range(20)
    ]
    await asyncio.gather(*(auth.ready() for auth in tenants))
    assert len(await nice.requests("openid-configuration")) == 1
    assert len(await nice.requests("cxone-configuration")) == 1
    assert len(await nice.requests("/auth/token")) == 20


async def test_cxone_refused_credentials_fail_with_the_named_reason(
    nice: Sim, transport: AiohttpTransport
) -> None:
    login = CxoneLogin(nice.url, "app", "wrong", "key-0", "key-secret", discovery=DiscoveryCache())
    with pytest.raises(AuthError) as raised:
        await Authenticator(login, transport).send(HttpRequest("GET", nice.url + "/x"))
    assert (raised.value.outcome.kind, raised.value.outcome.reason) == (
        OutcomeKind.PERMANENT,
        "invalid_client",
    )
    assert "wrong" not in (raised.value.outcome.excerpt or "")


# --- GWS: a session with cookies and CSRF ------------------------------------------------------


@pytest.fixture
async def gws() -> AsyncIterator[GwsSim]:
    async with serve_gws() as sim:
        await sim.interaction("calls", "call-1")
        yield sim


def gws_login_failure(response: HttpResponse) -> AuthError | None:
    outcome = classify(response, datetime.now(UTC))
    return None if outcome.kind is OutcomeKind.DELIVERED else AuthError(outcome)


def gws_session(gws: GwsSim, transport: AiohttpTransport, password: str) -> Authenticator:
    session = SessionCookie(
        gws.url + "/api/v2/me",
        BasicAuth(GWS_USERNAME, password),
        login_failure=gws_login_failure,
        refused=is_session_refusal,
    )
    return Authenticator(session, transport, timeout=5.0)


def update(gws: GwsSim, value: str) -> HttpRequest:
    body = orjson.dumps({"operationName": "UpdateUserData", "userData": {"Sentiment": value}})
    url = gws.url + "/api/v2/me/calls/call-1"
    return HttpRequest("POST", url, {"Content-Type": "application/json"}, body)


async def test_gws_session_carries_cookie_and_csrf_and_is_reopened_once_after_expiry(
    gws: GwsSim, transport: AiohttpTransport
) -> None:
    auth = gws_session(gws, transport, GWS_PASSWORD)
    assert (await auth.send(update(gws, "a"))).status == 200
    await gws.expire_sessions()

    responses = await asyncio.gather(*(auth.send(update(gws, "b")) for _ in range(10)))

    assert {r.status for r in responses} == {200}
    assert (await gws.user_data("calls", "call-1"))["Sentiment"] == "b"
    assert len(await gws.session_gets()) == 2


async def test_gws_wrong_password_fails_at_the_session_without_writing(
    gws: GwsSim, transport: AiohttpTransport
) -> None:
    with pytest.raises(AuthError) as raised:
        await gws_session(gws, transport, "wrong").send(update(gws, "a"))
    assert (raised.value.outcome.kind, raised.value.outcome.reason) == (
        OutcomeKind.PERMANENT,
        "auth_failed",
    )
    assert await gws.posts() == []
