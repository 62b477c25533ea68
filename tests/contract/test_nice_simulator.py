"""Contract tests for the NICE CXone simulator, over real loopback HTTP.

Each test pins one rule CXone documents or one
control-surface promise, so a client that passes against the simulator is held to the same rules
as against CXone. Time is a fake clock and latency a recorded sleep: nothing here waits.
"""

import asyncio
import base64
import json
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from service.http_server import AppServer as SimulatorServer
from service.platforms.nice_cxone.simulator import (
    DEV_ACCESS_KEY_ID,
    DEV_ACCESS_KEY_SECRET,
    DEV_CLIENT_ID,
    DEV_CLIENT_SECRET,
    DEV_TENANT_ID,
    AccessKey,
    NiceSimConfig,
    create_app,
)
from service.simulators.serve import run_simulator, simulators

START = 1_800_000_000.0
CONTACT_PATH = "/business-data-manager/v1/business-data/contact"
OTHER_TENANT = "99999999-8888-7777-6666-555555555555"


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Sim:
    server: SimulatorServer
    http: httpx.AsyncClient
    clock: FakeClock
    sleeps: list[float] = field(default_factory=list)

    async def token(
        self, key_id: str = DEV_ACCESS_KEY_ID, secret: str = DEV_ACCESS_KEY_SECRET
    ) -> str:
        response = await self.http.post(
            "/auth/token",
            data={"grant_type": "password", "username": key_id, "password": secret},
            auth=(DEV_CLIENT_ID, DEV_CLIENT_SECRET),
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    async def contact(self, contact_id: str | int = "8675309", **fields: Any) -> dict[str, Any]:
        body = {"contact_id": contact_id, "tenant_id": DEV_TENANT_ID, **fields}
        response = await self.http.post("/_sim/contacts", json=body)
        assert response.status_code == 201, response.text
        stored: dict[str, Any] = response.json()
        return stored

    async def put(
        self,
        token: str | None,
        body: Any,
        contact_id: str = "8675309",
        segment_id: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        path = f"{CONTACT_PATH}/{contact_id}"
        if segment_id is not None:
            path += f"/segment/{segment_id}"
        headers = kwargs.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if "content" not in kwargs:
            kwargs["json"] = body
        return await self.http.put(path, headers=headers, **kwargs)

    async def stored(self, contact_id: str = "8675309") -> dict[str, Any]:
        response = await self.http.get(f"/_sim/contacts/{contact_id}")
        assert response.status_code == 200, response.text
        contact: dict[str, Any] = response.json()
        return contact

    async def patch_config(self, **changes: Any) -> None:
        response = await self.http.patch("/_sim/config", json=changes)
        assert response.status_code == 200, response.text

    async def fault(self, **rule: Any) -> dict[str, Any]:
        response = await self.http.post("/_sim/faults", json=rule)
        assert response.status_code == 201, response.text
        stored: dict[str, Any] = response.json()
        return stored


MakeSim = Callable[..., Awaitable[Sim]]


@pytest.fixture
async def make_sim() -> AsyncIterator[MakeSim]:
    async with AsyncExitStack() as stack:

        async def start(config: NiceSimConfig | None = None) -> Sim:
            clock = FakeClock()
            sleeps: list[float] = []

            async def record_sleep(seconds: float) -> None:
                sleeps.append(seconds)

            app = create_app(config, clock=clock, sleep=record_sleep)
            server = await stack.enter_async_context(SimulatorServer(app))
            http = await stack.enter_async_context(
                httpx.AsyncClient(base_url=server.url, timeout=10)
            )
            return Sim(server, http, clock, sleeps)

        yield start


@pytest.fixture
async def sim(make_sim: MakeSim) -> Sim:
    return await make_sim()


def claims(jwt: str) -> dict[str, Any]:
    parts = jwt.split(".")
    assert len(parts) == 3
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload))
    return decoded


