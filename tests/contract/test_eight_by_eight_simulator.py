"""Contract tests for the 8x8 simulator, over real loopback HTTP.

Each test pins one rule 8x8 documents (or implies, where it is a setting) or one promise of
the control surface, so a client that passes against the simulator is held to the same rules
as against 8x8. Time is a fake clock and latency a recorded sleep: nothing here waits.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from service.http_server import AppServer
from service.platforms.eight_by_eight.simulator import (
    DEV_ACTION_TOKEN,
    DEV_TENANT_ID,
    EightByEightSimConfig,
    create_app,
)

START = 1_800_000_000.0
V1 = "/api/v1/interaction/data"
TSTATS = "/api/tstats/interaction/data"
TENANT, TOKEN = "acme-cc", "token-1"
OTHER, OTHER_TOKEN = "other-cc", "token-2"
GUID = "int-1628bb9dbf7-phone-01-acme"


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def body(*variables: dict[str, Any]) -> dict[str, Any]:
    return {"variables": list(variables)}


def var(name: str = "_Sentiment", value: Any = "negative", **flags: Any) -> dict[str, Any]:
    return {"name": name, "value": value, **flags}


@dataclass
class Sim:
    http: httpx.AsyncClient
    clock: FakeClock
    sleeps: list[float] = field(default_factory=list)

    async def configure(self, **overrides: Any) -> None:
        """Every setting back to this module's defaults, then ``overrides``."""
        response = await self.http.patch("/_sim/config", json={**DEFAULTS, **overrides})
        assert response.status_code == 200, response.text

    async def interaction(self, guid: str = GUID, **extra: Any) -> dict[str, Any]:
        payload = {"guid": guid, "tenant_id": TENANT, **extra}
        response = await self.http.post("/_sim/interactions", json=payload)
        assert response.status_code == 201, response.text
        view: dict[str, Any] = response.json()
        return view

    async def post(
        self,
        payload: Any = None,
        path: str = f"{V1}/guid/{GUID}",
        auth: tuple[str, str] | None = (TENANT, TOKEN),
        **kwargs: Any,
    ) -> httpx.Response:
        if "content" not in kwargs:
            kwargs["json"] = body(var()) if payload is None else payload
        if auth is not None:
            kwargs["auth"] = auth
        return await self.http.post(path, **kwargs)

    async def get(
        self, path: str = f"{V1}/guid/{GUID}", auth: tuple[str, str] | None = (TENANT, TOKEN)
    ) -> httpx.Response:
        return await self.http.get(path, auth=auth or httpx.USE_CLIENT_DEFAULT)

    async def stored(self, guid: str = GUID) -> dict[str, Any]:
        response = await self.http.get(f"/_sim/interactions/{guid}")
        assert response.status_code == 200, response.text
        view: dict[str, Any] = response.json()
        return view

    async def patch(self, **changes: Any) -> httpx.Response:
        return await self.http.patch("/_sim/config", json=changes)

    async def fault(self, **rule: Any) -> None:
        response = await self.http.post("/_sim/faults", json=rule)
        assert response.status_code == 201, response.text


def config(**overrides: Any) -> EightByEightSimConfig:
    values: dict[str, Any] = {
        "tenants": {TENANT: TOKEN, OTHER: OTHER_TOKEN},
        "auto_create": False,
        **overrides,
    }
    return EightByEightSimConfig(**values)


DEFAULTS = config().settings_view()

# One server for the module (starting and stopping uvicorn costs more than most tests); each
# test starts from a reset simulator with this module's default settings.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def served() -> AsyncIterator[Sim]:
    clock = FakeClock()
    sleeps: list[float] = []

    async def record_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    app = create_app(config(), clock=clock, sleep=record_sleep)
    async with AppServer(app) as server, httpx.AsyncClient(base_url=server.url) as http:
        yield Sim(http, clock, sleeps)


