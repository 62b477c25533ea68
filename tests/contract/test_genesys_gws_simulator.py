"""Contract tests for the Genesys GWS simulator, over real loopback HTTP.

Each test pins one rule GWS documents (or implies, where it is a setting) or one promise of
the control surface, so a client that passes against the simulator is held to the same rules
as against GWS. Time is a fake clock and latency a recorded sleep: nothing here waits on a timer.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from service.platforms.genesys_gws.simulator import (
    CSRF_REFUSAL,
    DEV_PASSWORD,
    DEV_USERNAME,
    GwsSimConfig,
    create_app,
)
from tests.fixtures.genesys_gws import GwsSim, serve_gws

START = 1_800_000_000.0
CALL = "/api/v2/me/calls/call-1"
UPDATE = {"operationName": "UpdateUserData", "userData": {"Sentiment": "negative", "Case": 4711}}


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def basic(user: str = DEV_USERNAME, password: str = DEV_PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Agent:
    """A hand-driven GWS client: cookies and the CSRF token are explicit, never implicit, so
    every test states exactly what it sends."""

    http: httpx.AsyncClient
    user: str = DEV_USERNAME
    password: str = DEV_PASSWORD
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: tuple[str, str] | None = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        credentials: bool = True,
        cookies: dict[str, str] | None = None,
        token: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if credentials:
            headers["Authorization"] = basic(self.user, self.password)
        jar = self.cookies if cookies is None else cookies
        if jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        if token is not None and self.csrf is not None:
            headers[self.csrf[0]] = token
        try:
            return await self.http.request(method, path, headers=headers, **kwargs)
        finally:
            self.http.cookies.clear()

    async def login(self) -> httpx.Response:
        response = await self.request("GET", "/api/v2/me", cookies={})
        assert response.status_code == 200, response.text
        self.cookies = dict(response.cookies)
        name = response.headers.get("X-CSRF-HEADER")
        token = response.headers.get("X-CSRF-TOKEN")
        self.csrf = (name, token) if name and token else None
        return response

    async def write(self, path: str = CALL, body: Any = UPDATE, **kwargs: Any) -> httpx.Response:
        token = self.csrf[1] if self.csrf else None
        if "content" in kwargs:
            return await self.request("POST", path, token=token, **kwargs)
        return await self.request("POST", path, token=token, json=body, **kwargs)


@dataclass
class Harness:
    sim: GwsSim
    agent: Agent
    clock: FakeClock
    sleeps: list[float]

    async def write_ok(self, path: str = CALL, body: Any = UPDATE) -> dict[str, Any]:
        response = await self.agent.write(path, body)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer


MakeHarness = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def make_harness() -> AsyncIterator[MakeHarness]:
    async with AsyncExitStack() as stack:

        async def start(config: GwsSimConfig | None = None, login: bool = True) -> Harness:
            clock = FakeClock()
            sleeps: list[float] = []

            async def record_sleep(seconds: float) -> None:
                sleeps.append(seconds)

            sim = await stack.enter_async_context(
                serve_gws(config, clock=clock, sleep=record_sleep)
            )
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=sim.url, timeout=10))
            agent = Agent(http)
            if login:
                await agent.login()
            return Harness(sim, agent, clock, sleeps)

        yield start


@pytest.fixture
async def gws(make_harness: MakeHarness) -> Harness:
    harness = await make_harness(GwsSimConfig(auto_create=False))
    await harness.sim.interaction("calls", "call-1")
    return harness


def status_of(response: httpx.Response) -> int:
    code: int = response.json()["statusCode"]
    return code


# --- authentication and sessions (requirement 12) ----------------------------------------------


async def test_get_me_opens_a_session_and_announces_the_csrf_header(
    make_harness: MakeHarness,
) -> None:
    harness = await make_harness(login=False)

    response = await harness.agent.login()

    assert response.json()["statusCode"] == 0
    assert response.json()["user"]["userName"] == DEV_USERNAME
    assert "JSESSIONID" in response.cookies
    assert "HttpOnly" in response.headers["set-cookie"]
    assert response.headers["X-CSRF-HEADER"] == "X-CSRF-TOKEN"
    assert response.headers["X-CSRF-TOKEN"]
    assert len((await harness.sim.control.get("/_sim/sessions")).json()) == 1


@pytest.mark.parametrize(
    "authorization",
    [None, basic(DEV_USERNAME, "wrong"), basic("nobody", DEV_PASSWORD), "Basic not-base64!"],
)
async def test_missing_or_wrong_credentials_are_status_code_20_with_401(
    make_harness: MakeHarness, authorization: str | None
) -> None:
    harness = await make_harness(login=False)
    headers = {} if authorization is None else {"Authorization": authorization}

    response = await harness.agent.http.get("/api/v2/me", headers=headers)

    assert response.status_code == 401
    assert response.json()["statusCode"] == 20
    assert "JSESSIONID" not in response.cookies


async def test_unauthenticated_http_status_is_configurable(make_harness: MakeHarness) -> None:
    harness = await make_harness(GwsSimConfig(unauthenticated_http_status=403), login=False)

    response = await harness.agent.request("GET", "/api/v2/me", credentials=False, cookies={})

    assert (response.status_code, status_of(response)) == (403, 20)


async def test_the_same_session_keeps_its_token_and_a_new_session_gets_a_new_one(
    gws: Harness,
) -> None:
    assert gws.agent.csrf is not None
    first_token = gws.agent.csrf[1]
    again = await gws.agent.request("GET", "/api/v2/me")
    fresh = await gws.agent.request("GET", "/api/v2/me", cookies={})

    assert again.headers["X-CSRF-TOKEN"] == first_token
    assert "set-cookie" not in again.headers
    assert fresh.headers["X-CSRF-TOKEN"] != again.headers["X-CSRF-TOKEN"]
    assert fresh.cookies["JSESSIONID"] != gws.agent.cookies["JSESSIONID"]


async def test_a_session_cookie_alone_authenticates(gws: Harness) -> None:
    response = await gws.agent.request("GET", "/api/v2/me/calls", credentials=False)

    assert response.status_code == 200
    assert [call["id"] for call in response.json()["calls"]] == ["call-1"]


async def test_write_with_session_and_matching_token_succeeds(gws: Harness) -> None:
    response = await gws.agent.write()

    assert (response.status_code, response.json()) == (200, {"statusCode": 0})
    assert await gws.sim.user_data("calls", "call-1") == {"Sentiment": "negative", "Case": 4711}


async def test_write_without_a_live_session_and_its_token_is_403(gws: Harness) -> None:
    assert gws.agent.csrf is not None
    real = gws.agent.csrf[1]
    attempts = {
        "no token": (None, None),
        "wrong token": (None, "not-the-token"),
        "no session cookie": ({}, real),
        "cookie of no live session": ({"JSESSIONID": "UNKNOWN"}, real),
    }

    answers = {
        name: await gws.agent.request("POST", CALL, cookies=cookies, token=token, json=UPDATE)
        for name, (cookies, token) in attempts.items()
    }

    assert {name: (r.status_code, r.text) for name, r in answers.items()} == {
        name: (403, CSRF_REFUSAL) for name in attempts
    }
    assert await gws.sim.user_data("calls", "call-1") == {}


async def test_csrf_is_checked_before_credentials(gws: Harness) -> None:
    gws.agent.password = "wrong"

    without_token = await gws.agent.request("POST", CALL, json=UPDATE)
    with_token = await gws.agent.write()

    assert without_token.status_code == 403
    assert (with_token.status_code, status_of(with_token)) == (401, 20)


async def test_expiring_sessions_invalidates_cookies_and_tokens(gws: Harness) -> None:
    expired = await gws.sim.expire_sessions()

    refused = await gws.agent.write()
    await gws.agent.login()
    accepted = await gws.agent.write()

    assert expired == 1
    assert refused.status_code == 403
    assert accepted.status_code == 200


async def test_without_csrf_protection_no_token_is_announced_or_needed(
    make_harness: MakeHarness,
) -> None:
    harness = await make_harness(GwsSimConfig(csrf_protection=False, auto_create=False))
    await harness.sim.interaction("calls", "call-1")

    me = await harness.agent.request("GET", "/api/v2/me", cookies={})
    bare = await harness.agent.request("POST", CALL, cookies={}, json=UPDATE)

    assert "X-CSRF-TOKEN" not in me.headers
    assert "X-CSRF-HEADER" not in me.headers
    assert bare.status_code == 200
    assert "JSESSIONID" in bare.cookies  # a session is still created for the request


async def test_csrf_header_name_is_configurable(make_harness: MakeHarness) -> None:
    harness = await make_harness(GwsSimConfig(csrf_header_name="X-GWS-CSRF", auto_create=False))
    await harness.sim.interaction("calls", "call-1")

    assert harness.agent.csrf is not None
    assert harness.agent.csrf[0] == "X-GWS-CSRF"
    assert (await harness.agent.write()).status_code == 200


async def test_lb_stickiness_cookie_must_come_back_with_the_session(
    make_harness: MakeHarness,
) -> None:
    harness = await make_harness(GwsSimConfig(lb_cookie="GWSLB", auto_create=False))
    await harness.sim.interaction("calls", "call-1")
    cookies = dict(harness.agent.cookies)

    without_lb = await harness.agent.write(cookies={"JSESSIONID": cookies["JSESSIONID"]})
    with_lb = await harness.agent.write()

    assert set(cookies) == {"JSESSIONID", "GWSLB"}
    assert without_lb.status_code == 403
    assert with_lb.status_code == 200


async def test_password_rotation_refuses_the_old_password_at_once(gws: Harness) -> None:
    await gws.sim.set_user(DEV_USERNAME, "rotated")

    old = await gws.agent.write()
    gws.agent.password = "rotated"
    new = await gws.agent.write()

    assert (old.status_code, status_of(old)) == (401, 20)
    assert new.status_code == 200


async def test_password_change_demanded_is_status_code_8(gws: Harness) -> None:
    await gws.sim.set_user(DEV_USERNAME, DEV_PASSWORD, password_change_required=True)

    response = await gws.agent.request("GET", "/api/v2/me", cookies={})

    assert status_of(response) == 8


# --- dispatch and validation (requirement 13) --------------------------------------------------


INVALID_OPERATIONS: list[tuple[str, Any, int]] = [
    ("no operationName", {"userData": {"a": "1"}}, 1),
    ("empty operationName", {"operationName": "", "userData": {"a": "1"}}, 1),
    ("no userData", {"operationName": "UpdateUserData"}, 1),
    ("userData not an object", {"operationName": "UpdateUserData", "userData": ["a"]}, 1),
    ("attach without userData", {"operationName": "AttachUserData"}, 1),
    ("unknown operation", {"operationName": "Teleport", "userData": {"a": "1"}}, 1),
    ("delete pair without key", {"operationName": "DeleteUserDataPair"}, 1),
    ("disposition without value", {"operationName": "SetCallDisposition"}, 1),
    ("boolean value", {"operationName": "UpdateUserData", "userData": {"flag": True}}, 1),
    ("float value", {"operationName": "UpdateUserData", "userData": {"score": 0.5}}, 1),
    ("nested value", {"operationName": "UpdateUserData", "userData": {"n": {"a": 1}}}, 1),
    ("null value", {"operationName": "UpdateUserData", "userData": {"nothing": None}}, 1),
    ("integer beyond 32 bits", {"operationName": "UpdateUserData", "userData": {"b": 2**31}}, 10),
    ("body not an object", [{"operationName": "UpdateUserData"}], 1),
]


async def test_invalid_operations_are_refused_with_a_status_code_and_change_nothing(
    gws: Harness,
) -> None:
    answers = {name: await gws.agent.write(body=body) for name, body, _ in INVALID_OPERATIONS}

    assert {name: (r.status_code, status_of(r)) for name, r in answers.items()} == {
        name: (400, code) for name, _, code in INVALID_OPERATIONS
    }
    assert all(r.json()["statusMessage"] for r in answers.values())
    assert (await gws.sim.stored("calls", "call-1"))["user_data_pairs"] == []


async def test_a_body_that_is_not_json_is_status_code_1(gws: Harness) -> None:
    response = await gws.agent.write(
        content=b"operationName=UpdateUserData", headers={"Content-Type": "application/json"}
    )

    assert status_of(response) == 1


async def test_relaxed_values_accept_any_json_type(make_harness: MakeHarness) -> None:
    harness = await make_harness(GwsSimConfig(strict_values=False))

    await harness.write_ok(body={"operationName": "UpdateUserData", "userData": {"flag": True}})

    assert await harness.sim.user_data("calls", "call-1") == {"flag": True}


async def test_unknown_interaction_is_status_code_6_without_auto_create(gws: Harness) -> None:
    response = await gws.agent.write("/api/v2/me/chats/nope")

    assert (response.status_code, status_of(response)) == (404, 6)
    assert (await gws.sim.control.get("/_sim/interactions/chats/nope")).status_code == 404


async def test_another_agents_interaction_is_status_code_6(gws: Harness) -> None:
    await gws.sim.set_user("someone-else", "pw")
    await gws.sim.interaction("calls", "theirs", agent="someone-else")

    write = await gws.agent.write("/api/v2/me/calls/theirs")
    read = await gws.agent.request("GET", "/api/v2/me/calls/theirs")

    assert status_of(write) == 6
    assert status_of(read) == 6
    assert await gws.sim.user_data("calls", "theirs") == {}


async def test_auto_create_makes_unknown_ids_live_interactions_of_the_caller(
    make_harness: MakeHarness,
) -> None:
    harness = await make_harness()

    await harness.write_ok("/api/v2/me/smssessions/sms-9")

    stored = await harness.sim.stored("smssessions", "sms-9")
    assert (stored["agent"], stored["state"]) == (DEV_USERNAME, "Chatting")
    assert stored["user_data"] == UPDATE["userData"]


@pytest.mark.parametrize(("media", "end"), [("calls", "release"), ("chats", "complete")])
async def test_ended_interactions_refuse_user_data_with_status_code_2(
    gws: Harness, media: str, end: str
) -> None:
    await gws.sim.interaction(media, "x-1")
    await gws.sim.control.post(f"/_sim/interactions/{media}/x-1/{end}")

    response = await gws.agent.write(f"/api/v2/me/{media}/x-1")

    assert status_of(response) == 2
    stored = await gws.sim.stored(media, "x-1")
    assert stored["capabilities"] == []
    assert stored["user_data"] == {}


async def test_capabilities_decide_even_while_live(gws: Harness) -> None:
    await gws.sim.interaction("calls", "limited", capabilities=["Hangup"])

    response = await gws.agent.write("/api/v2/me/calls/limited")

    assert status_of(response) == 2


async def test_release_is_for_calls_and_complete_for_chats(gws: Harness) -> None:
    await gws.sim.interaction("chats", "c-1")

    wrong = await gws.sim.control.post("/_sim/interactions/calls/c-1/release")
    also_wrong = await gws.sim.control.post("/_sim/interactions/calls/call-1/complete")

    assert wrong.status_code == 404
    assert also_wrong.status_code == 409


async def test_reads_show_the_vendor_view_of_the_agents_interactions(gws: Harness) -> None:
    await gws.write_ok()

    one = await gws.agent.request("GET", CALL)
    listing = await gws.agent.request("GET", "/api/v2/me/chats")

    call = one.json()["call"]
    assert call["state"] == "Established"
    assert call["userData"] == UPDATE["userData"]
    assert "UpdateUserData" in call["capabilities"]
    assert listing.json() == {"statusCode": 0, "chats": []}
    assert "X-CSRF-TOKEN" in one.headers


async def test_http_status_per_status_code_is_configurable(make_harness: MakeHarness) -> None:
    harness = await make_harness(
        GwsSimConfig(auto_create=False, http_status_by_code={6: 200, 1: 200})
    )

    unknown = await harness.agent.write("/api/v2/me/calls/none")

    assert (unknown.status_code, status_of(unknown)) == (200, 6)


# --- semantics and notifications (requirement 14) ----------------------------------------------


async def test_update_overwrites_and_attach_appends_duplicates(gws: Harness) -> None:
    await gws.write_ok(body={"operationName": "AttachUserData", "userData": {"k": "a", "n": 1}})
    await gws.write_ok(body={"operationName": "AttachUserData", "userData": {"k": "b"}})
    attached = (await gws.sim.stored("calls", "call-1"))["user_data_pairs"]
    await gws.write_ok(body={"operationName": "UpdateUserData", "userData": {"k": "c", "m": 2}})

    stored = await gws.sim.stored("calls", "call-1")
    assert attached == [["k", "a"], ["n", 1], ["k", "b"]]
    assert stored["user_data_pairs"] == [["k", "c"], ["n", 1], ["m", 2]]


async def test_update_user_data_is_idempotent(gws: Harness) -> None:
    for _ in range(3):
        await gws.write_ok()

    assert (await gws.sim.stored("calls", "call-1"))["user_data_pairs"] == [
        ["Sentiment", "negative"],
        ["Case", 4711],
    ]


async def test_voice_delete_pair_removes_one_key_and_delete_clears_all(gws: Harness) -> None:
    await gws.write_ok(body={"operationName": "UpdateUserData", "userData": {"a": "1", "b": "2"}})

    await gws.write_ok(body={"operationName": "DeleteUserDataPair", "key": "a"})
    after_pair = await gws.sim.user_data("calls", "call-1")
    await gws.write_ok(body={"operationName": "DeleteUserData"})

    assert after_pair == {"b": "2"}
    assert await gws.sim.user_data("calls", "call-1") == {}


async def test_chat_delete_removes_the_listed_keys_and_needs_them(gws: Harness) -> None:
    await gws.sim.interaction("chats", "c-1", user_data={"a": "1", "b": "2", "c": 3})
    path = "/api/v2/me/chats/c-1"

    without_keys = await gws.agent.write(path, {"operationName": "DeleteUserData"})
    pair = await gws.agent.write(path, {"operationName": "DeleteUserDataPair", "key": "a"})
    await gws.write_ok(path, {"operationName": "DeleteUserData", "keys": ["a", "c"]})

    assert status_of(without_keys) == 1
    assert status_of(pair) == 1  # a voice-only operation
    assert await gws.sim.user_data("chats", "c-1") == {"b": "2"}


async def test_set_call_disposition_on_a_live_call_writes_user_data_and_notifies(
    gws: Harness,
) -> None:
    body = {"operationName": "SetCallDisposition", "disposition": "Resolved"}

    await gws.write_ok(body=body)

    assert await gws.sim.user_data("calls", "call-1") == {"DispositionCode": "Resolved"}
    [event] = await gws.sim.events(min_count=1)
    assert event["data"]["notificationType"] == "AttachedDataChanged"


async def test_set_call_disposition_on_a_released_call_succeeds_silently(gws: Harness) -> None:
    await gws.sim.release("call-1")
    body = {
        "operationName": "SetCallDisposition",
        "disposition": "Sale",
        "dispositionKey": "Outcome",
    }

    answer = await gws.write_ok(body=body)
    refused_update = await gws.agent.write()

    stored = await gws.sim.stored("calls", "call-1")
    assert answer == {"statusCode": 0}
    assert [(d["key"], d["disposition"]) for d in stored["dispositions"]] == [("Outcome", "Sale")]
    assert stored["user_data"] == {}
    assert status_of(refused_update) == 2
    assert await gws.sim.events(min_count=0) == []


@pytest.mark.parametrize(
    ("media", "channel", "message_type", "notification"),
    [
        ("calls", "/v2/me/calls", "CallStateChanged", "AttachedDataChanged"),
        ("chats", "/v2/me/chats", "ChatStateChanged", "PropertiesUpdated"),
        ("smssessions", "/v2/me/smssessions", "SMSsessionStateChangeMessage", "PropertiesUpdated"),
    ],
)
async def test_success_publishes_the_media_notification(
    gws: Harness, media: str, channel: str, message_type: str, notification: str
) -> None:
    await gws.sim.interaction(media, "i-1")

    await gws.write_ok(f"/api/v2/me/{media}/i-1")

    [event] = await gws.sim.events(min_count=1)
    singular = {"calls": "call", "chats": "chat", "smssessions": "smssession"}[media]
    assert event["channel"] == channel
    assert event["data"]["messageType"] == message_type
    assert event["data"]["notificationType"] == notification
    assert event["data"][singular]["id"] == "i-1"
    assert event["data"][singular]["userData"] == UPDATE["userData"]
    assert datetime.fromisoformat(event["time"]).timestamp() == START


async def test_refused_writes_publish_nothing_and_events_can_be_cleared(gws: Harness) -> None:
    await gws.agent.write(body={"operationName": "UpdateUserData"})
    await gws.write_ok()
    assert len(await gws.sim.events(min_count=1)) == 1

    cleared = await gws.sim.control.delete("/_sim/events")

    assert cleared.status_code == 204
    assert await gws.sim.events() == []


async def test_event_delay_goes_through_the_injected_sleep(make_harness: MakeHarness) -> None:
    harness = await make_harness(GwsSimConfig(event_delay_ms=250))

    await harness.write_ok()
    await harness.sim.events(min_count=1)

    assert harness.sleeps == [0.25]


# --- faults and injected status codes ----------------------------------------------------------


async def test_injected_status_code_4_answers_the_next_write_then_clears(gws: Harness) -> None:
    rule = await gws.sim.inject_status_code(4)

    failed = await gws.agent.write()
    recovered = await gws.agent.write()

    assert (rule["status"], rule["method"], rule["path_prefix"]) == (500, "POST", "/api/v2/me/")
    assert (failed.status_code, status_of(failed)) == (500, 4)
    assert recovered.status_code == 200


async def test_injected_status_code_can_target_one_media_and_an_http_status(
    gws: Harness,
) -> None:
    await gws.sim.interaction("chats", "c-1")
    await gws.sim.inject_status_code(9, media="chats", http_status=200, times=0)

    call = await gws.agent.write()
    chat = await gws.agent.write("/api/v2/me/chats/c-1")
    read = await gws.agent.request("GET", "/api/v2/me/chats/c-1")

    assert call.status_code == 200
    assert (chat.status_code, status_of(chat)) == (200, 9)
    assert status_of(read) == 0


async def test_generic_faults_and_latency_apply_to_vendor_routes(gws: Harness) -> None:
    await gws.sim.fault(status=503, retry_after="7")
    await gws.sim.control.put("/_sim/latency", json={"ms": 40})

    response = await gws.agent.write()

    assert (response.status_code, response.headers["Retry-After"]) == (503, "7")
    assert gws.sleeps == [0.04]


# --- request log, config, reset, dev defaults --------------------------------------------------


async def test_request_log_masks_credentials_cookies_and_tokens(gws: Harness) -> None:
    await gws.write_ok()
    assert gws.agent.csrf is not None

    log = (await gws.sim.control.get("/_sim/requests")).json()

    text = json.dumps(log)
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", "/api/v2/me", 200),
        ("POST", CALL, 200),
    ]
    write = log[1]
    assert write["json"] == UPDATE
    assert write["headers"]["cookie"] == "JSESSIONID=***"
    assert write["headers"]["x-csrf-token"] == "***"
    assert "authorization" not in write["headers"]
    assert gws.agent.csrf[1] not in text
    assert gws.agent.cookies["JSESSIONID"] not in text
    assert DEV_PASSWORD not in text


async def test_config_patch_changes_only_named_settings(gws: Harness) -> None:
    settings = await gws.sim.configure(csrf_protection=False, event_delay_ms=5)

    assert settings["csrf_protection"] is False
    assert settings["event_delay_ms"] == 5
    assert settings["auto_create"] is False
    assert (await gws.sim.control.get("/_sim/config")).json() == settings
    assert "users" not in settings


@pytest.mark.parametrize(
    "changes", [{"users": {}}, {"unauthenticated_http_status": 200}, {"lb_cookie": "bad name"}]
)
async def test_config_patch_rejects_unknown_or_invalid_settings(
    gws: Harness, changes: dict[str, Any]
) -> None:
    before = (await gws.sim.control.get("/_sim/config")).json()

    response = await gws.sim.control.patch("/_sim/config", json=changes)

    assert response.status_code == 422
    assert (await gws.sim.control.get("/_sim/config")).json() == before


async def test_reset_clears_state_and_restores_configured_users(gws: Harness) -> None:
    await gws.write_ok()
    await gws.sim.set_user(DEV_USERNAME, "rotated")
    await gws.sim.fault(status=500, times=0)

    response = await gws.sim.control.post("/_sim/reset")

    assert response.status_code == 204
    assert (await gws.sim.control.get("/_sim/interactions")).json() == []
    assert (await gws.sim.control.get("/_sim/sessions")).json() == []
    assert (await gws.sim.control.get("/_sim/faults")).json() == []
    assert (await gws.sim.control.get("/_sim/requests")).json() == []
    assert await gws.sim.events() == []
    assert (await gws.agent.write()).status_code == 403  # the old session is gone
    assert (await gws.agent.login()).status_code == 200  # the configured password is back


async def test_bare_app_serves_the_dev_agent_with_auto_create(make_harness: MakeHarness) -> None:
    harness = await make_harness()

    answer = await harness.write_ok("/api/v2/me/chats/any-id")

    assert answer == {"statusCode": 0}
    settings = (await harness.sim.control.get("/_sim/config")).json()
    assert settings["auto_create"] is True
    assert settings["csrf_protection"] is True


def test_apps_are_independent() -> None:
    first, second = create_app(), create_app()

    assert isinstance(first, FastAPI)
    assert first.state.sim is not second.state.sim