def basic(user: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def two_tenant_config(**overrides: Any) -> NiceSimConfig:
    keys = {
        DEV_ACCESS_KEY_ID: AccessKey(secret=DEV_ACCESS_KEY_SECRET, tenant_id=DEV_TENANT_ID),
        "other-key": AccessKey(secret="other-secret", tenant_id=OTHER_TENANT),
        "reader-key": AccessKey(
            secret="reader-secret", tenant_id=DEV_TENANT_ID, permissions={"view_recordings"}
        ),
    }
    return NiceSimConfig(access_keys=keys, **overrides)


# --- discovery ---------------------------------------------------------------------------------


async def test_openid_configuration_names_this_server_and_its_token_endpoint(sim: Sim) -> None:
    response = await sim.http.get("/.well-known/openid-configuration")

    assert response.status_code == 200
    body = response.json()
    assert body["issuer"] == sim.server.url
    assert body["token_endpoint"] == f"{sim.server.url}/auth/token"
    assert "password" in body["grant_types_supported"]


async def test_cxone_configuration_returns_api_endpoint_and_area(sim: Sim) -> None:
    response = await sim.http.get(
        "/.well-known/cxone-configuration", params={"tenantId": DEV_TENANT_ID}
    )

    assert response.status_code == 200
    assert response.json() == {
        "api_endpoint": sim.server.url,
        "area": "na1",
        "tenantId": DEV_TENANT_ID,
    }


@pytest.mark.parametrize("query", [{"tenantId": "no-such-tenant"}, {}])
async def test_cxone_configuration_unknown_or_missing_tenant_is_404(
    sim: Sim, query: dict[str, str]
) -> None:
    response = await sim.http.get("/.well-known/cxone-configuration", params=query)

    assert response.status_code == 404
    assert response.json()["error"] == "tenant_not_found"


async def test_a_client_can_go_from_issuer_to_a_write_by_discovery_alone(sim: Sim) -> None:
    await sim.contact(segments=["seg-a"])
    oidc = (await sim.http.get("/.well-known/openid-configuration")).json()
    tokens = (
        await sim.http.post(
            oidc["token_endpoint"],
            data={
                "grant_type": "password",
                "username": DEV_ACCESS_KEY_ID,
                "password": DEV_ACCESS_KEY_SECRET,
            },
            auth=(DEV_CLIENT_ID, DEV_CLIENT_SECRET),
        )
    ).json()
    tenant_id = claims(tokens["id_token"])["tenantId"]
    cxone = (
        await sim.http.get(
            f"{oidc['issuer']}/.well-known/cxone-configuration", params={"tenantId": tenant_id}
        )
    ).json()

    response = await sim.http.put(
        f"{cxone['api_endpoint']}{CONTACT_PATH}/8675309",
        json=[{"Sentiment": "negative"}],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )

    assert response.status_code == 204
    assert (await sim.stored())["segments"] == {"seg-a": {"Sentiment": "negative"}}


# --- token endpoint ----------------------------------------------------------------------------


async def test_password_grant_with_basic_client_auth_issues_jwt_tokens(sim: Sim) -> None:
    response = await sim.http.post(
        "/auth/token",
        data={
            "grant_type": "password",
            "username": DEV_ACCESS_KEY_ID,
            "password": DEV_ACCESS_KEY_SECRET,
        },
        auth=(DEV_CLIENT_ID, DEV_CLIENT_SECRET),
    )

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    access = claims(body["access_token"])
    assert access["tenantId"] == DEV_TENANT_ID
    assert access["sub"]
    assert access["iat"] == int(START)
    assert access["exp"] - access["iat"] == 3600
    assert claims(body["id_token"])["tenantId"] == DEV_TENANT_ID


async def test_opaque_access_tokens_leave_the_tenant_id_to_the_id_token(
    make_sim: MakeSim,
) -> None:
    sim = await make_sim(NiceSimConfig(opaque_access_tokens=True))
    await sim.contact()
    response = await sim.http.post(
        "/auth/token",
        data={
            "grant_type": "password",
            "username": DEV_ACCESS_KEY_ID,
            "password": DEV_ACCESS_KEY_SECRET,
        },
        auth=(DEV_CLIENT_ID, DEV_CLIENT_SECRET),
    )

    body = response.json()
    assert response.status_code == 200
    assert "." not in body["access_token"]
    assert claims(body["id_token"])["tenantId"] == DEV_TENANT_ID
    write = await sim.http.put(
        "/business-data-manager/v1/business-data/contact/8675309",
        json=[{"Sentiment": "negative"}],
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert write.status_code == 204


async def test_client_credentials_may_travel_in_the_form(sim: Sim) -> None:
    response = await sim.http.post(
        "/auth/token",
        data={
            "grant_type": "password",
            "username": DEV_ACCESS_KEY_ID,
            "password": DEV_ACCESS_KEY_SECRET,
            "client_id": DEV_CLIENT_ID,
            "client_secret": DEV_CLIENT_SECRET,
        },
    )

    assert response.status_code == 200
    assert claims(response.json()["access_token"])["tenantId"] == DEV_TENANT_ID


@pytest.mark.parametrize(
    ("headers", "form_client"),
    [
        (basic(DEV_CLIENT_ID, "wrong-secret"), {}),
        (basic("unknown-client", DEV_CLIENT_SECRET), {}),
        ({"Authorization": "Basic not-base64!"}, {}),
        ({}, {}),
        ({}, {"client_id": DEV_CLIENT_ID, "client_secret": "wrong-secret"}),
    ],
)
async def test_wrong_or_missing_client_is_401_invalid_client(
    sim: Sim, headers: dict[str, str], form_client: dict[str, str]
) -> None:
    response = await sim.http.post(
        "/auth/token",
        data={
            "grant_type": "password",
            "username": DEV_ACCESS_KEY_ID,
            "password": DEV_ACCESS_KEY_SECRET,
            **form_client,
        },
        headers=headers,
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("key_id", "secret"), [(DEV_ACCESS_KEY_ID, "wrong-secret"), ("unknown-key", "x")]
)
async def test_wrong_access_key_is_401_invalid_grant(sim: Sim, key_id: str, secret: str) -> None:
    response = await sim.http.post(
        "/auth/token",
        data={"grant_type": "password", "username": key_id, "password": secret},
        auth=(DEV_CLIENT_ID, DEV_CLIENT_SECRET),
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"username": DEV_ACCESS_KEY_ID, "password": DEV_ACCESS_KEY_SECRET}, "invalid_request"),
        ({"grant_type": "password", "username": DEV_ACCESS_KEY_ID}, "invalid_request"),
    ],
)
async def test_wrong_grant_type_or_missing_parameters_are_400(
    sim: Sim, form: dict[str, str], error: str
) -> None:
    response = await sim.http.post(
        "/auth/token", data=form, auth=(DEV_CLIENT_ID, DEV_CLIENT_SECRET)
    )

    assert response.status_code == 400
    assert response.json()["error"] == error


