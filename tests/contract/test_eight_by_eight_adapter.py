"""The 8x8 adapter against the simulator, over real loopback HTTP.

Each test drives ``EightByEightAdapter.send`` (the seam the delivery loop uses) and checks both
the outcome it classified and what the simulator stored or saw on the wire. One simulator
serves the module and is reset before every test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr

from service.events import Scalar
from service.http_server import AppServer
from service.platforms.base import Delivery
from service.platforms.eight_by_eight.adapter import EightByEightAdapter
from service.platforms.eight_by_eight.settings import EightByEightSettings
from service.platforms.eight_by_eight.simulator import (
    DEV_ACTION_TOKEN,
    DEV_TENANT_ID,
    EightByEightSimConfig,
    create_app,
)
from service.platforms.eight_by_eight.wire import PRIVATE_MASK
from service.platforms.outcomes import Outcome, OutcomeKind
from service.tenant_fields import FieldMapping
from service.transport import AiohttpTransport
from tests.fixtures.eight_by_eight import Sim

TENANT, TOKEN = "acme-cc", "token-1"
OTHER, OTHER_TOKEN = "other-cc", "token-2"
GUID = "int-1628bb9dbf7-phone-01-acme"
V1 = "/api/v1/interaction/data"
START = 1_800_000_000.0

FIELDS = {
    "_Sentiment": FieldMapping.model_validate({"from": "sentiment.label"}),
    "_Score": FieldMapping.model_validate(
        {"from": "sentiment.score", "display": True, "display_name": "Score", "data_type": "number"}
    ),
    "_Case": FieldMapping.model_validate({"from": "case_number", "ivr": True}),
    "_Vip": FieldMapping.model_validate({"from": "vip"}),
    "_Card": FieldMapping.model_validate({"from": "card", "privacy": True}),
}
VALUES: dict[str, Scalar] = {
    "_Sentiment": "negative",
    "_Score": -0.62,
    "_Case": 4711,
    "_Vip": True,
    "_Card": "4111111111111111",
}


def sim_config() -> EightByEightSimConfig:
    return EightByEightSimConfig(tenants={TENANT: TOKEN, OTHER: OTHER_TOKEN}, auto_create=False)


DEFAULTS = sim_config().settings_view()


class FakeClock:
    """The simulator's clock: rate windows move only when a test says so."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def served() -> AsyncIterator[tuple[Sim, FakeClock]]:
    clock = FakeClock()
    async with (
        AppServer(create_app(sim_config(), clock=clock)) as server,
        httpx.AsyncClient(base_url=server.url) as control,
    ):
        yield Sim(server.url, control, TENANT), clock


@pytest_asyncio.fixture(loop_scope="module")
async def sim(served: tuple[Sim, FakeClock]) -> Sim:
    simulator, clock = served
    (await simulator.control.post("/_sim/reset")).raise_for_status()
    await simulator.patch_config(**DEFAULTS)
    clock.now = START
    await simulator.interaction(GUID, call_id="a84b4c76e66710/x@pc33.atlanta.example")
    return simulator


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def transport() -> AsyncIterator[AiohttpTransport]:
    transport = AiohttpTransport()
    yield transport
    await transport.close()


def settings(sim: Sim, **overrides: Any) -> EightByEightSettings:
    values: dict[str, Any] = {
        "base_url": sim.url,
        "tenant_id": TENANT,
        "action_token": SecretStr(TOKEN),
        **overrides,
    }
    return EightByEightSettings(**values)


def adapter(
    sim: Sim,
    transport: AiohttpTransport,
    fields: dict[str, FieldMapping] | None = None,
    *,
    timeout: float = 10.0,
    **overrides: Any,
) -> EightByEightAdapter:
    return EightByEightAdapter(
        settings(sim, **overrides), FIELDS if fields is None else fields, transport, timeout=timeout
    )


def delivery(values: dict[str, Scalar] | None = None, **ref: str) -> Delivery:
    return Delivery(
        tenant="acme",
        interaction_id="call-1",
        revision=4,
        ref=ref or {"guid": GUID},
        channel="voice",
        status=None,
        closed_at=datetime.now(UTC),
        values=VALUES if values is None else values,
    )


def assert_outcome(outcome: Outcome, kind: OutcomeKind, reason: str, status: int | None) -> None:
    assert (outcome.kind, outcome.reason, outcome.status) == (kind, reason, status), outcome


# --- happy path and wire format ----------------------------------------------------------------


