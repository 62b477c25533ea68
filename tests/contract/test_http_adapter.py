"""The generic HTTP adapter against its simulator, over real loopback HTTP: what it sends where,
and how it classifies what comes back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from service.http_server import AppServer
from service.platforms.base import Delivery
from service.platforms.http.adapter import HttpAdapter, sender_for
from service.platforms.http.settings import HttpSettings
from service.platforms.http.simulator import (
    DEV_BEARER_TOKEN,
    DEV_CLIENT_ID,
    DEV_CLIENT_SECRET,
    DEV_PASSWORD,
    DEV_USERNAME,
    TOKEN_PATH,
    HttpSimConfig,
    create_app,
)
from service.platforms.outcomes import OutcomeKind
from service.transport import AiohttpTransport
from tests.fixtures.http_endpoint import HttpSim


@pytest.fixture
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[HttpSim]:
    config = HttpSimConfig(**getattr(request, "param", {}))
    async with (
        AppServer(create_app(config)) as server,
        httpx.AsyncClient(base_url=server.url) as control,
    ):
        yield HttpSim(server.url, control)


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    transport = AiohttpTransport()
    yield transport
    await transport.close()


def settings(sim: HttpSim, **overrides: Any) -> HttpSettings:
    values: dict[str, Any] = {
        "base_url": sim.url + "/api",
        "method": "PUT",
        "path": "/contacts/{ref.contact_id}/data?interaction={interaction_id}",
        "auth": {"type": "none"},
        **overrides,
    }
    return HttpSettings.model_validate(values)


def adapter(sim: HttpSim, transport: AiohttpTransport, **overrides: Any) -> HttpAdapter:
    configured = settings(sim, **overrides)
    return HttpAdapter(configured, sender_for(configured, transport, 5.0))


def delivery(contact_id: str = "c-1", closed_ago: timedelta = timedelta(hours=1)) -> Delivery:
    return Delivery(
        tenant="acme",
        interaction_id="call/1",
        revision=2,
        ref={"contact_id": contact_id},
        channel="voice",
        status=None,
        closed_at=datetime.now(UTC) - closed_ago,
        values={"Sentiment": "negative", "Score": -0.62, "Vip": True},
    )


async def test_writes_the_fields_where_the_template_says(
    sim: HttpSim, transport: AiohttpTransport
) -> None:
    outcome = await adapter(sim, transport).send(delivery())
    assert (outcome.kind, outcome.status) == (OutcomeKind.DELIVERED, 204)
    [write] = await sim.accepted()
    assert (write["method"], write["path"]) == ("PUT", "/api/contacts/c-1/data")
    assert parse_qs(write["query"]) == {"interaction": ["call/1"]}
    assert write["fields"] == {"Sentiment": "negative", "Score": -0.62, "Vip": True}
    assert write["idempotency_key"] == "acme:call/1:2"


@pytest.mark.parametrize(
    "sim",
    [{"body_shape": "pairs", "under": "variables", "name_key": "key", "value_key": "val"}],
    indirect=True,
)
async def test_a_pairs_body_under_a_key_with_members(
    sim: HttpSim, transport: AiohttpTransport
) -> None:
    body = {
        "shape": "pairs",
        "under": "variables",
        "name_key": "key",
        "value_key": "val",
        "members": {"contact": "{ref.contact_id}"},
    }
    outcome = await adapter(sim, transport, body=body, method="POST").send(delivery())
    assert outcome.kind is OutcomeKind.DELIVERED
    assert await sim.stored("/api/contacts/c-1/data") == {
        "Sentiment": "negative",
        "Score": -0.62,
        "Vip": True,
    }
    [logged] = await sim.requests()
    assert logged["json"]["contact"] == "c-1"


@pytest.mark.parametrize(
    "hostile",
    [
        "a/b",
        "../../admin",
        "user@evil.example",
        "x?admin=1",
        "x#frag",
        "%2F",
        "%2E%2E",
        "https://evil.example/steal",
    ],
)
async def test_an_id_cannot_steer_the_call_on_the_wire(
    sim: HttpSim, transport: AiohttpTransport, hostile: str
) -> None:
    """What the server received: one record at one path under ``/api/contacts/``, holding
    the id as it was sent, whatever the id's characters."""
    outcome = await adapter(sim, transport, path="/contacts/{ref.contact_id}").send(
        delivery(hostile)
    )
    assert outcome.kind is OutcomeKind.DELIVERED
    [write] = await sim.accepted()
    assert write["query"] == ""
    [path] = await sim.records()
    assert path.startswith("/api/contacts/")
    assert path.count("/") == 3
    assert httpx.URL(sim.url + path).raw_path.decode().startswith("/api/contacts/")
    [logged] = await sim.requests()
    assert logged["headers"]["host"] == sim.url.removeprefix("http://")