async def test_token_request_must_be_form_encoded(sim: Sim) -> None:
    response = await sim.http.post(
        "/auth/token",
        json={
            "grant_type": "password",
            "username": DEV_ACCESS_KEY_ID,
            "password": DEV_ACCESS_KEY_SECRET,
        },
        auth=(DEV_CLIENT_ID, DEV_CLIENT_SECRET),
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_secrets_with_reserved_characters_work_when_form_encoded(make_sim: MakeSim) -> None:
    secret = "a+b/c=d&e%f"
    config = NiceSimConfig(access_keys={"k=1": AccessKey(secret=secret, tenant_id=DEV_TENANT_ID)})
    sim = await make_sim(config)

    assert claims(await sim.token("k=1", secret))["tenantId"] == DEV_TENANT_ID


async def test_token_lifetime_follows_the_configured_ttl(sim: Sim) -> None:
    await sim.patch_config(token_ttl_seconds=5)

    response = await sim.http.post(
        "/auth/token",
        data={
            "grant_type": "password",
            "username": DEV_ACCESS_KEY_ID,
            "password": DEV_ACCESS_KEY_SECRET,
        },
        auth=(DEV_CLIENT_ID, DEV_CLIENT_SECRET),
    )

    assert response.json()["expires_in"] == 5
    access = claims(response.json()["access_token"])
    assert access["exp"] - access["iat"] == 5


# --- bearer auth and permissions ---------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic Zm9vOmJhcg=="}],
)
async def test_write_without_a_valid_bearer_token_is_401(sim: Sim, headers: dict[str, str]) -> None:
    await sim.contact()

    response = await sim.put(None, [{"a": 1}], headers=headers)

    assert response.status_code == 401
    assert list((await sim.stored())["segments"].values()) == [{}]