async def test_writes_every_variable_as_text_with_its_flags(
    sim: Sim, transport: AiohttpTransport
) -> None:
    await sim.interaction(GUID, ivr_variables=["_Case"])

    outcome = await adapter(sim, transport).send(delivery())

    assert_outcome(outcome, OutcomeKind.DELIVERED, "delivered", 200)
    assert await sim.variables(GUID) == {
        "_Sentiment": "negative",
        "_Score": "-0.62",
        "_Case": "4711",
        "_Vip": "true",
        "_Card": "4111111111111111",
    }
    [post] = await sim.posts()
    assert post["path"] == f"{V1}/guid/{GUID}"
    assert post["json"] == {
        "variables": [
            {"name": "_Sentiment", "value": "negative"},
            {
                "name": "_Score",
                "value": "-0.62",
                "display": True,
                "displayName": "Score",
                "dataType": "number",
            },
            {"name": "_Case", "value": "4711", "ivr": True},
            {"name": "_Vip", "value": "true"},
            {"name": "_Card", "value": "4111111111111111", "privacy": True},
        ]
    }
    assert post["headers"]["content-type"] == "application/json"
    assert post["headers"]["idempotency-key"] == "acme:call-1:4"
    assert "authorization" not in post["headers"]


async def test_addresses_the_interaction_by_url_encoded_sip_call_id(
    sim: Sim, transport: AiohttpTransport
) -> None:
    call_id = "a84b4c76e66710/x@pc33.atlanta.example"

    outcome = await adapter(sim, transport, identifier="call_id").send(
        delivery({"_Sentiment": "positive"}, call_id=call_id)
    )

    assert outcome.kind is OutcomeKind.DELIVERED
    assert await sim.variables(GUID) == {"_Sentiment": "positive"}
    [post] = await sim.posts()
    assert post["path"] == f"{V1}/callId/{call_id}"  # the log shows the decoded path


async def test_a_replay_overwrites_with_the_same_values(
    sim: Sim, transport: AiohttpTransport
) -> None:
    eight = adapter(sim, transport)
    first = await eight.send(delivery({"_Sentiment": "negative"}))
    replay = await eight.send(delivery({"_Sentiment": "negative"}))

    assert first.kind is replay.kind is OutcomeKind.DELIVERED
    assert await sim.variables(GUID) == {"_Sentiment": "negative"}


@pytest.mark.parametrize("shape", ["variables", "data_list", "data_object"])
async def test_each_body_shape_is_delivered_when_the_vendor_expects_it(
    sim: Sim, transport: AiohttpTransport, shape: str
) -> None:
    await sim.patch_config(body_shape=shape)

    outcome = await adapter(sim, transport, body_shape=shape).send(delivery())

    assert outcome.kind is OutcomeKind.DELIVERED
    assert (await sim.variables(GUID))["_Sentiment"] == "negative"


async def test_a_body_shape_the_vendor_does_not_take_is_rejected_with_its_message(
    sim: Sim, transport: AiohttpTransport
) -> None:
    await sim.patch_config(body_shape="data_list")

    outcome = await adapter(sim, transport).send(delivery())

    assert_outcome(outcome, OutcomeKind.PERMANENT, "rejected", 400)
    assert outcome.excerpt is not None
    assert outcome.excerpt.startswith("Invalid request body: expected")


@pytest.mark.parametrize(("alias_on", "kind"), [(True, OutcomeKind.DELIVERED), (False, None)])
async def test_the_tstats_path_variant_works_where_the_vendor_serves_it(
    sim: Sim, transport: AiohttpTransport, alias_on: bool, kind: OutcomeKind | None
) -> None:
    await sim.patch_config(tstats_alias=alias_on)

    outcome = await adapter(sim, transport, path_prefix="/api/tstats/interaction/data").send(
        delivery()
    )

    if kind is not None:
        assert outcome.kind is kind
    else:
        assert_outcome(outcome, OutcomeKind.PERMANENT, "not_found", 404)


# --- refused before any call -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identifier", "ref"), [("guid", {"call_id": "c@h"}), ("call_id", {"guid": GUID})]
)
async def test_missing_identifier_is_permanent_without_a_call(
    sim: Sim, transport: AiohttpTransport, identifier: str, ref: dict[str, str]
) -> None:
    outcome = await adapter(sim, transport, identifier=identifier).send(delivery(None, **ref))

    assert_outcome(outcome, OutcomeKind.PERMANENT, "missing_routing", None)
    assert await sim.posts() == []


