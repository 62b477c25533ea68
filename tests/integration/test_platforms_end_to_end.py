"""Events on the broker to data stored at the Sinch, 8x8 and GWS simulators, through the real
service: after-close platforms hold early analytics until the close; GWS pushes them live."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from service.http_server import AppServer
from service.kafka_admin import ensure_topics
from service.platforms.eight_by_eight.simulator import EightByEightSimConfig
from service.platforms.eight_by_eight.simulator import create_app as create_eight_by_eight_app
from service.platforms.genesys_gws.simulator import create_app as create_genesys_gws_app
from service.platforms.sinch_contact_pro.simulator import SinchSimConfig
from service.platforms.sinch_contact_pro.simulator import create_app as create_sinch_contact_pro_app
from tests.fixtures.eight_by_eight import EIGHT_BY_EIGHT_TENANT_ID, EIGHT_BY_EIGHT_TOKEN
from tests.fixtures.eight_by_eight import Sim as EightByEightSim
from tests.fixtures.genesys_gws import GWS_PASSWORD, GWS_USERNAME, GwsSim
from tests.fixtures.sinch import DEV_API_KEY, DEV_PASSWORD, DEV_USERNAME, SinchSim
from tests.integration.conftest import Running, service_settings, wait_for
from tests.unit.factories import analytics_json, closed_json

pytestmark = pytest.mark.integration

FIELDS = """
    fields:
      {sentiment}: {{from: sentiment.label}}
      {account}: {{from: crm_account{extra}}}
"""


def tenants_yaml(platform: str, block: str, sentiment: str, account: str, extra: str = "") -> str:
    return (
        f"\ntenants:\n  acme:\n    platform: {platform}\n    {platform}:\n"
        + "".join(f"      {line}\n" for line in block.strip().splitlines())
        + "    delivery: {max_attempts: 3, timeout: 5s}\n"
        + FIELDS.format(sentiment=sentiment, account=account, extra=extra)
    )


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Any], Awaitable[tuple[str, httpx.AsyncClient]]]]:
    """Start a simulator app (with its dev defaults) on a loopback port."""
    started: list[tuple[AppServer, httpx.AsyncClient]] = []

    async def start(app: Any) -> tuple[str, httpx.AsyncClient]:
        server = AppServer(app)
        await server.__aenter__()
        control = httpx.AsyncClient(base_url=server.url, timeout=10)
        started.append((server, control))
        return server.url, control

    yield start
    for server, control in started:
        await control.aclose()
        await server.__aexit__(None, None, None)


def events(interaction: str, ref: dict[str, str], **closed: Any) -> tuple[dict[str, Any], ...]:
    early = analytics_json(
        event_id=str(uuid.uuid4()),
        interaction_id=interaction,
        data={"sentiment": {"label": "positive"}},
    )
    close = closed_json(
        event_id=str(uuid.uuid4()),
        interaction_id=interaction,
        ref=ref,
        data={"crm_account": "A-1001"},
        **closed,
    )
    return early, close


def eight_by_eight_tenant(url: str, settings: str = "", extra: str = "") -> str:
    """An 8x8 tenant on the simulator at ``url``, with extra 8x8 ``settings`` lines."""
    block = f"""
base_url: {url}
tenant_id: {EIGHT_BY_EIGHT_TENANT_ID}
action_token: ${{ACTION_TOKEN}}
{settings}
"""
    return tenants_yaml("8x8", block, "_Sentiment", "_Account", extra=extra)


SINCH_ENV = {"SINCH_PASSWORD": DEV_PASSWORD, "SINCH_API_KEY": DEV_API_KEY}


def sinch_tenant(url: str) -> str:
    return tenants_yaml(
        "sinch-contact-pro",
        f"""