async def test_token_stops_working_once_its_ttl_has_passed(make_sim: MakeSim) -> None:
    sim = await make_sim(NiceSimConfig(token_ttl_seconds=1))
    await sim.contact()
    token = await sim.token()
    assert (await sim.put(token, [{"a": 1}])).status_code == 204

    sim.clock.advance(1)

    response = await sim.put(token, [{"a": 2}])
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert (await sim.put(await sim.token(), [{"a": 2}])).status_code == 204


async def test_expire_control_invalidates_every_issued_token(sim: Sim) -> None:
    await sim.contact()
    first, second = await sim.token(), await sim.token()

    response = await sim.http.post("/_sim/tokens/expire")

    assert response.json() == {"expired": 2}
    assert (await sim.put(first, [{"a": 1}])).status_code == 401
    assert (await sim.put(second, [{"a": 1}])).status_code == 401
    assert (await sim.put(await sim.token(), [{"a": 1}])).status_code == 204


async def test_access_key_without_update_permission_is_403(make_sim: MakeSim) -> None:
    sim = await make_sim(two_tenant_config())
    await sim.contact()

    response = await sim.put(await sim.token("reader-key", "reader-secret"), [{"a": 1}])

    assert response.status_code == 403


async def test_contacts_are_invisible_to_other_tenants(make_sim: MakeSim) -> None:
    sim = await make_sim(two_tenant_config())
    await sim.contact(tenant_id=OTHER_TENANT)

    foreign = await sim.put(await sim.token(), [{"a": 1}])
    own = await sim.put(await sim.token("other-key", "other-secret"), [{"a": 1}])

    assert foreign.status_code == 404
    assert foreign.headers["X-Sim-Reason"] == "other_tenant"
    assert own.status_code == 204