@pytest_asyncio.fixture(loop_scope="module")
async def sim(served: Sim) -> Sim:
    assert (await served.http.post("/_sim/reset")).status_code == 204
    await served.configure()
    served.clock.now = START
    served.sleeps.clear()
    await served.interaction()
    return served


def assert_error(response: httpx.Response, status: int, *message_parts: str) -> None:
    assert response.status_code == status, response.text
    doc = response.json()
    assert set(doc) == {"status", "code", "message"}
    assert (doc["status"], doc["code"]) == ("error", status)
    for part in message_parts:
        assert part in doc["message"]


# --- auth (requirement 8) ----------------------------------------------------------------------


async def test_success_answer_names_the_interaction_and_counts_the_variables(sim: Sim) -> None:
    response = await sim.post(body(var(), var("_Score", "0.5")))

    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "message": "Variables successfully set",
        "interactionId": GUID,
        "variablesSet": 2,
    }
    assert (await sim.stored())["variables"] == {
        "_Sentiment": {"value": "negative"},
        "_Score": {"value": "0.5"},
    }


@pytest.mark.parametrize(
    "auth",
    [None, (TENANT, "wrong"), ("no-such-tenant", TOKEN), (OTHER, TOKEN), (TENANT, "")],
)
async def test_wrong_or_missing_credentials_are_401(sim: Sim, auth: tuple[str, str] | None) -> None:
    response = await sim.post(auth=auth)

    assert_error(response, 401, "Authentication failed")
    assert response.headers["WWW-Authenticate"] == 'Basic realm="8x8"'
    assert (await sim.stored())["variables"] == {}


async def test_bearer_or_malformed_authorization_is_401(sim: Sim) -> None:
    for header in ("Bearer token-1", "Basic not-base64!", "Basic " + "YWNtZS1jYw=="):
        response = await sim.http.post(
            f"{V1}/guid/{GUID}", json=body(var()), headers={"Authorization": header}
        )
        assert_error(response, 401)


async def test_rotation_invalidates_the_old_token_at_once_and_returns_the_new_one(
    sim: Sim,
) -> None:
    rotated = await sim.http.post("/_sim/tokens/rotate", json={"tenant_id": TENANT})
    new_token = rotated.json()["action_token"]

    old = await sim.post()
    new = await sim.post(auth=(TENANT, new_token))
    other_tenant = await sim.post(path=f"{V1}/guid/int-other", auth=(OTHER, OTHER_TOKEN))

    assert rotated.status_code == 200
    assert rotated.json()["tenant_id"] == TENANT
    assert new_token not in (TOKEN, "")
    assert old.status_code == 401
    assert new.status_code == 200
    assert other_tenant.status_code == 404  # still authenticated; the interaction is unknown


async def test_rotation_can_set_a_chosen_token_and_reset_restores_the_configured_one(
    sim: Sim,
) -> None:
    await sim.http.post("/_sim/tokens/rotate", json={"tenant_id": TENANT, "action_token": "t-9"})
    assert (await sim.post(auth=(TENANT, "t-9"))).status_code == 200

    await sim.http.post("/_sim/reset")
    await sim.interaction()

    assert (await sim.post(auth=(TENANT, "t-9"))).status_code == 401
    assert (await sim.post()).status_code == 200


async def test_rotation_needs_a_tenant_when_several_are_configured(sim: Sim) -> None:
    assert (await sim.http.post("/_sim/tokens/rotate")).status_code == 422
    unknown = await sim.http.post("/_sim/tokens/rotate", json={"tenant_id": "nope"})
    assert unknown.status_code == 404


# --- routes (requirement 9) --------------------------------------------------------------------


async def test_call_id_route_finds_the_interaction_by_sip_call_id(sim: Sim) -> None:
    call_id = "a84b4c76e66710/x@pc33.atlanta.example"
    await sim.interaction("int-2", call_id=call_id)
    encoded = "a84b4c76e66710%2Fx%40pc33.atlanta.example"

    written = await sim.post(path=f"{V1}/callId/{encoded}")
    read = await sim.get(f"{V1}/callId/{encoded}")

    assert written.json()["interactionId"] == "int-2"
    assert read.json()["interactionId"] == "int-2"
    assert (await sim.stored("int-2"))["variables"] == {"_Sentiment": {"value": "negative"}}