base_url: {url}
username: {DEV_USERNAME}
password: ${{SINCH_PASSWORD}}
api_key: ${{SINCH_API_KEY}}
extra_data_for_history: {{voice: ["*"], chat: ["*"]}}
""",
        "Sentiment",
        "CrmAccount",
    )


async def held_once(running: Running, platform: str) -> None:
    async def held() -> bool:
        return running.metric("enricher_held_total", tenant="acme", platform=platform) >= 1

    await wait_for(held, 20, "the early analytics to be held")


async def test_sinch_holds_analytics_until_the_close_then_attaches_everything(
    run_service: Any, serve: Any
) -> None:
    url, control = await serve(create_sinch_contact_pro_app())
    sim = SinchSim(url, control)
    async with run_service(tenants_yaml=sinch_tenant(url), environ=SINCH_ENV) as running:
        await sim.contact("c-1", channel="voice", status="Handled")
        early, close = events("i-1", {"contact_id": "c-1"}, channel="voice", status="Handled")
        await running.analytics(early)
        await held_once(running, "sinch-contact-pro")
        assert await sim.stored("c-1") == {}
        await running.closed(close)

        async def attached() -> bool:
            return await sim.stored("c-1") == {"Sentiment": "positive", "CrmAccount": "A-1001"}

        await wait_for(attached, 20, "the attached data at Sinch")
        [post] = [p for p in await sim.posts() if p["status"] < 300]
        assert post["json"] == {
            "id": "c-1",
            "attachedData": {"Sentiment": "positive", "CrmAccount": "A-1001"},
        }
        assert post["headers"]["idempotency-key"] == "acme:i-1:2"
        assert await running.dead_letters() == []


async def test_sinch_writes_a_contact_whose_status_lags_the_close_instead_of_dead_lettering(
    run_service: Any, serve: Any
) -> None:
    # Sinch still shows the contact connected for 2 s after the close event says WrapUp, and
    # says so in words only: the write must wait it out through the retries, not be dropped.
    lagging = SinchSimConfig(status_lag_seconds=2, refusal_body="error_text")
    url, control = await serve(create_sinch_contact_pro_app(lagging))
    sim = SinchSim(url, control)
    async with run_service(tenants_yaml=sinch_tenant(url), environ=SINCH_ENV) as running:
        await sim.contact("c-5", channel="voice", status="WrapUp")
        _, close = events("i-5", {"contact_id": "c-5"}, channel="voice", status="WrapUp")
        await running.closed(close)

        async def attached() -> bool:
            return await sim.stored("c-5") == {"CrmAccount": "A-1001"}

        await wait_for(attached, 30, "the lagging contact's attached data at Sinch")
        statuses = [p["status"] for p in await sim.posts()]
        assert statuses[0] == 400
        assert statuses[-1] == 201
        assert await running.dead_letters() == []


async def test_an_email_interaction_is_refused_for_sinch_without_a_call(
    run_service: Any, serve: Any
) -> None:
    url, control = await serve(create_sinch_contact_pro_app())
    sim = SinchSim(url, control)
    async with run_service(tenants_yaml=sinch_tenant(url), environ=SINCH_ENV) as running:
        _, close = events("i-2", {"contact_id": "c-2"}, channel="email")
        await running.closed(close)

        async def dead() -> bool:
            return len(await running.dead_letters()) == 1

        await wait_for(dead, 20, "the email interaction in the DLQ")
        [record] = await running.dead_letters()
        assert record.provenance["reason"] == "channel_not_supported"
        assert await sim.posts() == []


async def test_8x8_sets_variables_after_the_close_and_keeps_private_values_out_of_the_dlq(
    run_service: Any, serve: Any
) -> None:
    url, control = await serve(create_eight_by_eight_app())
    sim = EightByEightSim(url, control)
    yaml = eight_by_eight_tenant(url, extra=", privacy: true, display: true, display_name: Account")
    async with run_service(
        tenants_yaml=yaml, environ={"ACTION_TOKEN": EIGHT_BY_EIGHT_TOKEN}
    ) as running:
        await sim.interaction("g-1")
        early, close = events("i-3", {"guid": "g-1"})
        await running.analytics(early)
        await held_once(running, "8x8")
        await running.closed(close)

        async def variables() -> bool:
            return await sim.variables("g-1") == {"_Sentiment": "positive", "_Account": "A-1001"}

        await wait_for(variables, 20, "the variables at 8x8")
        await sim.finish("g-1")  # the interaction ends: 8x8 now answers 404
        _, late = events("i-3", {"guid": "g-1"})
        late["data"] = {"crm_account": "SECRET-ACCOUNT-42"}
        late["occurred_at"] = "2026-11-20T10:30:00Z"
        await running.closed(late)

        async def dead() -> bool:
            return len(await running.dead_letters()) == 1

        await wait_for(dead, 20, "the change for a finished interaction in the DLQ")
        [record] = await running.dead_letters()
        assert record.provenance["reason"] == "not_found"
        assert record.provenance["masked"] == "crm_account"
        raw = (record.value or b"") + b"".join(v for _, v in record.headers)
        assert b"SECRET-ACCOUNT-42" not in raw


async def test_8x8_a_backlog_at_start_up_never_puts_more_than_the_limit_in_a_window(
    kafka_bootstrap: str, tmp_path: Path, run_service: Any, serve: Any
) -> None:
    """The conformance case: records wait on the topic before the service starts, so the lane
    begins with a full backlog. 8x8 must see at most the documented count in any window (its
    window shortened here, on both sides, so that three windows pass in seconds)."""
    limit, window, backlog = 3, 2.0, 7
    url, control = await serve(
        create_eight_by_eight_app(
            EightByEightSimConfig(
                rate_limit_per_minute=limit,
                rate_limit_window_seconds=window,
                rate_limit_retry_after=True,
            )
        )
    )
    sim = EightByEightSim(url, control)
    yaml = eight_by_eight_tenant(url, f"requests_per_minute: {limit}\nrate_window: {window}s")
    settings = service_settings(kafka_bootstrap, tmp_path)
    await ensure_topics(kafka_bootstrap, {settings.topic_closed: settings.topic_partitions})
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for n in range(backlog):
            _, close = events(f"i-{n}", {"guid": f"g-{n}"})
            key = f"acme:i-{n}".encode()
            await producer.send_and_wait(settings.topic_closed, orjson.dumps(close), key=key)
    finally:
        await producer.stop()

    async with run_service(
        settings=settings, tenants_yaml=yaml, environ={"ACTION_TOKEN": EIGHT_BY_EIGHT_TOKEN}
    ) as running:

        async def all_set() -> bool:
            found = [i["guid"] for i in (await control.get("/_sim/interactions")).json()]
            return len(found) == backlog

        await wait_for(all_set, 30, "every record of the backlog at 8x8")
        assert await running.dead_letters() == []

    arrivals = await sim.arrivals()
    assert [a for a in arrivals if a["limited"]] == []
    assert len(arrivals) == backlog  # one call per record: nothing refused, nothing repeated
    times = sorted(a["at"] for a in arrivals)
    for first, last in zip(times, times[limit:], strict=False):
        assert last - first >= window
    for n in range(backlog):
        assert await sim.variables(f"g-{n}") == {"_Account": "A-1001"}


async def test_gws_pushes_analytics_live_and_refuses_after_the_call_is_released(
    run_service: Any, serve: Any
) -> None:
    url, control = await serve(create_genesys_gws_app())
    sim = GwsSim(url, control)
    yaml = tenants_yaml(
        "genesys-gws",
        f"""