# --- request body ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"not json", "not valid JSON"),
        (b'{"a": 1}', "array"),
        (b"[]", "at least one field"),
        (b'[{"a": 1}, "b"]', "body[1]"),
        (b'[{"a": 1, "b": 2}]', "body[0]"),
        (b"[{}]", "body[0]"),
        (b'[{"a": 1}, {"a": 1, "a": 2}]', "body[1]"),
        (b'[{"a": null}]', "null"),
        (b'[{"a": 1}, {"b": [1, 2]}]', "body[1]"),
        (b'[{"a": {"nested": true}}]', "object"),
        (b'[{"a": NaN}]', "not valid JSON"),
        (b'[{"": "x"}]', "empty field name"),
    ],
)
async def test_malformed_bodies_are_400_saying_what_is_wrong(
    sim: Sim, content: bytes, fragment: str
) -> None:
    await sim.contact()

    response = await sim.put(
        await sim.token(), None, content=content, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert fragment in response.json()["message"]


async def test_valid_write_is_204_empty_and_keeps_value_types(sim: Sim) -> None:
    await sim.contact(segments=["seg-a"])

    response = await sim.put(
        await sim.token(), [{"s": "text"}, {"b": True}, {"i": 1234}, {"f": -0.62}]
    )

    assert response.status_code == 204
    assert response.content == b""
    assert (await sim.stored())["segments"]["seg-a"] == {
        "s": "text",
        "b": True,
        "i": 1234,
        "f": -0.62,
    }


async def test_non_json_content_type_is_415_unless_relaxed(sim: Sim) -> None:
    await sim.contact()
    token = await sim.token()
    plain_text = {"Content-Type": "text/plain"}

    strict = await sim.put(token, None, content=b'[{"a": 1}]', headers=dict(plain_text))
    await sim.patch_config(require_json_content_type=False)
    relaxed = await sim.put(token, None, content=b'[{"a": 1}]', headers=dict(plain_text))

    assert strict.status_code == 415
    assert relaxed.status_code == 204


async def test_unknown_field_names_are_rejected_by_default(make_sim: MakeSim) -> None:
    sim = await make_sim(NiceSimConfig(field_catalogue={"Sentiment", "CrmAccount"}))
    await sim.contact(segments=["seg-a"])

    response = await sim.put(await sim.token(), [{"Sentiment": "ok"}, {"Mystery": 1}])

    assert response.status_code == 400
    assert "Mystery" in response.json()["message"]
    assert (await sim.stored())["segments"]["seg-a"] == {}


async def test_unknown_field_names_are_dropped_when_not_rejected(make_sim: MakeSim) -> None:
    sim = await make_sim(NiceSimConfig(field_catalogue={"Sentiment"}, reject_unknown_fields=False))
    await sim.contact(segments=["seg-a"])

    response = await sim.put(await sim.token(), [{"Sentiment": "ok"}, {"Mystery": 1}])

    assert response.status_code == 204
    assert (await sim.stored())["segments"]["seg-a"] == {"Sentiment": "ok"}


async def test_without_a_catalogue_any_field_name_is_accepted(sim: Sim) -> None:
    await sim.contact(segments=["seg-a"])

    response = await sim.put(await sim.token(), [{"Anything.Goes": 1}])

    assert response.status_code == 204
    assert (await sim.stored())["segments"]["seg-a"] == {"Anything.Goes": 1}


# --- contacts, segments and the write window ---------------------------------------------------


async def test_unknown_contact_and_unknown_segment_are_404(sim: Sim) -> None:
    await sim.contact(segments=["seg-a"])
    token = await sim.token()

    assert (await sim.put(token, [{"a": 1}], contact_id="404404")).status_code == 404
    assert (await sim.put(token, [{"a": 1}], segment_id="seg-x")).status_code == 404


async def test_open_contact_is_refused_until_closed(sim: Sim) -> None:
    await sim.contact(state="open")
    token = await sim.token()

    refused = await sim.put(token, [{"a": 1}])
    closed = await sim.http.post("/_sim/contacts/8675309/close")
    accepted = await sim.put(token, [{"a": 1}])

    assert refused.status_code == 404
    assert closed.json()["state"] == "closed"
    assert accepted.status_code == 204


async def test_open_contact_status_is_configurable(make_sim: MakeSim) -> None:
    sim = await make_sim(NiceSimConfig(open_contact_status=409))
    await sim.contact(state="open")

    response = await sim.put(await sim.token(), [{"a": 1}])

    assert response.status_code == 409


async def test_contact_is_404_during_the_indexing_lag_after_close(make_sim: MakeSim) -> None:
    sim = await make_sim(NiceSimConfig(indexing_lag_seconds=30))
    await sim.contact()
    token = await sim.token()

    early = await sim.put(token, [{"a": 1}])
    sim.clock.advance(30)
    indexed = await sim.put(token, [{"a": 1}])

    assert early.status_code == 404
    assert indexed.status_code == 204


async def test_indexing_lag_counts_from_the_registered_close_time(make_sim: MakeSim) -> None:
    sim = await make_sim(NiceSimConfig(indexing_lag_seconds=30))
    closed_at = datetime.fromtimestamp(START, UTC) - timedelta(seconds=10)
    await sim.contact(closed_at=closed_at.isoformat())
    token = await sim.token()

    early = await sim.put(token, [{"a": 1}])
    sim.clock.advance(20)
    indexed = await sim.put(token, [{"a": 1}])

    assert early.status_code == 404
    assert indexed.status_code == 204


async def test_contact_route_writes_every_segment_and_segment_route_one(sim: Sim) -> None:
    await sim.contact(segments=["seg-a", "seg-b"])
    token = await sim.token()

    await sim.put(token, [{"shared": "contact"}, {"x": 1}])
    await sim.put(token, [{"shared": "segment"}], segment_id="seg-b")

    assert (await sim.stored())["segments"] == {
        "seg-a": {"shared": "contact", "x": 1},
        "seg-b": {"shared": "segment", "x": 1},
    }


async def test_last_write_wins_per_field(sim: Sim) -> None:
    await sim.contact(segments=["seg-a"])
    token = await sim.token()

    await sim.put(token, [{"a": 1}, {"b": "first"}])
    await sim.put(token, [{"b": "second"}, {"c": False}, {"b": "third"}])

    assert (await sim.stored())["segments"]["seg-a"] == {"a": 1, "b": "third", "c": False}


async def test_auto_create_turns_unknown_contacts_into_closed_ones(make_sim: MakeSim) -> None:
    sim = await make_sim(NiceSimConfig(auto_create_contacts=True, indexing_lag_seconds=30))

    response = await sim.put(await sim.token(), [{"a": 1}], contact_id="777", segment_id="s-1")

    assert response.status_code == 204
    stored = await sim.stored("777")
    assert stored["state"] == "closed"
    assert stored["tenant_id"] == DEV_TENANT_ID
    assert stored["segments"] == {"s-1": {"a": 1}}


async def test_unknown_contacts_stay_unknown_without_auto_create(sim: Sim) -> None:
    response = await sim.put(await sim.token(), [{"a": 1}], contact_id="777")

    assert response.status_code == 404
    assert (await sim.http.get("/_sim/contacts/777")).status_code == 404


async def test_registered_contact_defaults_to_closed_now_with_one_segment(sim: Sim) -> None:
    stored = await sim.contact(contact_id=70747979)

    assert stored["contact_id"] == "70747979"
    assert stored["tenant_id"] == DEV_TENANT_ID
    assert stored["state"] == "closed"
    assert datetime.fromisoformat(stored["closed_at"]).timestamp() == START
    assert len(stored["segments"]) == 1
    assert list(stored["segments"].values()) == [{}]
    assert await sim.stored("70747979") == stored


# --- request-per-window mode -------------------------------------------------------------------


async def test_one_request_per_window_answers_429_with_retry_after(make_sim: MakeSim) -> None:
    sim = await make_sim(two_tenant_config(one_request_per_window_seconds=30))
    await sim.contact()
    await sim.contact("555", tenant_id=OTHER_TENANT)
    token = await sim.token()

    first = await sim.put(token, [{"a": 1}])
    sim.clock.advance(10)
    second = await sim.put(token, [{"a": 2}])
    other_tenant = await sim.put(
        await sim.token("other-key", "other-secret"), [{"a": 1}], contact_id="555"
    )
    sim.clock.advance(20)
    third = await sim.put(token, [{"a": 3}])

    assert first.status_code == 204
    assert second.status_code == 429
    assert second.headers["Retry-After"] == "20"
    assert other_tenant.status_code == 204
    assert third.status_code == 204


# --- fault injection ---------------------------------------------------------------------------


async def test_fault_fires_once_by_default_then_clears_itself(sim: Sim) -> None:
    await sim.contact()
    token = await sim.token()
    await sim.fault(status=500)

    failed = await sim.put(token, [{"a": 1}])
    recovered = await sim.put(token, [{"a": 1}])

    assert failed.status_code == 500
    assert recovered.status_code == 204
    assert (await sim.http.get("/_sim/faults")).json() == []


async def test_fault_fires_the_given_number_of_times(sim: Sim) -> None:
    await sim.contact()
    token = await sim.token()
    await sim.fault(status=503, times=2)

    statuses = [(await sim.put(token, [{"a": 1}])).status_code for _ in range(3)]

    assert statuses == [503, 503, 204]


async def test_429_carries_retry_after_only_when_configured(sim: Sim) -> None:
    await sim.contact()
    token = await sim.token()
    http_date = "Wed, 21 Oct 2026 07:28:00 GMT"
    await sim.fault(status=429, retry_after="2")
    await sim.fault(status=429, retry_after=http_date)
    await sim.fault(status=429)

    with_seconds = await sim.put(token, [{"a": 1}])
    with_date = await sim.put(token, [{"a": 1}])
    without = await sim.put(token, [{"a": 1}])

    assert (with_seconds.status_code, with_seconds.headers["Retry-After"]) == (429, "2")
    assert (with_date.status_code, with_date.headers["Retry-After"]) == (429, http_date)
    assert without.status_code == 429
    assert "Retry-After" not in without.headers


async def test_times_zero_fault_lasts_until_cleared(sim: Sim) -> None:
    await sim.contact()
    token = await sim.token()
    await sim.fault(status=503, times=0)

    statuses = [(await sim.put(token, [{"a": 1}])).status_code for _ in range(4)]
    cleared = await sim.http.delete("/_sim/faults")

    assert statuses == [503] * 4
    assert cleared.status_code == 204
    assert (await sim.put(token, [{"a": 1}])).status_code == 204


async def test_faults_match_on_method_and_path_prefix(sim: Sim) -> None:
    await sim.contact()
    await sim.fault(method="PUT", path_prefix=CONTACT_PATH, status=500, times=0)

    token = await sim.token()
    discovery = await sim.http.get("/.well-known/openid-configuration")
    write = await sim.put(token, [{"a": 1}])

    assert discovery.status_code == 200
    assert write.status_code == 500


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/.well-known/openid-configuration"),
        ("GET", f"/.well-known/cxone-configuration?tenantId={DEV_TENANT_ID}"),
        ("POST", "/auth/token"),
        ("PUT", f"{CONTACT_PATH}/8675309"),
    ],
)
async def test_faults_apply_to_every_vendor_route_before_auth(
    sim: Sim, method: str, path: str
) -> None:
    await sim.fault(status=503)

    response = await sim.http.request(method, path)

    assert response.status_code == 503