async def test_percent_encoded_guid_is_decoded(sim: Sim) -> None:
    await sim.interaction("int 3/b")

    response = await sim.post(path=f"{V1}/guid/int%203%2Fb")

    assert response.json()["interactionId"] == "int 3/b"


@pytest.mark.parametrize(("enabled", "expected"), [({}, 404), ({"tstats_alias": True}, 200)])
async def test_tstats_alias_is_served_only_when_configured(
    sim: Sim, enabled: dict[str, bool], expected: int
) -> None:
    await sim.configure(**enabled)
    await sim.interaction()

    response = await sim.post(path=f"{TSTATS}/guid/{GUID}")

    assert response.status_code == expected


@pytest.mark.parametrize(
    ("enabled", "expected"), [({}, 404), ({"bare_identifier_alias": True}, 200)]
)
async def test_bare_identifier_alias_is_served_only_when_configured(
    sim: Sim, enabled: dict[str, bool], expected: int
) -> None:
    await sim.configure(**enabled)
    await sim.interaction()

    written = await sim.post(path=f"{V1}/{GUID}")
    read = await sim.get(f"{V1}/{GUID}")

    assert (written.status_code, read.status_code) == (expected, expected)


async def test_disabled_route_is_404_even_without_credentials(sim: Sim) -> None:
    response = await sim.post(path=f"{TSTATS}/guid/{GUID}", auth=None)

    assert_error(response, 404)
    assert response.headers["X-Sim-Reason"] == "route_disabled"


SHAPES = {
    "variables": {"variables": [var()]},
    "data_list": {"data": [{"variables": [var()]}]},
    "data_object": {"data": {"variables": [var()]}},
}


@pytest.mark.parametrize("configured", sorted(SHAPES))
@pytest.mark.parametrize("sent", sorted(SHAPES))
async def test_only_the_configured_body_shape_is_accepted(
    sim: Sim, configured: str, sent: str
) -> None:
    await sim.configure(body_shape=configured)
    await sim.interaction()

    response = await sim.post(SHAPES[sent])

    if sent == configured:
        assert response.status_code == 200, response.text
    else:
        assert_error(response, 400, "Invalid request body: expected")


@pytest.mark.parametrize(
    "payload",
    [
        [var()],
        {"variables": [var()], "extra": 1},
        {"data": [{"variables": [var()]}, {"variables": [var()]}]},
        {"variables": []},
        {"variables": {"name": "_A", "value": "b"}},
    ],
)
async def test_malformed_bodies_are_400(sim: Sim, payload: Any) -> None:
    assert_error(await sim.post(payload), 400, "Invalid request body")


async def test_invalid_json_and_wrong_content_type_are_400(sim: Sim) -> None:
    not_json = await sim.post(content=b"{", headers={"Content-Type": "application/json"})
    as_text = await sim.post(
        content=json.dumps(body(var())).encode(), headers={"Content-Type": "text/plain"}
    )

    assert_error(not_json, 400, "Invalid JSON")
    assert_error(as_text, 400, "Content-Type")


# --- variable rules (requirement 10) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        (var("Sentiment"), "must start with underscore"),
        (var("_Senti ment"), "only letters and digits"),
        (var("_Senti-ment"), "only letters and digits"),
        (var("_"), "only letters and digits"),
        (var("_" + "a" * 24), "longer than 24 characters"),
        ({"value": "x"}, "name is required"),
        (var(value=None), "value is required"),
        (var(value="x" * 1001), "longer than 1000 characters"),
        (var(value=12), "must be a string"),
        (var(value={"a": 1}), "must be a string"),
        (var(displayName="L" * 30), "longer than 29 characters"),
        (var(displayName=5), "displayName"),
        (var(dataType="money"), "dataType"),
        (var(display="yes"), "must be true or false"),
        (var(privacy=1), "must be true or false"),
        (var(display_name="Label"), "unknown properties display_name"),
    ],
)
async def test_variable_rule_violations_are_400_and_name_the_problem(
    sim: Sim, variable: dict[str, Any], message: str
) -> None:
    response = await sim.post(body(var("_Ok"), variable))

    assert_error(response, 400, message)
    assert (await sim.stored())["variables"] == {}  # the valid one is not stored either