@pytest.mark.parametrize("hostile", [".", ".."])
async def test_a_path_step_as_an_id_is_refused_without_a_call(
    sim: HttpSim, transport: AiohttpTransport, hostile: str
) -> None:
    outcome = await adapter(sim, transport).send(delivery(hostile))
    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, "invalid_routing")
    assert await sim.requests() == []


OUTCOMES = [
    {"status": 404, "outcome": "retry", "reason": "not_found_indexing", "until_after_close": "10m"},
    {"status": 404, "outcome": "permanent", "reason": "not_found"},
    {"status": 409, "outcome": "permanent", "reason": "write_window_closed"},
]


@pytest.mark.parametrize(
    ("status", "closed_ago", "kind", "reason"),
    [
        (404, timedelta(minutes=1), OutcomeKind.RETRY, "not_found_indexing"),
        (404, timedelta(hours=1), OutcomeKind.PERMANENT, "not_found"),
        (409, timedelta(hours=1), OutcomeKind.PERMANENT, "write_window_closed"),
        (422, timedelta(hours=1), OutcomeKind.PERMANENT, "http_422"),
    ],
)
async def test_refusals_go_through_the_tenants_outcome_table(
    sim: HttpSim,
    transport: AiohttpTransport,
    status: int,
    closed_ago: timedelta,
    kind: OutcomeKind,
    reason: str,
) -> None:
    await sim.refuse("/api/contacts/c-1/data", status)
    outcome = await adapter(sim, transport, outcomes=OUTCOMES).send(delivery("c-1", closed_ago))
    assert (outcome.kind, outcome.reason, outcome.status) == (kind, reason, status)


async def test_retry_after_is_honoured_from_a_throttling_answer(
    sim: HttpSim, transport: AiohttpTransport
) -> None:
    await sim.fault(path_prefix="/api", status=429, retry_after="2")
    outcome = await adapter(sim, transport).send(delivery())
    assert (outcome.kind, outcome.reason, outcome.retry_after) == (OutcomeKind.RETRY, "http_429", 2)


async def test_no_answer_is_a_retry(transport: AiohttpTransport) -> None:
    async with AppServer(create_app()) as server:
        url = server.url
    dead = HttpSim(url, httpx.AsyncClient())
    outcome = await adapter(dead, transport).send(delivery())
    assert outcome.kind is OutcomeKind.RETRY
    assert outcome.got_no_answer
    await dead.control.aclose()


def client_credentials(sim: HttpSim, **overrides: Any) -> dict[str, Any]:
    return {
        "type": "client_credentials",
        "token_url": sim.url + TOKEN_PATH,
        "client_id": DEV_CLIENT_ID,
        "client_secret": DEV_CLIENT_SECRET,
        **overrides,
    }


async def writes(sim: HttpSim) -> list[int]:
    return [r["status"] for r in await sim.requests() if r["path"].startswith("/api")]


async def token_requests(sim: HttpSim) -> list[dict[str, Any]]:
    return [r for r in await sim.requests() if r["path"] == TOKEN_PATH]