async def test_fault_body_is_returned_and_rules_list_their_remaining_uses(sim: Sim) -> None:
    stored = await sim.fault(status=500, times=3, body={"message": "boom"})

    response = await sim.http.get("/.well-known/openid-configuration")
    listed = (await sim.http.get("/_sim/faults")).json()

    assert stored["remaining"] == 3
    assert response.json() == {"message": "boom"}
    assert [(rule["id"], rule["remaining"]) for rule in listed] == [(stored["id"], 2)]


async def test_control_routes_are_never_faulted(sim: Sim) -> None:
    await sim.fault(status=500, times=0)

    assert (await sim.http.get("/_sim/faults")).status_code == 200
    assert (await sim.http.post("/_sim/contacts/none/close")).status_code == 404


async def test_latency_is_applied_globally_and_per_rule(sim: Sim) -> None:
    set_latency = await sim.http.put("/_sim/latency", json={"ms": 100})
    await sim.http.get("/.well-known/openid-configuration")
    await sim.fault(path_prefix="/.well-known", latency_ms=250)
    delayed_only = await sim.http.get("/.well-known/openid-configuration")

    assert set_latency.json() == {"ms": 100, "jitter_ms": 0}
    assert sim.sleeps == [0.1, 0.35]
    assert delayed_only.status_code == 200