@pytest.mark.parametrize(
    "variable",
    [
        var("_" + "a" * 23),
        var(value="x" * 1000),
        var(value=""),
        var(displayName="L" * 29),
        *(var(dataType=t) for t in ("text", "number", "phone", "phone number", "date", "time")),
        var(dataType="currency"),
    ],
)
async def test_values_at_the_documented_limits_are_accepted(
    sim: Sim, variable: dict[str, Any]
) -> None:
    assert (await sim.post(body(variable))).status_code == 200


async def test_limits_are_configurable_for_the_other_reading_of_the_docs(
    sim: Sim,
) -> None:
    await sim.configure(name_max_length=25, display_name_max_length=30, value_max_length=5)
    await sim.interaction()

    long_name = await sim.post(body(var("_" + "a" * 24, "v", displayName="L" * 30)))
    long_value = await sim.post(body(var(value="123456")))

    assert long_name.status_code == 200
    assert_error(long_value, 400, "longer than 5 characters")


async def test_a_too_long_value_is_echoed_in_the_error(sim: Sim) -> None:
    await sim.configure(value_max_length=8)
    await sim.interaction()

    response = await sim.post(body(var("_Card", "4111111111111111", privacy=True)))

    assert_error(response, 400, "4111111111111111", "_Card")


@pytest.mark.parametrize("flag", [True, "true", False, "false"])
async def test_booleans_may_be_json_or_strings_and_are_stored_as_booleans(
    sim: Sim, flag: Any
) -> None:
    response = await sim.post(body(var(display=flag, privacy=flag)))

    assert response.status_code == 200
    stored = (await sim.stored())["variables"]["_Sentiment"]
    assert stored["display"] is stored["privacy"] is (flag in (True, "true"))


async def test_number_values_pass_when_strict_strings_are_off(sim: Sim) -> None:
    await sim.configure(require_string_values=False)
    await sim.interaction()

    assert (await sim.post(body(var(value=110.55)))).status_code == 200
    assert (await sim.stored())["variables"]["_Sentiment"]["value"] == "110.55"


async def test_variable_count_limit_is_50_by_default_and_configurable(sim: Sim) -> None:
    await sim.interaction()
    fifty = [var(f"_V{i}", str(i)) for i in range(50)]

    assert (await sim.post(body(*fifty))).status_code == 200
    assert_error(await sim.post(body(*fifty, var("_V50"))), 400, "Too many variables")
    await sim.patch(max_variables=None)
    assert (await sim.post(body(*fifty, var("_V50")))).status_code == 200


async def test_last_write_wins_per_variable_flags_included(sim: Sim) -> None:
    await sim.post(body(var("_A", "1", display=True, displayName="A"), var("_B", "first")))
    await sim.post(body(var("_B", "second"), var("_A", "2"), var("_B", "third")))

    assert (await sim.stored())["variables"] == {
        "_A": {"value": "2"},
        "_B": {"value": "third"},
    }


async def test_ivr_variable_not_in_the_script_is_accepted_but_ignored(sim: Sim) -> None:
    await sim.interaction(ivr_variables=["_Declared"])

    response = await sim.post(
        body(var("_Declared", "1", ivr=True), var("_Undeclared", "2", ivr="true"), var("_Plain"))
    )

    assert response.status_code == 200
    assert response.json()["variablesSet"] == 2
    stored = await sim.stored()
    assert sorted(stored["variables"]) == ["_Declared", "_Plain"]
    assert stored["ignored"] == ["_Undeclared"]


