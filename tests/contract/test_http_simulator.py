"""Contract tests for the generic HTTP simulator, over real loopback HTTP: what it accepts,
what it refuses, and that it keeps what it accepted in order."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from service.http_server import AppServer
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
from tests.fixtures.http_endpoint import HttpSim


@pytest.fixture
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[HttpSim]:
    """A simulator with the settings a test's ``config`` parameter names, if any."""
    config = HttpSimConfig(**getattr(request, "param", {}))
    async with (
        AppServer(create_app(config)) as server,
        httpx.AsyncClient(base_url=server.url) as control,
    ):
        yield HttpSim(server.url, control)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_writes_merge_into_the_record_and_are_kept_in_order(sim: HttpSim) -> None:
    for revision, body in enumerate([{"A": "1", "B": 2}, {"A": "3"}], start=1):
        response = await sim.control.put(
            "/contacts/c-1?x=1", json=body, headers={"Idempotency-Key": f"acme:i:{revision}"}
        )
        assert response.status_code == 204
    assert await sim.stored("/contacts/c-1") == {"A": "3", "B": 2}
    one = await sim.control.get("/_sim/record", params={"path": "/contacts/c-1"})
    assert one.json() == {"path": "/contacts/c-1", "fields": {"A": "3", "B": 2}}
    absent = await sim.control.get("/_sim/record", params={"path": "/contacts/c-2"})
    assert absent.status_code == 404
    accepted = await sim.accepted()
    assert [(a["method"], a["path"], a["query"]) for a in accepted] == [
        ("PUT", "/contacts/c-1", "x=1")
    ] * 2
    assert [a["idempotency_key"] for a in accepted] == ["acme:i:1", "acme:i:2"]
    assert [a["fields"] for a in accepted] == [{"A": "1", "B": 2}, {"A": "3"}]


@pytest.mark.parametrize(
    "sim",
    [{"body_shape": "pairs", "under": "variables", "name_key": "key", "value_key": "val"}],
    indirect=True,
)
async def test_a_pairs_body_under_a_key(sim: HttpSim) -> None:
    good = {"id": "g", "variables": [{"key": "A", "val": "x"}]}
    assert (await sim.control.post("/v", json=good)).status_code == 204
    assert await sim.stored("/v") == {"A": "x"}
    for bad in ({"variables": {"A": "x"}}, {"variables": [{"key": "A"}]}, [{"key": "A", "val": 1}]):
        response = await sim.control.post("/v", json=bad)
        assert response.status_code == 400, bad


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'{"A": {"nested": 1}}', "application/json", 400),
        (b"not json", "application/json", 400),
        (b'{"A": 1}', "text/plain", 415),
        (b'{"A": 1}', "application/vnd.crm+json", 204),
    ],
)
async def test_bodies_it_refuses(
    sim: HttpSim, content: bytes, content_type: str, status: int
) -> None:
    response = await sim.control.post("/x", content=content, headers={"Content-Type": content_type})
    assert response.status_code == status


@pytest.mark.parametrize("sim", [{"auth": "basic"}], indirect=True)
async def test_basic_auth(sim: HttpSim) -> None:
    ok = await sim.control.post(
        "/x", json={"A": 1}, headers={"Authorization": basic(DEV_USERNAME, DEV_PASSWORD)}
    )
    wrong = await sim.control.post(
        "/x", json={"A": 1}, headers={"Authorization": basic(DEV_USERNAME, "no")}
    )
    bare = await sim.control.post("/x", json={"A": 1})
    assert (ok.status_code, wrong.status_code, bare.status_code) == (204, 401, 401)
    [logged, *_] = await sim.requests()
    assert "authorization" not in logged["headers"]


@pytest.mark.parametrize("sim", [{"auth": "bearer"}], indirect=True)
async def test_a_static_bearer_token(sim: HttpSim) -> None:
    ok = await sim.control.post(
        "/x", json={"A": 1}, headers={"Authorization": f"Bearer {DEV_BEARER_TOKEN}"}
    )
    wrong = await sim.control.post("/x", json={"A": 1}, headers={"Authorization": "Bearer nope"})
    assert (ok.status_code, wrong.status_code) == (204, 401)