async def test_latency_jitter_adds_a_random_delay_within_its_bound(sim: Sim) -> None:
    await sim.http.put("/_sim/latency", json={"ms": 100, "jitter_ms": 50})
    for _ in range(20):
        await sim.http.get("/.well-known/openid-configuration")

    assert all(0.1 <= s <= 0.15 for s in sim.sleeps)
    assert len(set(sim.sleeps)) > 1


async def test_fault_rule_needs_a_status_or_a_latency(sim: Sim) -> None:
    response = await sim.http.post("/_sim/faults", json={"path_prefix": "/auth"})

    assert response.status_code == 422


# --- request log -------------------------------------------------------------------------------


async def test_request_log_records_api_calls_without_credentials(sim: Sim) -> None:
    await sim.contact()
    token = await sim.token()
    await sim.put(token, [{"a": 1}])

    log = (await sim.http.get("/_sim/requests")).json()

    assert [(entry["method"], entry["path"], entry["status"]) for entry in log] == [
        ("POST", "/auth/token", 200),
        ("PUT", f"{CONTACT_PATH}/8675309", 204),
    ]
    token_call, write = log
    assert token_call["form"]["grant_type"] == "password"
    assert token_call["form"]["password"] == "***"
    assert write["json"] == [{"a": 1}]
    assert write["headers"]["content-type"] == "application/json"
    assert all("authorization" not in entry["headers"] for entry in log)
    assert token not in json.dumps(log)
    assert DEV_ACCESS_KEY_SECRET not in json.dumps(log)
    assert datetime.fromisoformat(write["time"]).timestamp() == START


async def test_request_log_records_faulted_and_rejected_calls_and_can_be_cleared(
    sim: Sim,
) -> None:
    await sim.fault(status=503)
    await sim.http.get("/.well-known/openid-configuration")
    await sim.put(None, [{"a": 1}])

    statuses = [entry["status"] for entry in (await sim.http.get("/_sim/requests")).json()]
    cleared = await sim.http.delete("/_sim/requests")

    assert statuses == [503, 401]
    assert cleared.status_code == 204
    assert (await sim.http.get("/_sim/requests")).json() == []


# --- configuration and reset -------------------------------------------------------------------


async def test_config_patch_changes_only_the_named_settings(sim: Sim) -> None:
    response = await sim.http.patch(
        "/_sim/config", json={"field_catalogue": ["b", "a"], "indexing_lag_seconds": 5}
    )

    settings = response.json()
    assert settings["field_catalogue"] == ["a", "b"]
    assert settings["indexing_lag_seconds"] == 5
    assert settings["reject_unknown_fields"] is True
    assert settings["token_ttl_seconds"] == 3600
    assert (await sim.http.get("/_sim/config")).json() == settings