# --- interactions ------------------------------------------------------------------------------


async def test_unknown_interaction_is_404_without_auto_create(sim: Sim) -> None:
    response = await sim.post(path=f"{V1}/guid/int-unknown")

    assert_error(response, 404, "int-unknown")
    assert response.headers["X-Sim-Reason"] == "unknown_interaction"
    assert (await sim.http.get("/_sim/interactions/int-unknown")).status_code == 404


async def test_another_tenants_interaction_looks_unknown(sim: Sim) -> None:
    response = await sim.post(auth=(OTHER, OTHER_TOKEN))

    assert_error(response, 404)
    assert response.headers["X-Sim-Reason"] == "other_tenant"


async def test_finished_interaction_refuses_writes_unless_configured(sim: Sim) -> None:
    finished = await sim.http.post(f"/_sim/interactions/{GUID}/finish")

    refused = await sim.post()
    await sim.patch(accept_finished=True)
    accepted = await sim.post()

    assert finished.json()["state"] == "finished"
    assert_error(refused, 404)
    assert refused.headers["X-Sim-Reason"] == "interaction_finished"
    assert accepted.status_code == 200


async def test_auto_create_makes_unknown_interactions_writable(sim: Sim) -> None:
    await sim.configure(auto_create=True)

    by_guid = await sim.post(path=f"{V1}/guid/int-new")
    by_call = await sim.post(path=f"{V1}/callId/call%40host")
    again = await sim.post(path=f"{V1}/callId/call%40host")

    assert by_guid.json()["interactionId"] == "int-new"
    assert (await sim.stored("int-new"))["tenant_id"] == TENANT
    assert by_call.status_code == 200
    assert again.json()["interactionId"] == by_call.json()["interactionId"]
    created = await sim.stored(by_call.json()["interactionId"])
    assert (created["call_id"], created["state"]) == ("call@host", "active")


async def test_an_empty_identifier_is_never_auto_created(sim: Sim) -> None:
    await sim.configure(auto_create=True)

    assert_error(await sim.post(path=f"{V1}/guid/"), 404)
    assert_error(await sim.post(path=f"{V1}/callId/"), 404)
    assert [i["guid"] for i in (await sim.http.get("/_sim/interactions")).json()] == [GUID]


async def test_get_returns_the_context_with_privacy_values_masked(sim: Sim) -> None:
    await sim.interaction(ani="+15550100", caller_name="Ada", channel="chat")
    await sim.post(body(var("_Card", "4111", privacy=True, display=True), var("_Plain", "p")))

    response = await sim.get()

    context = response.json()
    assert response.status_code == 200
    assert (context["interactionId"], context["channel"]) == (GUID, "chat")
    assert (context["ani"], context["callerName"]) == ("+15550100", "Ada")
    assert context["createTime"] == "2027-01-15T08:00:00.000Z"
    assert context["variables"] == [
        {"name": "_Card", "value": "****", "privacy": True, "display": True},
        {"name": "_Plain", "value": "p"},
    ]
    assert "4111" not in response.text
    assert (await sim.stored())["variables"]["_Card"]["value"] == "4111"


async def test_get_of_an_unknown_interaction_is_404_and_creates_nothing(
    sim: Sim,
) -> None:
    await sim.configure(auto_create=True)

    assert_error(await sim.get(f"{V1}/guid/int-none"), 404)
    assert (await sim.http.get("/_sim/interactions/int-none")).status_code == 404


async def test_registering_a_call_id_again_moves_it_to_the_new_interaction(sim: Sim) -> None:
    await sim.interaction("int-a", call_id="c-1")
    await sim.interaction("int-b", call_id="c-1")

    response = await sim.post(path=f"{V1}/callId/c-1")

    assert response.json()["interactionId"] == "int-b"
    assert (await sim.stored("int-a"))["call_id"] is None


# --- rate limit and faults (requirement 11) ----------------------------------------------------