@pytest.mark.parametrize("sim", [{"auth": "client_credentials"}], indirect=True)
@pytest.mark.parametrize("client_auth", ["basic", "body"])
async def test_client_credentials_tokens_work_until_they_expire(
    sim: HttpSim, client_auth: str
) -> None:
    form: dict[str, Any] = {"grant_type": "client_credentials", "scope": "write"}
    headers = {}
    if client_auth == "basic":
        headers["Authorization"] = basic(DEV_CLIENT_ID, DEV_CLIENT_SECRET)
    else:
        form |= {"client_id": DEV_CLIENT_ID, "client_secret": DEV_CLIENT_SECRET}
    answer = await sim.control.post(TOKEN_PATH, data=form, headers=headers)
    assert answer.status_code == 200
    token = answer.json()["access_token"]
    assert answer.json()["expires_in"] == 3600
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await sim.control.post("/x", json={"A": 1}, headers=bearer)).status_code == 204
    await sim.control.post("/_sim/tokens/expire")
    assert (await sim.control.post("/x", json={"A": 1}, headers=bearer)).status_code == 401
    [logged, *_] = await sim.requests()
    assert logged["form"].get("client_secret") in (None, "***")


@pytest.mark.parametrize("sim", [{"auth": "client_credentials"}], indirect=True)
@pytest.mark.parametrize(
    ("form", "headers", "status", "error"),
    [
        (
            {"grant_type": "client_credentials"},
            {"Authorization": basic(DEV_CLIENT_ID, "no")},
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "password"},
            {"Authorization": basic(DEV_CLIENT_ID, DEV_CLIENT_SECRET)},
            400,
            "unsupported_grant_type",
        ),
        ({"grant_type": "client_credentials"}, {}, 401, "invalid_client"),
    ],
)
async def test_token_refusals(
    sim: HttpSim, form: dict[str, str], headers: dict[str, str], status: int, error: str
) -> None:
    answer = await sim.control.post(TOKEN_PATH, data=form, headers=headers)
    assert (answer.status_code, answer.json()["error"]) == (status, error)


async def test_a_refusal_answers_every_later_write_to_its_path(sim: HttpSim) -> None:
    await sim.refuse("/c/2", 409, body={"error": "closed"}, retry_after="3")
    refused = await sim.control.put("/c/2", json={"A": 1})
    assert (refused.status_code, refused.json(), refused.headers["retry-after"]) == (
        409,
        {"error": "closed"},
        "3",
    )
    assert (await sim.control.put("/c/3", json={"A": 1})).status_code == 204
    assert await sim.accepted() == [a for a in await sim.accepted() if a["path"] == "/c/3"]


@pytest.mark.parametrize("sim", [{"auto_create": False, "success_status": 201}], indirect=True)
async def test_without_auto_create_only_registered_records_take_writes(sim: HttpSim) -> None:
    assert (await sim.control.post("/c/1", json={"A": 1})).status_code == 404
    (await sim.control.post("/_sim/records", json={"path": "/c/1"})).raise_for_status()
    created = await sim.control.post("/c/1", json={"A": 1})
    assert (created.status_code, created.json()) == (201, {"accepted": 1})


async def test_faults_come_first_and_the_control_surface_is_not_swallowed(sim: HttpSim) -> None:
    await sim.fault(path_prefix="/c", status=503, retry_after="1")
    faulted = await sim.control.put("/c/1", json={"A": 1})
    assert (faulted.status_code, faulted.headers["retry-after"]) == (503, "1")
    assert (await sim.control.put("/c/1", json={"A": 1})).status_code == 204
    assert [r["status"] for r in await sim.requests()] == [503, 204]
    assert (await sim.control.post("/_sim/reset")).status_code == 204
    assert await sim.records() == {}
    assert await sim.accepted() == []


async def test_its_openapi_document_builds_and_a_read_finds_nothing(sim: HttpSim) -> None:
    assert (await sim.control.get("/openapi.json")).status_code == 200
    assert (await sim.control.get("/contacts/c-1")).status_code == 404
    assert await sim.requests() == []
