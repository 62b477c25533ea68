"""The Sinch Contact Pro adapter against the simulator, over real loopback HTTP.

Each test drives ``SinchContactProAdapter.send`` (the seam the delivery loop uses) and checks
both the outcome it classified and what the simulator stored or saw on the wire.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from service.events import Scalar
from service.http_server import AppServer
from service.platforms.base import Delivery
from service.platforms.outcomes import Outcome, OutcomeKind
from service.platforms.sinch_contact_pro.adapter import SinchContactProAdapter
from service.platforms.sinch_contact_pro.settings import SinchContactProSettings
from service.platforms.sinch_contact_pro.simulator import ApiUser, SinchSimConfig, create_app
from service.tenant_fields import FieldMapping
from service.transport import AiohttpTransport
from tests.fixtures.sinch import SinchSim

CONTACT = "0A1B2C3D4E5F60718293A4B5C6D7E8F9"
USER, PASSWORD, API_KEY = "api-user", "user-password", "tenant-api-key"
VALUES: dict[str, Scalar] = {"Sentiment": "negative", "Score": -0.62, "Vip": True, "Calls": 3}
FIELDS = {name: FieldMapping.model_validate({"from": name.lower()}) for name in VALUES}


def sim_config(**overrides: Any) -> SinchSimConfig:
    values: dict[str, Any] = {
        "users": {
            USER: ApiUser(password=PASSWORD),
            "queue-b-only": ApiUser(password=PASSWORD, manage_contacts=frozenset({"queue-b"})),
        },
        "api_keys": frozenset({API_KEY}),
        "extra_data_for_history": {"voice": list(VALUES), "chat": ["*"]},
        "auto_create_contacts": False,
        **overrides,
    }
    return SinchSimConfig(**values)


@pytest.fixture
async def sim() -> AsyncIterator[SinchSim]:
    async with (
        AppServer(create_app(sim_config())) as server,
        httpx.AsyncClient(base_url=server.url) as control,
    ):
        yield SinchSim(server.url, control)


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    transport = AiohttpTransport()
    yield transport
    await transport.close()


def settings(sim: SinchSim, **overrides: Any) -> SinchContactProSettings:
    values: dict[str, Any] = {
        "base_url": sim.url,
        "username": USER,
        "password": SecretStr(PASSWORD),
        "api_key": SecretStr(API_KEY),
        "extra_data_for_history": {"voice": list(VALUES), "chat": ["*"]},
        **overrides,
    }
    return SinchContactProSettings(**values)


def adapter(
    sim: SinchSim, transport: AiohttpTransport, *, timeout: float = 10.0, **overrides: Any
) -> SinchContactProAdapter:
    return SinchContactProAdapter(settings(sim, **overrides), FIELDS, transport, timeout=timeout)


def delivery(
    contact_id: str = CONTACT,
    *,
    channel: str | None = "voice",
    status: str | None = "Handled",
    values: dict[str, Any] | None = None,
    revision: int = 1,
) -> Delivery:
    return Delivery(
        tenant="acme",
        interaction_id="call-1",
        revision=revision,
        ref={"contact_id": contact_id},
        channel=channel,
        status=status,
        closed_at=datetime.now(UTC),
        values=VALUES if values is None else values,
    )


def expect(outcome: Outcome, kind: OutcomeKind, reason: str, status: int | None = None) -> None:
    assert (outcome.kind, outcome.reason, outcome.status) == (kind, reason, status), outcome


# --- happy path and wire format ----------------------------------------------------------------


async def test_attached_data_is_stored_and_the_wire_format_is_the_documented_one(
    sim: SinchSim, transport: AiohttpTransport
) -> None:
    await sim.contact(CONTACT, status="WrapUp")

    outcome = await adapter(sim, transport).send(delivery(revision=7))

    expect(outcome, OutcomeKind.DELIVERED, "delivered", 201)
    assert await sim.stored(CONTACT) == VALUES
    [post] = await sim.posts()
    assert post["json"] == {"id": CONTACT, "attachedData": VALUES}
    headers = post["headers"]
    assert headers["content-type"] == "application/json"
    assert headers["idempotency-key"] == "acme:call-1:7"
    assert headers["x-api-key"] == "***"  # sent, and masked in the log
    assert "authorization" not in headers
    logged = json.dumps(await sim.requests())
    assert API_KEY not in logged
    assert PASSWORD not in logged
    assert base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode() not in logged


async def test_attached_data_is_added_or_updated_key_by_key(
    sim: SinchSim, transport: AiohttpTransport
) -> None:
    await sim.contact(CONTACT, attached_data={"IvrChoice": "billing"})
    send = adapter(sim, transport).send

    await send(delivery(values={"Sentiment": "neutral", "Score": 0.1}))
    outcome = await send(delivery(values={"Sentiment": "negative", "Vip": False}, revision=2))

    expect(outcome, OutcomeKind.DELIVERED, "delivered", 201)
    assert await sim.stored(CONTACT) == {
        "IvrChoice": "billing",
        "Sentiment": "negative",
        "Score": 0.1,
        "Vip": False,
    }


@pytest.mark.parametrize("status", [200, 204])
async def test_any_2xx_is_delivered(
    sim: SinchSim, transport: AiohttpTransport, status: int
) -> None:
    await sim.configure(success_status=status)
    await sim.contact(CONTACT)

    outcome = await adapter(sim, transport).send(delivery())

    expect(outcome, OutcomeKind.DELIVERED, "delivered", status)
    assert await sim.stored(CONTACT) == VALUES


async def test_the_api_key_header_name_is_a_setting(
    sim: SinchSim, transport: AiohttpTransport
) -> None:
    await sim.configure(api_key_header="X-Sinch-Api-Key")
    await sim.contact(CONTACT)

    default_name = await adapter(sim, transport).send(delivery())
    right_name = await adapter(sim, transport, api_key_header="X-Sinch-Api-Key").send(delivery())

    expect(default_name, OutcomeKind.PERMANENT, "auth_failed", 401)
    expect(right_name, OutcomeKind.DELIVERED, "delivered", 201)
    assert API_KEY not in json.dumps(await sim.requests())


async def test_without_an_api_key_only_the_api_user_is_sent(
    sim: SinchSim, transport: AiohttpTransport
) -> None:
    await sim.api_keys(None)
    await sim.contact(CONTACT)

    outcome = await adapter(sim, transport, api_key=None).send(delivery())

    expect(outcome, OutcomeKind.DELIVERED, "delivered", 201)
    [post] = await sim.posts()
    assert "x-api-key" not in post["headers"]


async def test_each_channel_is_written_only_the_fields_its_allow_list_stores(
    sim: SinchSim, transport: AiohttpTransport
) -> None:
    # Sinch's chat channel stores only Sentiment; voice stores everything the tenant maps.
    await sim.configure(extra_data_for_history={"voice": list(VALUES), "chat": ["Sentiment"]})
    await sim.contact(CONTACT, channel="voice")
    await sim.contact("chat-contact", channel="chat")
    per_channel = adapter(
        sim,
        transport,
        extra_data_for_history={"voice": list(VALUES), "chat": ["Sentiment"]},
        fields_by_channel={"chat": ["Sentiment"]},
    )

    voice = await per_channel.send(delivery(channel="voice"))
    chat = await per_channel.send(delivery("chat-contact", channel="chat"))
    # Told (wrongly) that chat stores everything, the adapter sends Vip: Sinch refuses it.
    unmirrored = await adapter(sim, transport).send(delivery("chat-contact", channel="chat"))

    expect(voice, OutcomeKind.DELIVERED, "delivered", 201)
    expect(chat, OutcomeKind.DELIVERED, "delivered", 201)
    assert await sim.stored(CONTACT) == VALUES
    assert await sim.stored("chat-contact") == {"Sentiment": "negative"}
    assert [p["json"]["attachedData"] for p in await sim.posts()][1] == {"Sentiment": "negative"}
    expect(unmirrored, OutcomeKind.PERMANENT, "key_not_allowed", 400)


# --- refused before any call -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "kind", "reason"),
    [
        ({"channel": "email"}, OutcomeKind.PERMANENT, "channel_not_supported"),
        ({"channel": "sms"}, OutcomeKind.PERMANENT, "channel_not_supported"),
        ({"channel": None}, OutcomeKind.PERMANENT, "missing_routing"),
        ({"contact_id": ""}, OutcomeKind.PERMANENT, "missing_routing"),
        ({"status": "Connected"}, OutcomeKind.RETRY, "contact_not_disconnected"),
        ({"values": {"Not Allowed": 1}}, OutcomeKind.PERMANENT, "invalid_key_name"),
        ({"values": {"Unlisted": 1}}, OutcomeKind.PERMANENT, "key_not_allowed"),
    ],
)
async def test_what_sinch_would_refuse_is_never_sent(
    sim: SinchSim,
    transport: AiohttpTransport,
    change: dict[str, Any],
    kind: OutcomeKind,
    reason: str,
) -> None:
    await sim.contact(CONTACT)

    outcome = await adapter(sim, transport).send(delivery(**change))

    expect(outcome, kind, reason)
    assert await sim.requests() == []


# --- auth failures and recovery ----------------------------------------------------------------


async def test_a_wrong_password_is_permanent_until_the_password_is_fixed(
    sim: SinchSim, transport: AiohttpTransport
) -> None:
    await sim.contact(CONTACT)

    wrong = await adapter(sim, transport, password=SecretStr("stale")).send(delivery())
    fixed = await adapter(sim, transport).send(delivery())

    expect(wrong, OutcomeKind.PERMANENT, "auth_failed", 401)
    assert wrong.error_class == "AuthError"
    expect(fixed, OutcomeKind.DELIVERED, "delivered", 201)


async def test_an_expired_password_is_auth_failed_and_a_new_password_recovers(
    sim: SinchSim, transport: AiohttpTransport
) -> None:
    await sim.contact(CONTACT)
    await sim.expire_password(USER)

    expired = await adapter(sim, transport).send(delivery())
    await sim.user(USER, password="rotated-password")  # the operator sets a new password
    old = await adapter(sim, transport).send(delivery())
    rotated = await adapter(sim, transport, password=SecretStr("rotated-password")).send(delivery())

    expect(expired, OutcomeKind.PERMANENT, "auth_failed", 401)
    assert expired.excerpt is not None
    assert "password_expired" in expired.excerpt
    expect(old, OutcomeKind.PERMANENT, "auth_failed", 401)
    expect(rotated, OutcomeKind.DELIVERED, "delivered", 201)


async def test_a_rotated_api_key_fails_at_once_and_the_new_key_recovers(
    sim: SinchSim, transport: AiohttpTransport
) -> None:
    await sim.contact(CONTACT)
    assert (await adapter(sim, transport).send(delivery())).kind is OutcomeKind.DELIVERED

    await sim.api_keys(["next-api-key"])
    old = await adapter(sim, transport).send(delivery())
    new = await adapter(sim, transport, api_key=SecretStr("next-api-key")).send(delivery())

    expect(old, OutcomeKind.PERMANENT, "auth_failed", 401)
    assert old.excerpt is not None
    assert "invalid_api_key" in old.excerpt
    assert API_KEY not in old.excerpt
    expect(new, OutcomeKind.DELIVERED, "delivered", 201)


async def test_missing_manage_contacts_on_the_queue_is_permission_denied(
    sim: SinchSim, transport: AiohttpTransport
) -> None:
    await sim.contact(CONTACT, queue="queue-a")
    await sim.contact("other-contact", queue="queue-b")
    limited = adapter(sim, transport, username="queue-b-only")

    refused = await limited.send(delivery())
    allowed = await limited.send(delivery("other-contact"))

    expect(refused, OutcomeKind.PERMANENT, "permission_denied", 403)
    assert await sim.stored(CONTACT) == {}
    expect(allowed, OutcomeKind.DELIVERED, "delivered", 201)


# --- refused by the platform -------------------------------------------------------------------


async def test_an_unknown_contact_is_not_found(sim: SinchSim, transport: AiohttpTransport) -> None:
    outcome = await adapter(sim, transport).send(delivery("no-such-contact"))

    expect(outcome, OutcomeKind.PERMANENT, "not_found", 404)


async def test_auto_create_takes_a_write_for_an_invented_id(
    sim: SinchSim, transport: AiohttpTransport
) -> None:
    await sim.configure(auto_create_contacts=True)
    outcome = await adapter(sim, transport).send(delivery("invented-id"))

    expect(outcome, OutcomeKind.DELIVERED, "delivered", 201)
    assert await sim.stored("invented-id") == VALUES


async def test_a_state_refusal_is_retried_and_delivers_once_the_contact_disconnects(
    sim: SinchSim, transport: AiohttpTransport
) -> None:
    await sim.contact(CONTACT, status="Connected")
    send = adapter(sim, transport).send

    refused = await send(delivery(status=None))  # the close event did not state a status
    await sim.change(CONTACT, status="Handled")
    delivered = await send(delivery(status=None))

    expect(refused, OutcomeKind.RETRY, "contact_state_refused", 400)
    expect(delivered, OutcomeKind.DELIVERED, "delivered", 201)
    assert [r["status"] for r in await sim.posts()] == [400, 201]


async def test_a_state_refusal_is_recognised_whatever_its_status_code(
    sim: SinchSim, transport: AiohttpTransport
) -> None:
    await sim.configure(not_disconnected_status=409)
    await sim.contact(CONTACT, status="Queued")

    outcome = await adapter(sim, transport).send(delivery(status=None))

    expect(outcome, OutcomeKind.RETRY, "contact_state_refused", 409)


@dataclass
class Clock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


WORDING_ONLY = ["error_text", "error_page", "nested", "plain_text"]


@pytest.mark.parametrize("refusal_body", WORDING_ONLY)
async def test_a_contact_whose_status_lags_the_close_is_retried_until_sinch_catches_up(
    transport: AiohttpTransport, refusal_body: str
) -> None:
    clock = Clock()
    lagging = sim_config(status_lag_seconds=3, refusal_body=refusal_body)
    async with (
        AppServer(create_app(lagging, clock=clock)) as server,
        httpx.AsyncClient(base_url=server.url) as control,
    ):
        sim = SinchSim(server.url, control)
        await sim.contact(CONTACT, status="WrapUp")
        send = adapter(sim, transport).send

        refused = await send(delivery(status="WrapUp"))  # the close event says WrapUp
        clock.now += 3
        delivered = await send(delivery(status="WrapUp"))

        expect(refused, OutcomeKind.RETRY, "contact_state_refused", 400)
        expect(delivered, OutcomeKind.DELIVERED, "delivered", 201)
        assert await sim.stored(CONTACT) == VALUES


@pytest.mark.parametrize("refusal_body", WORDING_ONLY)
async def test_platform_refusals_are_named_by_their_wording_whatever_the_wrapping(
    sim: SinchSim, transport: AiohttpTransport, refusal_body: str
) -> None:
    await sim.configure(
        refusal_body=refusal_body,
        extra_data_for_history={"voice": ["Sentiment", "Score", "Calls"], "chat": ["*"]},
    )
    await sim.contact(CONTACT)
    await sim.contact("email-contact", channel="email")
    await sim.contact("sms-contact", channel="sms")
    send = adapter(sim, transport).send

    key = await send(delivery())  # the tenant file still lists Vip
    email = await send(delivery("email-contact"))
    sms = await send(delivery("sms-contact"))

    expect(key, OutcomeKind.PERMANENT, "key_not_allowed", 400)
    assert key.excerpt is not None
    assert "Vip" in key.excerpt
    expect(email, OutcomeKind.PERMANENT, "channel_not_supported", 400)
    expect(sms, OutcomeKind.PERMANENT, "channel_not_supported", 400)
    assert await sim.stored(CONTACT) == {}


async def test_an_email_contact_refused_by_the_platform_is_channel_not_supported(
    sim: SinchSim, transport: AiohttpTransport
) -> None:
    await sim.contact(CONTACT, channel="email")  # the event said voice; Sinch knows better

    outcome = await adapter(sim, transport).send(delivery())

    expect(outcome, OutcomeKind.PERMANENT, "channel_not_supported", 400)


async def test_a_key_the_platform_does_not_store_is_key_not_allowed_and_named(
    sim: SinchSim, transport: AiohttpTransport
) -> None:
    await sim.configure(extra_data_for_history={"voice": ["Sentiment", "Score", "Calls"]})
    await sim.contact(CONTACT)

    outcome = await adapter(sim, transport).send(delivery())  # the tenant file still lists Vip

    expect(outcome, OutcomeKind.PERMANENT, "key_not_allowed", 400)
    assert outcome.excerpt is not None
    assert "Vip" in outcome.excerpt
    assert await sim.stored(CONTACT) == {}


async def test_a_key_name_the_platform_refuses_is_invalid_key_name(
    sim: SinchSim, transport: AiohttpTransport
) -> None:
    await sim.contact(CONTACT)
    # A name the tenant's rule lets through but the simulator's refuses stands in for a
    # platform that is stricter than documented.
    await sim.fault(
        path_prefix="/RI/cmi/contactData",
        status=400,
        body={"error": "invalid_key_name", "message": "'Vip' is reserved", "keys": ["Vip"]},
    )

    outcome = await adapter(sim, transport).send(delivery())

    expect(outcome, OutcomeKind.PERMANENT, "invalid_key_name", 400)
    assert outcome.excerpt is not None
    assert "Vip" in outcome.excerpt


async def test_a_400_in_an_unknown_shape_is_permanently_rejected(
    sim: SinchSim, transport: AiohttpTransport
) -> None:
    await sim.contact(CONTACT)
    await sim.fault(path_prefix="/RI/cmi", status=400, body="HTTP Status 400 - Bad Request")

    outcome = await adapter(sim, transport).send(delivery())

    expect(outcome, OutcomeKind.PERMANENT, "rejected", 400)


# --- transient trouble -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retry_after"), [(500, None), (502, None), (503, "7"), (429, "3"), (408, None)]
)
async def test_vendor_trouble_is_transient_and_carries_retry_after(
    sim: SinchSim, transport: AiohttpTransport, status: int, retry_after: str | None
) -> None:
    await sim.contact(CONTACT)
    rule: dict[str, Any] = {"path_prefix": "/RI/cmi/contactData", "status": status}
    if retry_after:
        rule["retry_after"] = retry_after
    await sim.fault(**rule)
    send = adapter(sim, transport).send

    first = await send(delivery())
    second = await send(delivery())

    expect(first, OutcomeKind.RETRY, f"http_{status}", status)
    assert first.retry_after == (float(retry_after) if retry_after else None)
    expect(second, OutcomeKind.DELIVERED, "delivered", 201)
    assert await sim.stored(CONTACT) == VALUES


async def test_timeouts_and_refused_connections_are_transient(
    sim: SinchSim, transport: AiohttpTransport
) -> None:
    await sim.contact(CONTACT)
    await sim.fault(path_prefix="/RI/cmi", status=201, latency_ms=1000)

    slow = await adapter(sim, transport, timeout=0.3).send(delivery())
    gone = await adapter(sim, transport, base_url="http://127.0.0.1:9").send(delivery())

    expect(slow, OutcomeKind.RETRY, "timeout")
    assert slow.error_class == "TransportError"
    expect(gone, OutcomeKind.RETRY, "connection")
    assert gone.error_class == "TransportError"