@pytest.mark.parametrize(
    ("values", "fields", "reason"),
    [
        ({"Sentiment": "x"}, {}, "invalid_variable"),
        ({"_" + "a" * 24: "x"}, {}, "name_too_long"),
        ({"_Sentiment": "x" * 1001}, None, "value_too_long"),
        (
            {"_Label": "x"},
            {"_Label": FieldMapping.model_construct(source="x", display_name="L" * 30)},
            "display_name_too_long",
        ),
        (
            {"_Kind": "x"},
            # model_construct skips FieldMapping's own check: the adapter's is the last line
            {"_Kind": FieldMapping.model_construct(source="x", data_type=cast(Any, "money"))},
            "invalid_data_type",
        ),
    ],
)
async def test_rule_violations_are_permanent_without_a_call(
    sim: Sim,
    transport: AiohttpTransport,
    values: dict[str, Scalar],
    fields: dict[str, FieldMapping] | None,
    reason: str,
) -> None:
    outcome = await adapter(sim, transport, fields).send(delivery(values))

    assert_outcome(outcome, OutcomeKind.PERMANENT, reason, None)
    assert outcome.error_class == "InvalidVariable"
    assert await sim.posts() == []


# --- the vendor's own rules, where the settings are looser -------------------------------------


@pytest.mark.parametrize(
    ("overrides", "values", "fields", "message"),
    [
        ({"name_max_length": 25}, {"_" + "a" * 24: "x"}, {}, "longer than 24 characters"),
        (
            {"display_name_max_length": 30},
            {"_Label": "x"},
            {"_Label": FieldMapping.model_validate({"from": "x", "display_name": "L" * 30})},
            "longer than 29 characters",
        ),
    ],
)
async def test_the_other_reading_of_a_limit_is_rejected_by_the_vendor_with_its_message(
    sim: Sim,
    transport: AiohttpTransport,
    overrides: dict[str, Any],
    values: dict[str, Scalar],
    fields: dict[str, FieldMapping],
    message: str,
) -> None:
    """8x8's documents say both 24/25 and 29/30: a tenant set to the looser reading gets the
    vendor's refusal, permanent and explained, not a retry loop."""
    outcome = await adapter(sim, transport, fields, **overrides).send(delivery(values))

    assert_outcome(outcome, OutcomeKind.PERMANENT, "rejected", 400)
    assert message in (outcome.excerpt or "")
    assert len(await sim.posts()) == 1


async def test_a_private_value_echoed_by_the_vendor_is_masked_in_the_excerpt(
    sim: Sim, transport: AiohttpTransport
) -> None:
    await sim.patch_config(value_max_length=8)
    card = "4111111111111111"
    # The vendor's error does quote the value: a request without the adapter shows it.
    echoed = await sim.control.post(
        f"{V1}/guid/{GUID}",
        json={"variables": [{"name": "_Card", "value": card, "privacy": True}]},
        auth=(TENANT, TOKEN),
    )
    assert card in echoed.json()["message"]

    outcome = await adapter(sim, transport).send(delivery({"_Card": card}))

    assert_outcome(outcome, OutcomeKind.PERMANENT, "rejected", 400)
    assert outcome.excerpt is not None
    assert card not in outcome.excerpt
    assert PRIVATE_MASK in outcome.excerpt
    assert "_Card" in outcome.excerpt


async def test_an_ivr_variable_the_script_does_not_declare_is_delivered_but_dropped(
    sim: Sim, transport: AiohttpTransport
) -> None:
    outcome = await adapter(sim, transport).send(delivery({"_Case": 4711, "_Vip": False}))

    assert outcome.kind is OutcomeKind.DELIVERED
    stored = await sim.stored(GUID)
    assert stored["variables"] == {"_Vip": {"value": "false"}}
    assert stored["ignored"] == ["_Case"]


# --- auth --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [{"action_token": SecretStr("wrong-token")}, {"tenant_id": "no-such-tenant"}],
)
async def test_refused_credentials_are_a_loud_permanent_auth_failure(
    sim: Sim, transport: AiohttpTransport, overrides: dict[str, Any]
) -> None:
    outcome = await adapter(sim, transport, **overrides).send(delivery())

    assert_outcome(outcome, OutcomeKind.PERMANENT, "auth_failed", 401)
    assert outcome.error_class == "AuthError"
    assert outcome.excerpt is not None
    assert "action token" in outcome.excerpt
    assert "wrong-token" not in outcome.excerpt
    assert len(await sim.posts()) == 1  # nothing to renew: never retried in the adapter


async def test_a_rotated_token_fails_at_once_and_the_new_one_recovers(
    sim: Sim, transport: AiohttpTransport
) -> None:
    assert (await adapter(sim, transport).send(delivery())).kind is OutcomeKind.DELIVERED
    new_token = await sim.rotate_token()

    stale = await adapter(sim, transport).send(delivery())
    renewed = await adapter(sim, transport, action_token=SecretStr(new_token)).send(delivery())

    assert_outcome(stale, OutcomeKind.PERMANENT, "auth_failed", 401)
    assert renewed.kind is OutcomeKind.DELIVERED
    assert new_token not in (stale.excerpt or "")
    assert "authorization" not in str(await sim.posts()).lower()