base_url: {url}
username: {GWS_USERNAME}
password: ${{GWS_PASSWORD}}
""",
        "Sentiment",
        "CrmAccount",
    )
    async with run_service(tenants_yaml=yaml, environ={"GWS_PASSWORD": GWS_PASSWORD}) as running:
        await sim.interaction("calls", "s-1")
        ref = {"media": "calls", "session_id": "s-1"}
        early, close = events("i-4", ref)
        await running.analytics(early | {"ref": ref})

        async def live() -> bool:
            return await sim.user_data("calls", "s-1") == {"Sentiment": "positive"}

        await wait_for(live, 20, "the analytics pushed while the call is live")
        await sim.release("s-1")
        await running.closed(close)

        async def dead() -> bool:
            return len(await running.dead_letters()) == 1

        await wait_for(dead, 20, "the write after release in the DLQ")
        [record] = await running.dead_letters()
        assert record.provenance["reason"] == "write_window_closed"
        assert await sim.user_data("calls", "s-1") == {"Sentiment": "positive"}


async def test_8x8_changes_held_for_their_close_spend_none_of_the_rate_limit(
    run_service: Any, serve: Any
) -> None:
    """Analytics for calls not yet closed are held, not sent: the attempts that find that out
    must not use up 8x8's two requests a minute, or the one close with something to send would
    wait a whole minute behind calls that were never made."""
    limit = 2
    url, control = await serve(create_eight_by_eight_app(EightByEightSimConfig()))
    sim = EightByEightSim(url, control)
    yaml = eight_by_eight_tenant(url, f"requests_per_minute: {limit}")
    async with run_service(tenants_yaml=yaml, environ={"ACTION_TOKEN": EIGHT_BY_EIGHT_TOKEN}) as (
        running
    ):
        for n in range(6):
            early, _ = events(f"open-{n}", {"guid": f"o-{n}"})
            await running.analytics(early)

        async def all_held() -> bool:
            return bool(running.metric("enricher_held_total", tenant="acme", platform="8x8") >= 6)

        # Each is an attempt that makes no call; were its rate slot spent, the third would wait
        # for the minute to pass.
        await wait_for(all_held, 20, "the six analytics held for their close")
        _, close = events("closed-1", {"guid": "c-1"})
        await running.closed(close)

        async def sent() -> bool:
            found = [i["guid"] for i in (await control.get("/_sim/interactions")).json()]
            return "c-1" in found and await sim.variables("c-1") == {"_Account": "A-1001"}

        await wait_for(sent, 20, "the close at 8x8 within the minute")
        assert len(await sim.arrivals()) == 1
