"""The Genesys GWS adapter against the simulator, over real loopback HTTP.

Each test drives ``GenesysGwsAdapter.send`` (the seam the delivery loop uses) and checks both
the outcome it classified and what the simulator stored or saw on the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
from pydantic import SecretStr

from service.events import Scalar
from service.platforms.base import Delivery
from service.platforms.genesys_gws.adapter import GenesysGwsAdapter
from service.platforms.genesys_gws.settings import GenesysGwsSettings
from service.platforms.genesys_gws.simulator import GwsSimConfig
from service.platforms.outcomes import OutcomeKind
from service.simulators.faults import Sleep
from service.tenant_fields import FieldMapping
from service.transport import AiohttpTransport
from tests.fixtures.genesys_gws import GWS_PASSWORD, GWS_USERNAME, GwsSim, serve_gws

VALUES: dict[str, Scalar] = {
    "Sentiment": "negative",
    "Score": -0.62,
    "Vip": True,
    "CaseNumber": 4711,
    "AccountRef": 2**40,
}
WIRE = {
    "Sentiment": "negative",
    "Score": "-0.62",
    "Vip": "true",
    "CaseNumber": 4711,
    "AccountRef": "1099511627776",
}
FIELDS = {name: FieldMapping.model_validate({"from": name.lower()}) for name in VALUES}

MakeSim = Callable[..., Awaitable[GwsSim]]


@pytest.fixture
async def make_sim() -> AsyncIterator[MakeSim]:
    async with AsyncExitStack() as stack:

        async def start(sleep: Sleep | None = None, **config: Any) -> GwsSim:
            settings = {"auto_create": False, **config}
            return await stack.enter_async_context(serve_gws(GwsSimConfig(**settings), sleep=sleep))

        yield start


@pytest.fixture
async def sim(make_sim: MakeSim) -> GwsSim:
    started = await make_sim()
    await started.interaction("calls", "call-1")
    return started


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    transport = AiohttpTransport()
    yield transport
    await transport.close()


def settings(sim: GwsSim, **overrides: Any) -> GenesysGwsSettings:
    values: dict[str, Any] = {
        "base_url": sim.url,
        "username": GWS_USERNAME,
        "password": SecretStr(GWS_PASSWORD),
        **overrides,
    }
    return GenesysGwsSettings(**values)


def adapter(sim: GwsSim, transport: AiohttpTransport, **kwargs: Any) -> GenesysGwsAdapter:
    overrides = kwargs.pop("settings", {})
    return GenesysGwsAdapter(settings(sim, **overrides), FIELDS, transport, **kwargs)


def delivery(
    media: str | None = "calls",
    session_id: str | None = "call-1",
    values: dict[str, Scalar] | None = None,
    revision: int = 1,
) -> Delivery:
    ref = {}
    if media is not None:
        ref["media"] = media
    if session_id is not None:
        ref["session_id"] = session_id
    return Delivery(
        tenant="acme",
        interaction_id="call-000001",
        revision=revision,
        ref=ref,
        channel="voice",
        status=None,
        closed_at=None,
        values=VALUES if values is None else values,
    )


# --- happy path and wire format ----------------------------------------------------------------


async def test_opens_a_session_then_updates_user_data_in_wire_types(
    sim: GwsSim, transport: AiohttpTransport
) -> None:
    outcome = await adapter(sim, transport).send(delivery(revision=7))

    assert (outcome.kind, outcome.status) == (OutcomeKind.DELIVERED, 200)
    assert await sim.user_data("calls", "call-1") == WIRE
    get, post = await sim.requests()
    assert (get["method"], get["path"]) == ("GET", "/api/v2/me")
    assert (post["method"], post["path"], post["status"]) == (
        "POST",
        "/api/v2/me/calls/call-1",
        200,
    )
    assert post["json"] == {"operationName": "UpdateUserData", "userData": WIRE}
    headers = post["headers"]
    assert headers["idempotency-key"] == "acme:call-000001:7"
    assert headers["content-type"] == "application/json"
    assert headers["cookie"] == "JSESSIONID=***"
    assert headers["x-csrf-token"] == "***"
    assert "authorization" not in headers
    [event] = await sim.events(min_count=1)
    assert event["data"]["notificationType"] == "AttachedDataChanged"
    assert event["data"]["call"]["userData"] == WIRE


@pytest.mark.parametrize(
    ("media", "session_id"), [("chats", "chat 1#a"), ("smssessions", "0071023821aec011")]
)
async def test_chats_and_sms_sessions_with_encoded_ids(
    sim: GwsSim, transport: AiohttpTransport, media: str, session_id: str
) -> None:
    await sim.interaction(media, session_id)

    outcome = await adapter(sim, transport).send(delivery(media, session_id))

    assert outcome.kind is OutcomeKind.DELIVERED
    assert await sim.user_data(media, session_id) == WIRE
    [event] = await sim.events(min_count=1)
    assert event["data"]["notificationType"] == "PropertiesUpdated"


async def test_one_session_serves_many_writes_and_replays_change_nothing(
    sim: GwsSim, transport: AiohttpTransport
) -> None:
    gws = adapter(sim, transport)

    outcomes = [await gws.send(delivery()) for _ in range(3)]

    assert [o.kind for o in outcomes] == [OutcomeKind.DELIVERED] * 3
    assert len(await sim.session_gets()) == 1
    assert len((await sim.stored("calls", "call-1"))["user_data_pairs"]) == len(WIRE)


async def test_concurrent_first_writes_open_one_session(
    sim: GwsSim, transport: AiohttpTransport
) -> None:
    gws = adapter(sim, transport)

    outcomes = await asyncio.gather(*(gws.send(delivery()) for _ in range(10)))

    assert {o.kind for o in outcomes} == {OutcomeKind.DELIVERED}
    assert len(await sim.session_gets()) == 1


async def test_null_values_are_left_out(sim: GwsSim, transport: AiohttpTransport) -> None:
    outcome = await adapter(sim, transport).send(delivery(values={"A": "x", "B": None}))

    assert outcome.kind is OutcomeKind.DELIVERED
    assert (await sim.posts())[0]["json"]["userData"] == {"A": "x"}


# --- sessions, CSRF and credentials ------------------------------------------------------------


async def test_expired_session_is_reopened_once_and_the_write_retried(
    sim: GwsSim, transport: AiohttpTransport
) -> None:
    gws = adapter(sim, transport)
    assert (await gws.send(delivery())).kind is OutcomeKind.DELIVERED
    await sim.expire_sessions()

    outcome = await gws.send(delivery(revision=2))

    assert outcome.kind is OutcomeKind.DELIVERED
    assert [r["status"] for r in await sim.posts()] == [200, 403, 200]
    assert len(await sim.session_gets()) == 2


async def test_many_writes_refused_at_once_lead_to_one_new_session(
    sim: GwsSim, transport: AiohttpTransport
) -> None:
    gws = adapter(sim, transport)
    assert (await gws.send(delivery())).kind is OutcomeKind.DELIVERED
    await sim.expire_sessions()

    outcomes = await asyncio.gather(*(gws.send(delivery(revision=2)) for _ in range(10)))

    assert {o.kind for o in outcomes} == {OutcomeKind.DELIVERED}
    assert len(await sim.session_gets()) == 2


async def test_a_refusal_arriving_after_the_new_session_keeps_it(
    make_sim: MakeSim, transport: AiohttpTransport
) -> None:
    held, release = asyncio.Event(), asyncio.Event()

    async def hold(_: float) -> None:
        held.set()
        await release.wait()

    sim = await make_sim(sleep=hold)
    await sim.interaction("calls", "call-1")
    gws = adapter(sim, transport)
    assert (await gws.send(delivery())).kind is OutcomeKind.DELIVERED
    await sim.expire_sessions()
    await sim.fault(method="POST", latency_ms=1)  # holds the next write until released

    late = asyncio.create_task(gws.send(delivery(revision=2)))
    await held.wait()
    early = await gws.send(delivery(revision=3))  # refused, reopens, delivers
    release.set()

    assert early.kind is OutcomeKind.DELIVERED
    assert (await late).kind is OutcomeKind.DELIVERED
    assert len(await sim.session_gets()) == 2  # the late refusal did not drop the new session


async def test_a_write_refused_again_after_a_new_session_is_a_permanent_auth_failure(
    sim: GwsSim, transport: AiohttpTransport
) -> None:
    await sim.fault(
        method="POST", path_prefix="/api/v2/me/", status=403, body="Missing or invalid Csrf token"
    )
    await sim.fault(
        method="POST", path_prefix="/api/v2/me/", status=403, body="Missing or invalid Csrf token"
    )

    outcome = await adapter(sim, transport).send(delivery())

    assert (outcome.kind, outcome.reason, outcome.status) == (
        OutcomeKind.PERMANENT,
        "auth_failed",
        403,
    )
    assert outcome.error_class == "AuthError"
    assert len(await sim.posts()) == 2
    assert len(await sim.session_gets()) == 2


async def test_wrong_password_fails_at_the_session_without_writing(
    sim: GwsSim, transport: AiohttpTransport
) -> None:
    wrong = {"password": SecretStr("wrong")}

    outcome = await adapter(sim, transport, settings=wrong).send(delivery())

    assert (outcome.kind, outcome.reason, outcome.status) == (
        OutcomeKind.PERMANENT,
        "auth_failed",
        401,
    )
    assert GWS_PASSWORD not in (outcome.excerpt or "")
    assert await sim.posts() == []


async def test_password_rotated_mid_session_fails_then_recovers_once_restored(
    sim: GwsSim, transport: AiohttpTransport
) -> None:
    gws = adapter(sim, transport)
    assert (await gws.send(delivery())).kind is OutcomeKind.DELIVERED
    await sim.set_user(GWS_USERNAME, "rotated")

    refused = await gws.send(delivery(revision=2))
    await sim.set_user(GWS_USERNAME, GWS_PASSWORD)
    recovered = await gws.send(delivery(revision=3))

    assert (refused.kind, refused.reason) == (OutcomeKind.PERMANENT, "auth_failed")
    assert recovered.kind is OutcomeKind.DELIVERED
    assert [r["status"] for r in await sim.posts()] == [200, 401, 200]


async def test_password_change_demanded_is_permanent_and_named(
    sim: GwsSim, transport: AiohttpTransport
) -> None:
    await sim.set_user(GWS_USERNAME, GWS_PASSWORD, password_change_required=True)

    outcome = await adapter(sim, transport).send(delivery())

    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, "password_change_required")
    assert outcome.error_class == "AuthError"


async def test_without_csrf_protection_writes_go_without_the_header(
    make_sim: MakeSim, transport: AiohttpTransport
) -> None:
    sim = await make_sim(csrf_protection=False)
    await sim.interaction("calls", "call-1")

    outcome = await adapter(sim, transport).send(delivery())

    assert outcome.kind is OutcomeKind.DELIVERED
    [post] = await sim.posts()
    assert "x-csrf-token" not in post["headers"]
    assert post["headers"]["cookie"] == "JSESSIONID=***"


async def test_custom_csrf_header_and_lb_cookie_are_kept(
    make_sim: MakeSim, transport: AiohttpTransport
) -> None:
    sim = await make_sim(csrf_header_name="X-GWS-CSRF", lb_cookie="GWSLB")
    await sim.interaction("calls", "call-1")

    outcome = await adapter(sim, transport).send(delivery())

    assert outcome.kind is OutcomeKind.DELIVERED
    [post] = await sim.posts()
    assert post["headers"]["x-gws-csrf"] == "***"
    assert sorted(post["headers"]["cookie"].split("; ")) == ["GWSLB=***", "JSESSIONID=***"]


# --- outcome table -----------------------------------------------------------------------------


@pytest.mark.parametrize(("media", "end"), [("calls", "release"), ("chats", "complete")])
async def test_ended_interaction_is_a_closed_write_window(
    sim: GwsSim, transport: AiohttpTransport, media: str, end: str
) -> None:
    await sim.interaction(media, "x-1")
    await sim.control.post(f"/_sim/interactions/{media}/x-1/{end}")

    outcome = await adapter(sim, transport).send(delivery(media, "x-1"))

    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, "write_window_closed")
    assert await sim.user_data(media, "x-1") == {}


@pytest.mark.parametrize("owner", [None, "someone-else"])
async def test_unknown_or_foreign_interaction_is_not_found(
    sim: GwsSim, transport: AiohttpTransport, owner: str | None
) -> None:
    if owner is not None:
        await sim.set_user(owner, "pw")
        await sim.interaction("calls", "call-9", agent=owner)

    outcome = await adapter(sim, transport).send(delivery("calls", "call-9"))

    assert (outcome.kind, outcome.reason, outcome.status) == (
        OutcomeKind.PERMANENT,
        "not_found",
        404,
    )


@pytest.mark.parametrize(
    ("code", "reason"), [(4, "gws_internal_error"), (9, "gws_processing_incomplete")]
)
async def test_transient_status_codes_retry_and_then_deliver(
    sim: GwsSim, transport: AiohttpTransport, code: int, reason: str
) -> None:
    await sim.inject_status_code(code)
    gws = adapter(sim, transport)

    first = await gws.send(delivery())
    second = await gws.send(delivery())

    assert (first.kind, first.reason) == (OutcomeKind.RETRY, reason)
    assert second.kind is OutcomeKind.DELIVERED


async def test_other_status_codes_are_permanent_and_named(
    sim: GwsSim, transport: AiohttpTransport
) -> None:
    await sim.inject_status_code(5, http_status=403)

    outcome = await adapter(sim, transport).send(delivery())

    assert (outcome.kind, outcome.reason, outcome.status) == (
        OutcomeKind.PERMANENT,
        "permission_denied",
        403,
    )
    assert outcome.excerpt is not None
    assert "statusCode" in outcome.excerpt


@pytest.mark.parametrize(("status", "retry_after"), [(500, None), (503, "4"), (429, "3")])
async def test_http_trouble_without_a_gws_body_is_transient(
    sim: GwsSim, transport: AiohttpTransport, status: int, retry_after: str | None
) -> None:
    rule: dict[str, Any] = {"method": "POST", "status": status, "body": "gateway says no"}
    if retry_after:
        rule["retry_after"] = retry_after
    await sim.fault(**rule)
    gws = adapter(sim, transport)

    first = await gws.send(delivery())

    assert (first.kind, first.reason, first.status) == (OutcomeKind.RETRY, f"http_{status}", status)
    assert first.retry_after == (float(retry_after) if retry_after else None)
    assert (await gws.send(delivery())).kind is OutcomeKind.DELIVERED


async def test_a_2xx_without_status_code_is_retried(
    sim: GwsSim, transport: AiohttpTransport
) -> None:
    await sim.fault(method="POST", status=200, body={"ok": True})
    gws = adapter(sim, transport)

    first = await gws.send(delivery())

    assert (first.kind, first.reason, first.status) == (OutcomeKind.RETRY, "unreadable_answer", 200)
    assert (await gws.send(delivery())).kind is OutcomeKind.DELIVERED


async def test_session_outage_is_transient(sim: GwsSim, transport: AiohttpTransport) -> None:
    await sim.fault(method="GET", path_prefix="/api/v2/me", status=503)
    gws = adapter(sim, transport)

    first = await gws.send(delivery())

    assert (first.kind, first.reason) == (OutcomeKind.RETRY, "http_503")
    assert await sim.posts() == []
    assert (await gws.send(delivery())).kind is OutcomeKind.DELIVERED


async def test_wrong_base_url_is_a_permanent_endpoint_error(
    sim: GwsSim, transport: AiohttpTransport
) -> None:
    wrong = {"base_url": sim.url + "/gws"}

    outcome = await adapter(sim, transport, settings=wrong).send(delivery())

    assert (outcome.kind, outcome.reason, outcome.status) == (
        OutcomeKind.PERMANENT,
        "endpoint_not_found",
        404,
    )


@pytest.mark.parametrize(
    ("media", "session_id", "reason"),
    [
        (None, "call-1", "missing_routing"),
        ("calls", None, "missing_routing"),
        ("emails", "e-1", "channel_not_supported"),
    ],
)
async def test_unroutable_deliveries_are_permanent_without_any_call(
    sim: GwsSim, transport: AiohttpTransport, media: str | None, session_id: str | None, reason: str
) -> None:
    outcome = await adapter(sim, transport).send(delivery(media, session_id))

    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, reason)
    assert await sim.requests() == []


async def test_timeouts_and_refused_connections_are_transient(
    sim: GwsSim, transport: AiohttpTransport
) -> None:
    gws = adapter(sim, transport, timeout=0.5)
    assert (await gws.send(delivery())).kind is OutcomeKind.DELIVERED  # session open
    await sim.fault(method="POST", latency_ms=2000, status=200, body={"statusCode": 0})

    slow = await gws.send(delivery())
    gone = adapter(sim, transport, settings={"base_url": "http://127.0.0.1:9"})
    refused = await gone.send(delivery())

    assert (slow.kind, slow.reason, slow.error_class) == (
        OutcomeKind.RETRY,
        "timeout",
        "TransportError",
    )
    assert (refused.kind, refused.reason) == (OutcomeKind.RETRY, "connection")


def test_adapter_declares_platform_and_live_write_window() -> None:
    assert GenesysGwsAdapter.platform == "genesys-gws"
    assert GenesysGwsAdapter.write_window == "live"
