"""The NICE CXone adapter against the simulator, over real loopback HTTP.

Each test drives ``NiceCxoneAdapter.send`` (the seam the delivery loop uses) and checks both
the outcome it classified and what the simulator stored or saw on the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from service.http_server import AppServer
from service.platforms.base import Delivery
from service.platforms.nice_cxone.adapter import NiceCxoneAdapter
from service.platforms.nice_cxone.settings import NiceCxoneSettings
from service.platforms.nice_cxone.simulator import AccessKey, NiceSimConfig, create_app
from service.platforms.outcomes import OutcomeKind
from service.transport import AiohttpTransport
from tests.fixtures.nice import NICE_TENANT_ID, Sim

TENANT_ID = NICE_TENANT_ID


def sim_config(**overrides: Any) -> NiceSimConfig:
    keys = {
        "key-ok": AccessKey(secret="key-secret", tenant_id=TENANT_ID),
        "key-readonly": AccessKey(secret="ro-secret", tenant_id=TENANT_ID, permissions=set()),
    }
    return NiceSimConfig(
        clients={"app": "app-secret"},
        access_keys=keys,
        field_catalogue={"Sentiment", "Score", "Vip"},
        **overrides,
    )


@pytest.fixture
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[Sim]:
    marker = request.node.get_closest_marker("sim")
    config = sim_config(**(marker.kwargs if marker else {}))
    async with (
        AppServer(create_app(config)) as server,
        httpx.AsyncClient(base_url=server.url) as control,
    ):
        yield Sim(server.url, control)


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    transport = AiohttpTransport()
    yield transport
    await transport.close()


def settings(sim: Sim, **overrides: Any) -> NiceCxoneSettings:
    values: dict[str, Any] = {
        "issuer": sim.url,
        "client_id": "app",
        "client_secret": SecretStr("app-secret"),
        "access_key_id": SecretStr("key-ok"),
        "access_key_secret": SecretStr("key-secret"),
        **overrides,
    }
    return NiceCxoneSettings(**values)


def delivery(
    contact_id: str = "8675309", closed_at: datetime | None = None, **ref: str
) -> Delivery:
    return Delivery(
        tenant="acme",
        interaction_id="call-1",
        revision=1,
        ref={"contact_id": contact_id, **ref},
        channel="voice",
        status="Handled",
        closed_at=closed_at or datetime.now(UTC) - timedelta(hours=1),
        values={"Sentiment": "negative", "Score": -0.62, "Vip": True},
    )


async def test_discovers_hosts_gets_a_token_and_writes_every_segment(
    sim: Sim, transport: AiohttpTransport
) -> None:
    await sim.contact("8675309", segments=["seg-a", "seg-b"])
    adapter = NiceCxoneAdapter(settings(sim), transport)
    outcome = await adapter.send(delivery())
    assert (outcome.kind, outcome.status) == (OutcomeKind.DELIVERED, 204)
    expected = {"Sentiment": "negative", "Score": -0.62, "Vip": True}
    assert await sim.stored("8675309") == {"seg-a": expected, "seg-b": expected}
    assert len(await sim.requests("openid-configuration")) == 1
    assert len(await sim.requests("cxone-configuration")) == 1
    assert len(await sim.requests("/auth/token")) == 1
    [put] = await sim.requests("/business-data")
    assert put["json"] == [{"Sentiment": "negative"}, {"Score": -0.62}, {"Vip": True}]
    assert "authorization" not in {k.lower() for k in put["headers"]}


async def test_an_opaque_access_token_leaves_discovery_to_the_id_tokens_tenant_id(
    transport: AiohttpTransport,
) -> None:
    async with (
        AppServer(create_app(sim_config(opaque_access_tokens=True))) as server,
        httpx.AsyncClient(base_url=server.url) as control,
    ):
        sim = Sim(server.url, control)
        await sim.contact("8675309")
        adapter = NiceCxoneAdapter(settings(sim), transport)

        outcome = await adapter.send(delivery())

        assert (outcome.kind, outcome.status) == (OutcomeKind.DELIVERED, 204)
        stored = await sim.fields("8675309")
        assert stored == {"Sentiment": "negative", "Score": -0.62, "Vip": True}
        [discovery] = await sim.requests("cxone-configuration")
        assert discovery["query"] == f"tenantId={TENANT_ID}"


async def test_segment_level_writes_one_segment(sim: Sim, transport: AiohttpTransport) -> None:
    await sim.contact("1", segments=["seg-a", "seg-b"])
    adapter = NiceCxoneAdapter(settings(sim, level="segment"), transport)
    outcome = await adapter.send(delivery("1", segment_id="seg-b"))
    assert outcome.kind is OutcomeKind.DELIVERED
    stored = await sim.stored("1")
    assert stored["seg-a"] == {}
    assert stored["seg-b"]["Sentiment"] == "negative"


async def test_token_is_reused_then_renewed_before_it_expires(
    sim: Sim, transport: AiohttpTransport
) -> None:
    await sim.control.patch("/_sim/config", json={"token_ttl_seconds": 1})
    await sim.contact("1")
    adapter = NiceCxoneAdapter(settings(sim), transport)
    for _ in range(3):
        assert (await adapter.send(delivery("1"))).kind is OutcomeKind.DELIVERED
    assert len(await sim.requests("/auth/token")) == 1
    await asyncio.sleep(0.9)  # past 80% of the lifetime, before expiry
    assert (await adapter.send(delivery("1"))).kind is OutcomeKind.DELIVERED
    assert len(await sim.requests("/auth/token")) == 2
    assert all(r["status"] == 204 for r in await sim.requests("/business-data"))


async def test_a_401_renews_the_token_once_and_delivers(
    sim: Sim, transport: AiohttpTransport
) -> None:
    await sim.contact("1")
    adapter = NiceCxoneAdapter(settings(sim), transport)
    assert (await adapter.send(delivery("1"))).kind is OutcomeKind.DELIVERED
    await sim.control.post("/_sim/tokens/expire")
    outcome = await adapter.send(delivery("1"))
    assert outcome.kind is OutcomeKind.DELIVERED
    statuses = [r["status"] for r in await sim.requests("/business-data")]
    assert statuses == [204, 401, 204]


async def test_a_second_401_is_a_permanent_auth_failure(
    sim: Sim, transport: AiohttpTransport
) -> None:
    await sim.contact("1")
    await sim.fault(path_prefix="/business-data-manager", status=401, times=2)
    outcome = await NiceCxoneAdapter(settings(sim), transport).send(delivery("1"))
    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, "auth_failed")
    assert len(await sim.requests("/business-data")) == 2


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"client_secret": SecretStr("wrong")}, "invalid_client"),
        ({"access_key_secret": SecretStr("wrong")}, "invalid_grant"),
    ],
)
async def test_refused_credentials_are_permanent_and_named(
    sim: Sim, transport: AiohttpTransport, override: dict[str, Any], reason: str
) -> None:
    await sim.contact("1")
    outcome = await NiceCxoneAdapter(settings(sim, **override), transport).send(delivery("1"))
    assert (outcome.kind, outcome.reason, outcome.status) == (OutcomeKind.PERMANENT, reason, 401)
    assert await sim.requests("/business-data") == []


async def test_missing_permission_is_permanent(sim: Sim, transport: AiohttpTransport) -> None:
    await sim.contact("1")
    readonly = settings(
        sim, access_key_id=SecretStr("key-readonly"), access_key_secret=SecretStr("ro-secret")
    )
    outcome = await NiceCxoneAdapter(readonly, transport).send(delivery("1"))
    assert (outcome.kind, outcome.reason, outcome.status) == (
        OutcomeKind.PERMANENT,
        "permission_denied",
        403,
    )


async def test_unknown_field_is_rejected_permanently(sim: Sim, transport: AiohttpTransport) -> None:
    await sim.contact("1")
    bad = Delivery(
        "acme",
        "call-1",
        1,
        {"contact_id": "1"},
        None,
        None,
        datetime.now(UTC) - timedelta(hours=1),
        {"NoSuchField": "x"},
    )
    outcome = await NiceCxoneAdapter(settings(sim), transport).send(bad)
    assert (outcome.kind, outcome.reason, outcome.status) == (
        OutcomeKind.PERMANENT,
        "rejected",
        400,
    )
    assert outcome.excerpt


async def test_unknown_contact_is_lag_soon_after_close_and_permanent_later(
    sim: Sim, transport: AiohttpTransport
) -> None:
    adapter = NiceCxoneAdapter(settings(sim), transport)
    soon = await adapter.send(delivery("404404", closed_at=datetime.now(UTC)))
    late = await adapter.send(delivery("404404", closed_at=datetime.now(UTC) - timedelta(hours=1)))
    assert (soon.kind, soon.reason) == (OutcomeKind.RETRY, "not_found_indexing")
    assert (late.kind, late.reason) == (OutcomeKind.PERMANENT, "not_found")


async def test_open_contact_is_not_written(sim: Sim, transport: AiohttpTransport) -> None:
    await sim.contact("1", state="open")
    outcome = await NiceCxoneAdapter(settings(sim), transport).send(delivery("1"))
    assert outcome.kind is not OutcomeKind.DELIVERED
    assert await sim.stored("1") != {}
    assert all(v == {} for v in (await sim.stored("1")).values())


@pytest.mark.parametrize(("status", "retry_after"), [(500, None), (503, None), (429, "3")])
async def test_vendor_trouble_is_transient_and_carries_retry_after(
    sim: Sim, transport: AiohttpTransport, status: int, retry_after: str | None
) -> None:
    await sim.contact("1")
    rule: dict[str, Any] = {"path_prefix": "/business-data-manager", "status": status}
    if retry_after:
        rule["retry_after"] = retry_after
    await sim.fault(**rule)
    adapter = NiceCxoneAdapter(settings(sim), transport)
    first = await adapter.send(delivery("1"))
    assert (first.kind, first.status) == (OutcomeKind.RETRY, status)
    assert first.retry_after == (float(retry_after) if retry_after else None)
    assert (await adapter.send(delivery("1"))).kind is OutcomeKind.DELIVERED


async def test_timeouts_and_refused_connections_are_transient(
    sim: Sim, transport: AiohttpTransport
) -> None:
    await sim.contact("1")
    adapter = NiceCxoneAdapter(settings(sim), transport, timeout=0.5)
    assert (await adapter.send(delivery("1"))).kind is OutcomeKind.DELIVERED  # token cached
    await sim.fault(path_prefix="/business-data-manager", status=204, latency_ms=2000)
    slow = await adapter.send(delivery("1"))
    assert (slow.kind, slow.reason) == (OutcomeKind.RETRY, "timeout")
    gone = NiceCxoneAdapter(settings(sim, issuer="http://127.0.0.1:9"), transport)
    refused = await gone.send(delivery("1"))
    assert (refused.kind, refused.reason) == (OutcomeKind.RETRY, "connection")


async def test_discovery_outage_is_transient(sim: Sim, transport: AiohttpTransport) -> None:
    await sim.contact("1")
    await sim.fault(path_prefix="/.well-known/openid-configuration", status=503)
    adapter = NiceCxoneAdapter(settings(sim), transport)
    first = await adapter.send(delivery("1"))
    assert (first.kind, first.reason) == (OutcomeKind.RETRY, "discovery_failed")
    assert (await adapter.send(delivery("1"))).kind is OutcomeKind.DELIVERED