async def test_rate_limit_is_100_per_minute_per_tenant_without_retry_after(
    sim: Sim,
) -> None:
    await sim.configure(auto_create=True)
    statuses = [(await sim.get(f"{V1}/guid/x")).status_code for _ in range(100)]

    limited = await sim.post()
    other_tenant = await sim.post(path=f"{V1}/guid/int-other", auth=(OTHER, OTHER_TOKEN))
    sim.clock.advance(60)
    after_a_minute = await sim.post()

    assert set(statuses) == {404}
    assert_error(limited, 429)
    assert "Retry-After" not in limited.headers
    assert other_tenant.status_code == 200
    assert after_a_minute.status_code == 200


async def test_rate_limit_window_slides_and_refusals_do_not_count(sim: Sim) -> None:
    await sim.configure(rate_limit_per_minute=2, rate_limit_retry_after=True)
    await sim.interaction()
    first = await sim.post()
    sim.clock.advance(45)
    second = await sim.post()
    refused = [await sim.post() for _ in range(3)]
    sim.clock.advance(15)
    freed = await sim.post()

    assert (first.status_code, second.status_code, freed.status_code) == (200, 200, 200)
    assert [r.status_code for r in refused] == [429] * 3
    assert refused[0].headers["Retry-After"] == "15"


async def test_the_rate_window_length_is_a_setting_and_slides_to_the_millisecond(
    sim: Sim,
) -> None:
    await sim.configure(
        rate_limit_per_minute=2, rate_limit_window_seconds=2.0, rate_limit_retry_after=True
    )
    first = await sim.post()
    sim.clock.advance(0.5)
    second = await sim.post()
    sim.clock.advance(1.499)
    limited = await sim.post()  # 1.999 s after the first: still in its window
    sim.clock.advance(0.001)
    freed = await sim.post()
    again = await sim.post()  # the second's slot is taken until 2.5 s

    assert [r.status_code for r in (first, second, limited, freed, again)] == [
        200,
        200,
        429,
        200,
        429,
    ]
    assert limited.headers["Retry-After"] == "1"
    assert "2 requests per 2 seconds" in limited.json()["message"]


async def test_every_arrival_is_recorded_per_tenant_with_its_time_and_verdict(sim: Sim) -> None:
    await sim.configure(rate_limit_per_minute=1)
    await sim.post()
    sim.clock.advance(0.25)
    await sim.post()
    await sim.post(path=f"{V1}/guid/int-other", auth=(OTHER, OTHER_TOKEN))
    await sim.post(auth=(TENANT, "wrong"))  # no tenant to count it against

    response = await sim.http.get("/_sim/arrivals")

    assert response.status_code == 200
    assert response.json() == {
        TENANT: [{"at": START, "limited": False}, {"at": START + 0.25, "limited": True}],
        OTHER: [{"at": START + 0.25, "limited": False}],
    }
    assert (await sim.http.post("/_sim/reset")).status_code == 204
    assert (await sim.http.get("/_sim/arrivals")).json() == {}


async def test_unauthenticated_calls_do_not_use_the_rate_limit(sim: Sim) -> None:
    await sim.configure(rate_limit_per_minute=1)
    await sim.interaction()
    for _ in range(3):
        assert (await sim.post(auth=(TENANT, "wrong"))).status_code == 401

    assert (await sim.post()).status_code == 200


async def test_random_500s_follow_the_error_rate(sim: Sim) -> None:
    await sim.configure(error_rate=1.0)
    await sim.interaction()

    failing = await sim.post()
    await sim.patch(error_rate=0.0)
    healthy = await sim.post()

    assert_error(failing, 500)
    assert failing.headers["X-Sim-Reason"] == "random_error"
    assert healthy.status_code == 200