# --- not found ---------------------------------------------------------------------------------


async def test_unknown_interaction_is_permanent_not_found(
    sim: Sim, transport: AiohttpTransport
) -> None:
    outcome = await adapter(sim, transport).send(delivery(guid="int-unknown"))

    assert_outcome(outcome, OutcomeKind.PERMANENT, "not_found", 404)
    assert "int-unknown" in (outcome.excerpt or "")


async def test_finished_interaction_is_permanent_not_found(
    sim: Sim, transport: AiohttpTransport
) -> None:
    await sim.finish(GUID)

    outcome = await adapter(sim, transport).send(delivery())

    assert_outcome(outcome, OutcomeKind.PERMANENT, "not_found", 404)
    assert await sim.variables(GUID) == {}


async def test_another_tenants_interaction_is_not_found(
    sim: Sim, transport: AiohttpTransport
) -> None:
    outcome = await adapter(
        sim, transport, tenant_id=OTHER, action_token=SecretStr(OTHER_TOKEN)
    ).send(delivery())

    assert_outcome(outcome, OutcomeKind.PERMANENT, "not_found", 404)


# --- transient trouble -------------------------------------------------------------------------


@pytest.mark.parametrize(("retry_after", "expected"), [(False, None), (True, 60.0)])
async def test_the_rate_limit_is_a_retry_with_retry_after_only_when_sent(
    sim: Sim, transport: AiohttpTransport, retry_after: bool, expected: float | None
) -> None:
    await sim.patch_config(rate_limit_per_minute=1, rate_limit_retry_after=retry_after)
    eight = adapter(sim, transport)

    first = await eight.send(delivery())
    limited = await eight.send(delivery())

    assert first.kind is OutcomeKind.DELIVERED
    assert_outcome(limited, OutcomeKind.RETRY, "http_429", 429)
    assert limited.retry_after == expected


@pytest.mark.parametrize(
    ("status", "retry_after"), [(500, None), (503, None), (429, "3"), (429, None)]
)
async def test_injected_vendor_trouble_is_transient_then_delivers(
    sim: Sim, transport: AiohttpTransport, status: int, retry_after: str | None
) -> None:
    rule: dict[str, Any] = {"path_prefix": V1, "status": status}
    if retry_after is not None:
        rule["retry_after"] = retry_after
    await sim.fault(**rule)
    eight = adapter(sim, transport)

    failed = await eight.send(delivery())
    recovered = await eight.send(delivery())

    assert_outcome(failed, OutcomeKind.RETRY, f"http_{status}", status)
    assert failed.retry_after == (float(retry_after) if retry_after else None)
    assert recovered.kind is OutcomeKind.DELIVERED


async def test_random_vendor_errors_are_transient(sim: Sim, transport: AiohttpTransport) -> None:
    await sim.patch_config(error_rate=1.0)

    outcome = await adapter(sim, transport).send(delivery())

    assert_outcome(outcome, OutcomeKind.RETRY, "http_500", 500)
    assert outcome.excerpt == "Internal server error"


async def test_timeouts_and_refused_connections_are_transient(
    transport: AiohttpTransport,
) -> None:
    # A server of its own, so the request left running after the timeout ends with it and
    # never lands in the shared simulator's request log.
    async with (
        AppServer(create_app(sim_config())) as server,
        httpx.AsyncClient(base_url=server.url) as control,
    ):
        sim = Sim(server.url, control, TENANT)
        await sim.interaction(GUID)
        await sim.fault(path_prefix=V1, latency_ms=500)
        slow = await adapter(sim, transport, timeout=0.1).send(delivery())
    refused = await EightByEightAdapter(
        settings(sim, base_url="http://127.0.0.1:9"), FIELDS, transport
    ).send(delivery())

    assert_outcome(slow, OutcomeKind.RETRY, "timeout", None)
    assert_outcome(refused, OutcomeKind.RETRY, "connection", None)
    assert slow.error_class == refused.error_class == "TransportError"


# --- dev mode ----------------------------------------------------------------------------------


async def test_the_bare_simulator_accepts_the_dev_tenant_for_invented_interactions(
    transport: AiohttpTransport,
) -> None:
    async with AppServer(create_app()) as server:
        dev = EightByEightSettings(
            base_url=server.url, tenant_id=DEV_TENANT_ID, action_token=SecretStr(DEV_ACTION_TOKEN)
        )
        outcome = await EightByEightAdapter(dev, FIELDS, transport).send(
            delivery(guid="int-invented-1")
        )

    assert outcome.kind is OutcomeKind.DELIVERED
