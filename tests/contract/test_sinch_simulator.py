"""Contract tests for the Sinch Contact Pro simulator, over real loopback HTTP.

Each test pins one rule Sinch documents (or implies, where it is a setting) or one
control-surface promise, so a client that passes against the simulator is held to the same
rules as against Sinch. The clock is fake and latency a recorded sleep: nothing here waits.
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

from service.http_server import AppServer
from service.platforms.sinch_contact_pro.simulator import (
    CONTACT_DATA_PATH,
    DEV_API_KEY,
    DEV_PASSWORD,
    DEV_USERNAME,
    ApiUser,
    SinchSimConfig,
    create_app,
)
from tests.fixtures.sinch import SinchSim

START = 1_800_000_000.0
CONTACT = "0A1B2C3D4E5F60718293A4B5C6D7E8F9"
USER, PASSWORD, API_KEY = "api-user", "user-password", "tenant-api-key"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Sim(SinchSim):
    sleeps: list[float] = field(default_factory=list)

    async def post(
        self,
        body: Any,
        *,
        user: str = USER,
        password: str = PASSWORD,
        api_key: str | None = API_KEY,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        sent = {"Authorization": basic(user, password)}
        if api_key is not None:
            sent["X-Api-Key"] = api_key
        sent.update(headers or {})
        if content is None:
            return await self.control.post(CONTACT_DATA_PATH, json=body, headers=sent)
        return await self.control.post(CONTACT_DATA_PATH, content=content, headers=sent)

    async def get_data(
        self, contact_id: str = CONTACT, *, user: str = USER, password: str = PASSWORD
    ) -> httpx.Response:
        return await self.control.get(
            f"{CONTACT_DATA_PATH}/{contact_id}",
            headers={"Authorization": basic(user, password), "X-Api-Key": API_KEY},
        )


MakeSim = Callable[..., Awaitable[Sim]]


def config(**overrides: Any) -> SinchSimConfig:
    values: dict[str, Any] = {
        "users": {
            USER: ApiUser(password=PASSWORD),
            "queue-b-only": ApiUser(
                password=PASSWORD,
                manage_contacts=frozenset({"queue-b"}),
                statistics_details=frozenset({"queue-b"}),
            ),
            "writer": ApiUser(password=PASSWORD, statistics_details=frozenset()),
        },
        "api_keys": frozenset({API_KEY}),
        "extra_data_for_history": {"voice": ["Sentiment", "Score"], "chat": ["*"]},
        "auto_create_contacts": False,
        **overrides,
    }
    return SinchSimConfig(**values)


@pytest.fixture
async def make_sim() -> AsyncIterator[MakeSim]:
    async with AsyncExitStack() as stack:

        async def start(
            sim_config: SinchSimConfig | None = None, clock: Callable[[], float] = lambda: START
        ) -> Sim:
            sleeps: list[float] = []

            async def record_sleep(seconds: float) -> None:
                sleeps.append(seconds)

            app = create_app(sim_config, clock=clock, sleep=record_sleep)
            server = await stack.enter_async_context(AppServer(app))
            http = await stack.enter_async_context(
                httpx.AsyncClient(base_url=server.url, timeout=10)
            )
            return Sim(server.url, http, sleeps)

        yield start


@pytest.fixture
async def sim(make_sim: MakeSim) -> Sim:
    return await make_sim(config())


def write(contact_id: str = CONTACT, **data: Any) -> dict[str, Any]:
    return {"id": contact_id, "attachedData": data or {"Sentiment": "negative"}}


def error_of(response: httpx.Response) -> str:
    code: str = response.json()["error"]
    return code


# --- success and semantics ---------------------------------------------------------------------


async def test_post_stores_the_data_and_answers_201_with_location_and_id(sim: Sim) -> None:
    await sim.contact(CONTACT)

    response = await sim.post(write(Sentiment="negative", Score=-0.5))

    assert response.status_code == 201
    assert response.json() == {"id": CONTACT}
    assert response.headers["Location"] == f"{sim.url}{CONTACT_DATA_PATH}/{CONTACT}"
    assert await sim.stored(CONTACT) == {"Sentiment": "negative", "Score": -0.5}


@pytest.mark.parametrize(("status", "body"), [(200, {"id": CONTACT}), (204, None)])
async def test_success_status_is_configurable(
    sim: Sim, status: int, body: dict[str, str] | None
) -> None:
    await sim.configure(success_status=status)
    await sim.contact(CONTACT)

    response = await sim.post(write())

    assert response.status_code == status
    assert (response.json() if response.content else None) == body
    assert "Location" not in response.headers


async def test_attached_data_is_add_or_update(sim: Sim) -> None:
    await sim.contact(CONTACT, channel="chat", attached_data={"Queue": "billing"})

    await sim.post(write(A=1, B="x"))
    await sim.post(write(B="y", C=True))

    assert await sim.stored(CONTACT) == {"Queue": "billing", "A": 1, "B": "y", "C": True}


async def test_contact_ids_need_not_be_32_characters(sim: Sim) -> None:
    await sim.contact("42")

    assert (await sim.post(write("42"))).status_code == 201


# --- authentication and rights -----------------------------------------------------------------


BAD_USER_CREDENTIALS = [
    {},
    {"Authorization": basic(USER, "wrong")},
    {"Authorization": basic("nobody", PASSWORD)},
    {"Authorization": basic(USER, "")},
    {"Authorization": "Basic not-base64!"},
    {"Authorization": "Bearer something"},
]


async def test_bad_user_credentials_are_401_unauthorized(sim: Sim) -> None:
    await sim.contact(CONTACT)

    for headers in BAD_USER_CREDENTIALS:
        response = await sim.control.post(
            CONTACT_DATA_PATH, json=write(), headers={"X-Api-Key": API_KEY, **headers}
        )
        assert (response.status_code, error_of(response)) == (401, "unauthorized"), headers
        assert response.headers["WWW-Authenticate"].startswith("Basic"), headers
    assert await sim.stored(CONTACT) == {}


async def test_a_missing_or_wrong_api_key_is_401(sim: Sim) -> None:
    await sim.contact(CONTACT)

    missing = await sim.post(write(), api_key=None)
    wrong = await sim.post(write(), api_key="wrong-key")

    assert (missing.status_code, error_of(missing)) == (401, "invalid_api_key")
    assert (wrong.status_code, error_of(wrong)) == (401, "invalid_api_key")
    assert await sim.stored(CONTACT) == {}


async def test_the_api_key_header_name_is_configurable(sim: Sim) -> None:
    await sim.configure(api_key_header="X-Sinch-Key")
    await sim.contact(CONTACT)

    old_name = await sim.post(write())
    new_name = await sim.post(write(), api_key=None, headers={"X-Sinch-Key": API_KEY})

    assert old_name.status_code == 401
    assert new_name.status_code == 201


async def test_no_api_key_is_required_when_none_is_configured(sim: Sim) -> None:
    await sim.api_keys(None)
    await sim.contact(CONTACT)

    assert (await sim.post(write(), api_key=None)).status_code == 201
    assert (await sim.control.get("/_sim/api-keys")).json() == {"required": False, "count": 0}


async def test_rotating_api_keys_invalidates_the_old_one_at_once(sim: Sim) -> None:
    await sim.contact(CONTACT)

    await sim.api_keys(["next-key"])

    assert (await sim.post(write())).status_code == 401
    assert (await sim.post(write(), api_key="next-key")).status_code == 201
    assert (await sim.control.get("/_sim/api-keys")).json() == {"required": True, "count": 1}


async def test_an_expired_password_is_401_until_the_password_is_changed(sim: Sim) -> None:
    await sim.contact(CONTACT)
    await sim.expire_password(USER)

    expired = await sim.post(write())
    wrong = await sim.post(write(), password="guess")
    await sim.user(USER, password="new-password")
    old = await sim.post(write())
    renewed = await sim.post(write(), password="new-password")

    assert (expired.status_code, error_of(expired)) == (401, "password_expired")
    assert (wrong.status_code, error_of(wrong)) == (401, "unauthorized")  # expiry is not leaked
    assert old.status_code == 401
    assert renewed.status_code == 201


async def test_expiring_an_unknown_user_is_404(sim: Sim) -> None:
    response = await sim.control.post("/_sim/users/nobody/expire-password")

    assert response.status_code == 404


async def test_writing_needs_manage_contacts_on_the_contacts_queue(sim: Sim) -> None:
    await sim.contact(CONTACT, queue="queue-a")
    await sim.contact("b-contact", queue="queue-b")

    refused = await sim.post(write(), user="queue-b-only")
    allowed = await sim.post(write("b-contact"), user="queue-b-only")

    assert (refused.status_code, error_of(refused)) == (403, "forbidden")
    assert "MANAGE_CONTACTS" in refused.json()["message"]
    assert await sim.stored(CONTACT) == {}
    assert allowed.status_code == 201


# --- request validation ------------------------------------------------------------------------


async def test_a_json_content_type_is_required(sim: Sim) -> None:
    await sim.contact(CONTACT)
    body = json.dumps(write()).encode()

    text = await sim.post(None, content=body, headers={"Content-Type": "text/plain"})
    missing = await sim.post(None, content=body, headers={"Content-Type": ""})
    with_charset = await sim.post(
        None, content=body, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    await sim.configure(require_json_content_type=False)
    relaxed = await sim.post(None, content=body, headers={"Content-Type": "text/plain"})

    assert (text.status_code, error_of(text)) == (415, "unsupported_media_type")
    assert missing.status_code == 415
    assert with_charset.status_code == 201
    assert relaxed.status_code == 201


MALFORMED_BODIES = [
    (b"not json", "not valid JSON"),
    (b'{"id": "c", "attachedData": {"a": NaN}}', "not valid JSON"),
    (b"[]", "JSON object"),
    (b'{"attachedData": {"a": 1}}', "id is required"),
    (b'{"id": 42, "attachedData": {"a": 1}}', "id is required"),
    (b'{"id": "", "attachedData": {"a": 1}}', "id is required"),
    (b'{"id": "c"}', "attachedData is required"),
    (b'{"id": "c", "attachedData": [{"a": 1}]}', "must be a JSON object"),
    (b'{"id": "c", "attachedData": "a=1"}', "must be a JSON object"),
    (b'{"id": "c", "attachedData": null}', "must be a JSON object"),
]


async def test_malformed_bodies_are_400_invalid_body(sim: Sim) -> None:
    await sim.contact("c")

    for content, fragment in MALFORMED_BODIES:
        response = await sim.post(
            None, content=content, headers={"Content-Type": "application/json"}
        )
        assert (response.status_code, error_of(response)) == (400, "invalid_body"), content
        assert fragment in response.json()["message"], content
    assert await sim.stored("c") == {}


async def test_an_unknown_contact_is_404(sim: Sim) -> None:
    response = await sim.post(write("unknown"))

    assert (response.status_code, error_of(response)) == (404, "not_found")
    assert (await sim.control.get("/_sim/contacts/unknown")).status_code == 404


async def test_auto_create_makes_an_unknown_contact_writable(sim: Sim) -> None:
    await sim.configure(auto_create_contacts=True)

    response = await sim.post(write("invented"))
    contact = (await sim.control.get("/_sim/contacts/invented")).json()

    assert response.status_code == 201
    assert contact == {
        "id": "invented",
        "channel": "voice",
        "status": "Handled",
        "queue": "default",
        "attached_data": {"Sentiment": "negative"},
    }


async def test_only_phone_and_chat_contacts_take_attached_data(sim: Sim) -> None:
    await sim.contact("email-contact", channel="email")
    await sim.contact("sms-contact", channel="sms")

    email = await sim.post(write("email-contact"))
    sms = await sim.post(write("sms-contact"))

    assert (email.status_code, error_of(email)) == (400, "channel_not_supported")
    assert (sms.status_code, error_of(sms)) == (400, "channel_not_supported")
    assert await sim.stored("email-contact") == {}


async def test_disconnected_contacts_are_writable(sim: Sim) -> None:
    for status in ("WrapUp", "Handled", "Abandoned", "Deleted"):
        await sim.contact(CONTACT, status=status)
        assert (await sim.post(write())).status_code == 201, status


async def test_a_contact_not_yet_disconnected_is_refused(sim: Sim) -> None:
    for status in ("Connected", "Queued", "handled"):
        await sim.contact(CONTACT, status=status)
        response = await sim.post(write())
        assert (response.status_code, error_of(response)) == (
            400,
            "contact_not_disconnected",
        ), status
        assert "disconnected state" in response.json()["message"]
    assert await sim.stored(CONTACT) == {}


async def test_the_state_refusal_status_and_the_disconnected_set_are_configurable(
    sim: Sim,
) -> None:
    await sim.contact(CONTACT, status="WrapUp")
    await sim.configure(not_disconnected_status=409, disconnected_statuses=["Handled"])

    refused = await sim.post(write())
    await sim.change(CONTACT, status="Handled")
    accepted = await sim.post(write())

    assert (refused.status_code, error_of(refused)) == (409, "contact_not_disconnected")
    assert accepted.status_code == 201


@dataclass
class Clock:
    now: float = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def lagging(make_sim: MakeSim) -> tuple[Sim, Clock]:
    """A simulator whose clock the test moves, with a 5 s status lag."""
    clock = Clock()
    sim = await make_sim(config(status_lag_seconds=5), clock=clock)
    return sim, clock


async def test_a_fresh_disconnect_is_shown_and_refused_as_connected_until_the_lag_passes(
    lagging: tuple[Sim, Clock],
) -> None:
    sim, clock = lagging
    await sim.contact(CONTACT, status="WrapUp")

    clock.now += 4.9
    shown = (await sim.control.get(f"/_sim/contacts/{CONTACT}")).json()["status"]
    refused = await sim.post(write())
    clock.now += 0.1
    accepted = await sim.post(write())

    assert shown == "Connected"
    assert (refused.status_code, error_of(refused)) == (400, "contact_not_disconnected")
    assert "Connected" in refused.json()["message"]
    assert accepted.status_code == 201
    assert (await sim.control.get(f"/_sim/contacts/{CONTACT}")).json()["status"] == "WrapUp"
    assert await sim.stored(CONTACT) == {"Sentiment": "negative"}


async def test_the_lag_counts_from_the_change_to_a_disconnected_status(
    lagging: tuple[Sim, Clock],
) -> None:
    sim, clock = lagging
    await sim.contact(CONTACT, status="Connected")
    clock.now += 60
    await sim.change(CONTACT, status="Handled")

    clock.now += 1
    refused = await sim.post(write())
    await sim.change(CONTACT, status="Handled")  # the same status again restarts nothing
    clock.now += 4
    accepted = await sim.post(write())

    assert refused.status_code == 400
    assert accepted.status_code == 201


async def test_without_a_lag_a_disconnected_contact_is_writable_at_once(
    make_sim: MakeSim,
) -> None:
    sim = await make_sim(config(), clock=Clock())
    await sim.contact(CONTACT, status="Handled")

    assert (await sim.post(write())).status_code == 201


REFUSAL_BODIES: list[tuple[str, Callable[[httpx.Response], str]]] = [
    ("error_text", lambda r: r.json()["error"]),
    ("error_page", lambda r: r.json()["message"]),
    ("nested", lambda r: r.json()["errors"][0]["detail"]),
    ("plain_text", lambda r: r.text),
]


@pytest.mark.parametrize(("shape", "wording_of"), REFUSAL_BODIES)
async def test_refusals_can_carry_only_their_wording_in_other_wrappings(
    sim: Sim, shape: str, wording_of: Callable[[httpx.Response], str]
) -> None:
    await sim.configure(refusal_body=shape)
    await sim.contact(CONTACT, status="Connected")
    await sim.contact("email-contact", channel="email")
    await sim.contact("ok", status="Handled")

    state = await sim.post(write())
    channel = await sim.post(write("email-contact"))
    key = await sim.post(write("ok", Vip=True))

    assert [r.status_code for r in (state, channel, key)] == [400, 400, 400]
    assert "disconnected state" in wording_of(state)
    assert "only phone and chat channels are supported" in wording_of(channel)
    assert "ExtraDataForHistory: Vip" in wording_of(key)
    for response in (state, channel, key):
        assert "contact_not_disconnected" not in response.text
        assert "key_not_allowed" not in response.text
        assert "channel_not_supported" not in response.text


async def test_the_error_page_wrapping_looks_like_a_servlet_error_page(sim: Sim) -> None:
    await sim.configure(refusal_body="error_page")
    await sim.contact(CONTACT, status="Connected")

    response = await sim.post(write())

    assert response.json() == {
        "timestamp": "2027-01-15T08:00:00.000Z",
        "status": 400,
        "error": "Bad Request",
        "message": response.json()["message"],
        "path": CONTACT_DATA_PATH,
    }


async def test_plain_text_refusals_are_text_plain(sim: Sim) -> None:
    await sim.configure(refusal_body="plain_text")

    response = await sim.post(write("unknown"))

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "contact unknown not found"


async def test_keys_must_be_on_the_channels_extra_data_for_history_list(sim: Sim) -> None:
    await sim.contact(CONTACT)  # voice: Sentiment, Score

    response = await sim.post(write(Sentiment="n", Vip=True, Calls=2))

    assert (response.status_code, error_of(response)) == (400, "key_not_allowed")
    assert response.json()["keys"] == ["Vip", "Calls"]
    assert "Vip" in response.json()["message"]
    assert await sim.stored(CONTACT) == {}


async def test_a_star_allows_every_key_and_a_missing_list_allows_none(sim: Sim) -> None:
    await sim.contact("chat-contact", channel="chat")  # chat: *
    await sim.contact(CONTACT)
    await sim.configure(extra_data_for_history={"chat": ["*"]})

    chat = await sim.post(write("chat-contact", Anything=1))
    voice = await sim.post(write(Sentiment="n"))

    assert chat.status_code == 201
    assert (voice.status_code, error_of(voice)) == (400, "key_not_allowed")


NOT_XML_NAMES = ["Bad Key", "1st", "-dash", ".dot", "xmlThing", "XML", "a:b", "a/b", ""]


async def test_keys_must_be_xml_element_names(sim: Sim) -> None:
    await sim.contact("chat-contact", channel="chat")

    for key in NOT_XML_NAMES:
        response = await sim.post(write("chat-contact", Good=1, **{key: "x"}))
        assert (response.status_code, error_of(response)) == (400, "invalid_key_name"), key
        assert response.json()["keys"] == [key]
    assert await sim.stored("chat-contact") == {}


async def test_xml_names_with_letters_dots_dashes_and_underscores_are_accepted(
    sim: Sim,
) -> None:
    await sim.contact("chat-contact", channel="chat")
    names = {"_a": 1, "a.b-c_1": 2, "Größe": 3, "Xm": 4}

    response = await sim.post(write("chat-contact", **names))

    assert response.status_code == 201
    assert await sim.stored("chat-contact") == names


async def test_values_must_be_scalars(sim: Sim) -> None:
    await sim.contact("chat-contact", channel="chat")

    for value in (None, {"nested": 1}, [1, 2]):
        response = await sim.post(write("chat-contact", Good=1, Bad=value))
        assert (response.status_code, error_of(response)) == (400, "invalid_value"), value
        assert response.json()["keys"] == ["Bad"]
    assert await sim.stored("chat-contact") == {}


async def test_the_idempotency_key_header_is_tolerated_and_recorded(sim: Sim) -> None:
    await sim.contact(CONTACT)

    response = await sim.post(write(), headers={"Idempotency-Key": "acme:call-1:3"})

    assert response.status_code == 201
    [entry] = await sim.posts()
    assert entry["headers"]["idempotency-key"] == "acme:call-1:3"


# --- reading back ------------------------------------------------------------------------------


async def test_get_returns_only_history_stored_keys(sim: Sim) -> None:
    await sim.contact(CONTACT, attached_data={"IvrChoice": "billing", "Score": 2})
    await sim.post(write(Sentiment="negative"))

    response = await sim.get_data()

    assert response.status_code == 200
    assert response.json() == {"id": CONTACT, "attachedData": {"Score": 2, "Sentiment": "negative"}}
    assert await sim.stored(CONTACT) == {
        "IvrChoice": "billing",
        "Score": 2,
        "Sentiment": "negative",
    }


async def test_get_needs_statistics_details_on_the_queue(sim: Sim) -> None:
    await sim.contact(CONTACT, queue="queue-a")

    no_right = await sim.get_data(user="writer")
    other_queue = await sim.get_data(user="queue-b-only")

    assert (no_right.status_code, error_of(no_right)) == (403, "forbidden")
    assert "STATISTICS_DETAILS" in no_right.json()["message"]
    assert other_queue.status_code == 403


async def test_get_of_an_unknown_contact_is_404_and_needs_credentials(sim: Sim) -> None:
    await sim.configure(auto_create_contacts=True)  # reads never create

    unknown = await sim.get_data("unknown")
    anonymous = await sim.control.get(f"{CONTACT_DATA_PATH}/{CONTACT}")

    assert unknown.status_code == 404
    assert anonymous.status_code == 401


# --- faults and the request log ----------------------------------------------------------------


async def test_faults_pre_empt_auth_and_carry_retry_after(sim: Sim) -> None:
    await sim.fault(path_prefix=CONTACT_DATA_PATH, status=500)
    await sim.fault(path_prefix=CONTACT_DATA_PATH, status=429, retry_after="4")

    failed = await sim.post(write(), api_key=None)
    throttled = await sim.post(write())

    assert failed.status_code == 500
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "4")


async def test_latency_is_applied_without_waiting(sim: Sim) -> None:
    await sim.contact(CONTACT)
    await sim.control.put("/_sim/latency", json={"ms": 150})

    response = await sim.post(write())

    assert response.status_code == 201
    assert sim.sleeps == [0.15]


async def test_request_log_masks_every_credential(sim: Sim) -> None:
    await sim.contact(CONTACT)
    await sim.post(write())
    await sim.post(write(), api_key=None, headers={"X-Wrong-Header": API_KEY})

    log = await sim.requests()

    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("POST", CONTACT_DATA_PATH, 201),
        ("POST", CONTACT_DATA_PATH, 401),
    ]
    assert log[0]["headers"]["x-api-key"] == "***"
    assert log[1]["headers"]["x-wrong-header"] == "***"
    assert log[0]["json"] == write()
    assert datetime.fromisoformat(log[0]["time"]).timestamp() == START
    text = json.dumps(log)
    assert API_KEY not in text
    assert PASSWORD not in text
    assert basic(USER, PASSWORD).split()[1] not in text


# --- control surface ---------------------------------------------------------------------------


async def test_users_are_listed_without_passwords(sim: Sim) -> None:
    await sim.user("new-user", password="s3cret", manage_contacts=["q2", "q1"])

    users = (await sim.control.get("/_sim/users")).json()

    assert users["new-user"] == {
        "manage_contacts": ["q1", "q2"],
        "statistics_details": ["*"],
        "password_expired": False,
    }
    assert "s3cret" not in json.dumps(users)
    assert PASSWORD not in json.dumps(users)


async def test_contacts_can_be_listed_and_changed(sim: Sim) -> None:
    await sim.contact(CONTACT, status="Connected", queue="q1")

    changed = await sim.control.patch(f"/_sim/contacts/{CONTACT}", json={"status": "WrapUp"})
    missing = await sim.control.patch("/_sim/contacts/none", json={"status": "WrapUp"})
    listed = (await sim.control.get("/_sim/contacts")).json()

    assert changed.json()["status"] == "WrapUp"
    assert changed.json()["queue"] == "q1"
    assert missing.status_code == 404
    assert [c["id"] for c in listed] == [CONTACT]


async def test_config_patch_changes_only_the_named_settings(sim: Sim) -> None:
    settings = await sim.configure(success_status=204, extra_data_for_history={"voice": ["A"]})

    assert settings["success_status"] == 204
    assert settings["extra_data_for_history"] == {"voice": ["A"]}
    assert settings["not_disconnected_status"] == 400
    assert settings["api_key_header"] == "X-Api-Key"
    assert "users" not in settings
    assert "api_keys" not in settings
    assert (await sim.control.get("/_sim/config")).json() == settings


BAD_CONFIG_PATCHES: list[dict[str, Any]] = [
    {"users": {}},
    {"api_keys": ["k"]},
    {"success_status": 202},
    {"not_disconnected_status": 200},
    {"api_key_header": "bad header"},
    {"extra_data_for_history": {"email": ["*"]}},
    {"status_lag_seconds": -1},
    {"refusal_body": "xml"},
]


async def test_config_patch_rejects_unknown_or_invalid_settings(sim: Sim) -> None:
    before = (await sim.control.get("/_sim/config")).json()

    for changes in BAD_CONFIG_PATCHES:
        response = await sim.control.patch("/_sim/config", json=changes)
        assert response.status_code == 422, changes
    assert (await sim.control.get("/_sim/config")).json() == before


async def test_reset_restores_credentials_and_clears_state(sim: Sim) -> None:
    await sim.contact(CONTACT)
    await sim.expire_password(USER)
    await sim.api_keys(["other"])
    await sim.fault(status=500, times=0)
    await sim.post(write())

    response = await sim.control.post("/_sim/reset")

    assert response.status_code == 204
    assert (await sim.control.get("/_sim/contacts")).json() == []
    assert (await sim.control.get("/_sim/faults")).json() == []
    assert await sim.requests() == []
    await sim.contact(CONTACT)
    assert (await sim.post(write())).status_code == 201


# --- dev defaults ------------------------------------------------------------------------------


async def test_bare_app_serves_dev_credentials_and_creates_contacts(make_sim: MakeSim) -> None:
    sim = await make_sim()

    response = await sim.post(
        write("dev-interaction", Anything="x"),
        user=DEV_USERNAME,
        password=DEV_PASSWORD,
        api_key=DEV_API_KEY,
    )

    assert response.status_code == 201
    assert await sim.stored("dev-interaction") == {"Anything": "x"}
    assert (await sim.post(write("dev-interaction"), api_key="nope")).status_code == 401


async def test_two_simulators_keep_separate_state(make_sim: MakeSim) -> None:
    first, second = await make_sim(config()), await make_sim(config())

    await first.contact(CONTACT)

    assert (await second.control.get("/_sim/contacts")).json() == []