async def test_random_500s_are_reproducible_with_a_seed(sim: Sim) -> None:
    async def pattern() -> list[int]:
        await sim.http.post("/_sim/reset")
        await sim.configure(error_rate=0.5, seed=7, auto_create=True)
        return [(await sim.post()).status_code for _ in range(20)]

    first, second = await pattern(), await pattern()

    assert first == second
    assert {200, 500} == set(first)


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_injected_faults_answer_in_the_8x8_error_shape(sim: Sim, status: int) -> None:
    await sim.fault(path_prefix=V1, status=status)

    failed = await sim.post()
    recovered = await sim.post()

    assert_error(failed, status)
    assert "Retry-After" not in failed.headers
    assert recovered.status_code == 200


async def test_injected_fault_keeps_its_own_body_and_retry_after(sim: Sim) -> None:
    await sim.fault(status=429, retry_after="7", body={"message": "custom"})

    response = await sim.post()

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json() == {"message": "custom"}


async def test_latency_applies_to_vendor_routes(sim: Sim) -> None:
    await sim.http.put("/_sim/latency", json={"ms": 100})
    await sim.fault(path_prefix=V1, latency_ms=50)

    response = await sim.post()

    assert response.status_code == 200
    assert sim.sleeps == [0.15]


# --- request log, config, reset, registry ------------------------------------------------------


async def test_request_log_keeps_the_wire_body_and_idempotency_key_but_no_credentials(
    sim: Sim,
) -> None:
    await sim.post(headers={"Idempotency-Key": "acme:call-1:3"})

    [entry] = (await sim.http.get("/_sim/requests")).json()

    assert (entry["method"], entry["path"], entry["status"]) == ("POST", f"{V1}/guid/{GUID}", 200)
    assert entry["json"] == body(var())
    assert entry["headers"]["idempotency-key"] == "acme:call-1:3"
    assert "authorization" not in entry["headers"]
    assert TOKEN not in json.dumps(entry)


async def test_config_patch_changes_only_the_named_settings(sim: Sim) -> None:
    response = await sim.patch(body_shape="data_list", name_max_length=25)

    settings = response.json()
    assert (settings["body_shape"], settings["name_max_length"]) == ("data_list", 25)
    assert settings["value_max_length"] == 1000
    assert "tenants" not in settings
    assert (await sim.http.get("/_sim/config")).json() == settings


@pytest.mark.parametrize(
    "changes",
    [{"tenants": {}}, {"body_shape": "xml"}, {"error_rate": 2}, {"no_such_setting": 1}],
)
async def test_config_patch_rejects_unknown_or_invalid_settings(
    sim: Sim, changes: dict[str, Any]
) -> None:
    before = (await sim.http.get("/_sim/config")).json()

    assert (await sim.patch(**changes)).status_code == 422
    assert (await sim.http.get("/_sim/config")).json() == before


async def test_reset_clears_interactions_rate_windows_faults_and_log(sim: Sim) -> None:
    await sim.configure(rate_limit_per_minute=1)
    await sim.interaction()
    await sim.post()
    await sim.fault(status=500, times=0)
    await sim.http.put("/_sim/latency", json={"ms": 10})

    response = await sim.http.post("/_sim/reset")

    assert response.status_code == 204
    assert (await sim.http.get("/_sim/interactions")).json() == []
    assert (await sim.http.get("/_sim/faults")).json() == []
    assert (await sim.http.get("/_sim/latency")).json() == {"ms": 0, "jitter_ms": 0}
    assert (await sim.http.get("/_sim/requests")).json() == []
    await sim.interaction()
    assert (await sim.post()).status_code == 200  # the rate window is empty again


async def test_bare_app_serves_the_dev_tenant_and_creates_interactions() -> None:
    async with AppServer(create_app()) as server, httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(
            f"{V1}/guid/int-dev-1", json=body(var()), auth=(DEV_TENANT_ID, DEV_ACTION_TOKEN)
        )
        refused = await http.post(f"{V1}/guid/int-dev-1", json=body(var()), auth=("x", "y"))

    assert response.status_code == 200
    assert refused.status_code == 401


async def test_a_factory_call_builds_an_independent_app() -> None:
    first, second = create_app(), create_app()

    assert isinstance(first, FastAPI)
    assert first.state.sim is not second.state.sim