@pytest.mark.parametrize(
    ("sim", "auth"),
    [
        ({"auth": "basic"}, {"type": "basic", "username": DEV_USERNAME, "password": DEV_PASSWORD}),
        ({"auth": "bearer"}, {"type": "bearer", "token": DEV_BEARER_TOKEN}),
    ],
    indirect=["sim"],
)
async def test_static_credentials_are_sent_and_a_refusal_is_final(
    sim: HttpSim, transport: AiohttpTransport, auth: dict[str, str]
) -> None:
    assert (await adapter(sim, transport, auth=auth).send(delivery())).kind is (
        OutcomeKind.DELIVERED
    )
    secret = "password" if auth["type"] == "basic" else "token"
    wrong = adapter(sim, transport, auth=auth | {secret: "wrong"})
    outcome = await wrong.send(delivery())
    assert (outcome.kind, outcome.reason, outcome.status) == (
        OutcomeKind.PERMANENT,
        "auth_failed",
        401,
    )
    assert await writes(sim) == [204, 401], "nothing to renew: one call, no retry"


@pytest.mark.parametrize("sim", [{"auth": "client_credentials"}], indirect=True)
@pytest.mark.parametrize("client_auth", ["basic", "body"])
async def test_a_client_credentials_token_is_reused_and_renewed_once_on_a_401(
    sim: HttpSim, transport: AiohttpTransport, client_auth: str
) -> None:
    crm = adapter(sim, transport, auth=client_credentials(sim, client_auth=client_auth))
    for _ in range(3):
        assert (await crm.send(delivery())).kind is OutcomeKind.DELIVERED
    assert len(await token_requests(sim)) == 1
    await sim.control.post("/_sim/tokens/expire")
    assert (await crm.send(delivery())).kind is OutcomeKind.DELIVERED
    assert await writes(sim) == [204, 204, 204, 401, 204]
    [first, *_] = await token_requests(sim)
    assert first["form"]["grant_type"] == "client_credentials"
    assert len(await token_requests(sim)) == 2


@pytest.mark.parametrize("sim", [{"auth": "client_credentials"}], indirect=True)
async def test_many_writes_with_no_token_yet_cause_one_token_request(
    sim: HttpSim, transport: AiohttpTransport
) -> None:
    crm = adapter(sim, transport, auth=client_credentials(sim))
    outcomes = await asyncio.gather(*(crm.send(delivery(f"c-{n}")) for n in range(20)))
    assert {o.kind for o in outcomes} == {OutcomeKind.DELIVERED}
    assert len(await token_requests(sim)) == 1


@pytest.mark.parametrize("sim", [{"auth": "client_credentials"}], indirect=True)
async def test_a_refused_client_is_permanent_and_writes_nothing(
    sim: HttpSim, transport: AiohttpTransport
) -> None:
    crm = adapter(sim, transport, auth=client_credentials(sim, client_secret="wrong"))
    outcome = await crm.send(delivery())
    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, "invalid_client")
    assert "wrong" not in (outcome.excerpt or "")
    assert await writes(sim) == []


@pytest.mark.parametrize("sim", [{"auth": "client_credentials"}], indirect=True)
async def test_a_token_endpoint_outage_is_a_retry(
    sim: HttpSim, transport: AiohttpTransport
) -> None:
    await sim.fault(path_prefix=TOKEN_PATH, status=503)
    crm = adapter(sim, transport, auth=client_credentials(sim))
    outcome = await crm.send(delivery())
    assert outcome.kind is OutcomeKind.RETRY
    assert await writes(sim) == []
    assert (await crm.send(delivery())).kind is OutcomeKind.DELIVERED


@pytest.mark.parametrize("sim", [{"auth": "client_credentials"}], indirect=True)
async def test_a_second_401_after_a_renewal_is_a_permanent_auth_failure(
    sim: HttpSim, transport: AiohttpTransport
) -> None:
    await sim.fault(path_prefix="/api", status=401, times=2)
    outcome = await adapter(sim, transport, auth=client_credentials(sim)).send(delivery())
    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, "auth_failed")
    assert await writes(sim) == [401, 401], "one renewal and one retry, never a loop"
    assert len(await token_requests(sim)) == 2