@pytest.mark.parametrize(
    "changes",
    [{"clients": {}}, {"token_ttl_seconds": 0}, {"open_contact_status": "teapot"}],
)
async def test_config_patch_rejects_unknown_or_invalid_settings(
    sim: Sim, changes: dict[str, Any]
) -> None:
    before = (await sim.http.get("/_sim/config")).json()

    response = await sim.http.patch("/_sim/config", json=changes)

    assert response.status_code == 422
    assert (await sim.http.get("/_sim/config")).json() == before


async def test_reset_clears_contacts_faults_tokens_and_log(sim: Sim) -> None:
    await sim.contact()
    token = await sim.token()
    await sim.fault(status=500, times=0)
    await sim.http.put("/_sim/latency", json={"ms": 10})

    response = await sim.http.post("/_sim/reset")

    assert response.status_code == 204
    assert (await sim.http.get("/_sim/contacts")).json() == []
    assert (await sim.http.get("/_sim/faults")).json() == []
    assert (await sim.http.get("/_sim/latency")).json() == {"ms": 0, "jitter_ms": 0}
    assert (await sim.http.get("/_sim/requests")).json() == []
    await sim.contact()
    assert (await sim.put(token, [{"a": 1}])).status_code == 401


# --- serving -----------------------------------------------------------------------------------


async def test_server_binds_loopback_free_port_and_releases_it_on_exit() -> None:
    app = create_app()
    sigint_before = signal.getsignal(signal.SIGINT)
    sigterm_before = signal.getsignal(signal.SIGTERM)

    async with SimulatorServer(app) as first, SimulatorServer(create_app()) as second:
        assert first.port != second.port
        assert first.url == f"http://127.0.0.1:{first.port}"
        assert signal.getsignal(signal.SIGINT) is sigint_before
        assert signal.getsignal(signal.SIGTERM) is sigterm_before
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{first.url}/_sim/faults")).status_code == 200

    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{first.url}/_sim/faults")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_access_log_is_off_per_server_and_uvicorn_loggers_are_left_alone() -> None:
    access_logger = logging.getLogger("uvicorn.access")
    handler = _Records()
    level = access_logger.level
    access_logger.addHandler(handler)
    access_logger.setLevel(logging.INFO)
    try:
        async with (
            SimulatorServer(create_app()) as quiet,
            SimulatorServer(create_app(), access_log=True) as loud,
            httpx.AsyncClient() as http,
        ):
            await http.get(f"{quiet.url}/.well-known/openid-configuration")
            quiet_records = len(handler.records)
            await http.get(f"{loud.url}/.well-known/openid-configuration")
        assert handler in access_logger.handlers
    finally:
        access_logger.removeHandler(handler)
        access_logger.setLevel(level)

    assert quiet_records == 0
    assert len(handler.records) == 1


async def test_two_simulators_keep_separate_state(make_sim: MakeSim) -> None:
    first, second = await make_sim(), await make_sim()

    await first.contact()

    assert (await second.http.get("/_sim/contacts")).json() == []


async def test_busy_port_fails_start_with_os_error() -> None:
    async with SimulatorServer(create_app()) as running:
        with pytest.raises(OSError):
            await SimulatorServer(create_app(), port=running.port).start()


async def test_run_simulator_serves_until_cancelled() -> None:
    started: asyncio.Queue[str] = asyncio.Queue()
    task = asyncio.create_task(run_simulator("nice-cxone", 0, on_started=started.put_nowait))
    url = await asyncio.wait_for(started.get(), timeout=10)

    async with httpx.AsyncClient() as http:
        response = await http.get(f"{url}/.well-known/openid-configuration")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{url}/.well-known/openid-configuration")

    assert response.json()["issuer"] == url


async def test_run_simulator_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="nice-cxone"):
        await run_simulator("no-such-vendor", 0)


def test_registry_builds_independent_nice_apps() -> None:
    factory = simulators()["nice-cxone"]

    first, second = factory(), factory()

    assert isinstance(first, FastAPI)
    assert first.state.sim is not second.state.sim
