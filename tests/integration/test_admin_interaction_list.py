"""``GET /admin/interactions`` over loopback, reading a real SQLite file and a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from service.http_server import AppServer
from service.ledger.opening import open_ledger
from service.ledger.resilient import ResilientLedger
from tests.integration.test_ledger_backends import (  # noqa: F401 - fixtures the Redis case uses
    redis_prefix,
    redis_url,
)
from tests.unit.factories import analytics, closed
from tests.unit.test_admin_routes import AUTH, admin_parts

WEEK = timedelta(days=7)


@pytest.fixture(params=["sqlite", "redis"])
async def admin(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """The admin API on a real ledger, seeded as the pipeline would leave it: acme (NICE,
    written after the close) with one interaction delivered, one waiting to be delivered and
    one still open; eightco (8x8) with one waiting."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/ledger.sqlite3"
        ledger = ResilientLedger(open_ledger(url))
    else:
        redis = request.getfixturevalue("redis_url")
        ledger = ResilientLedger(
            open_ledger(redis, key_prefix=request.getfixturevalue("redis_prefix"))
        )
    now = datetime.now(UTC)
    await ledger.merge(closed(tenant="acme", interaction_id="call-1"), now, WEEK)
    await ledger.mark_delivered("acme", "call-1", "nice-cxone", 1)
    await ledger.merge(closed(tenant="acme", interaction_id="call-2"), now, WEEK)
    opened = analytics(tenant="acme", interaction_id="call-3", fields={"sentiment.label": "neg"})
    await ledger.merge(opened, now, WEEK)
    await ledger.merge(closed(tenant="eightco", interaction_id="call-4"), now, WEEK)
    parts = admin_parts(ledger=cast(Any, ledger))
    try:
        async with (
            AppServer(parts.app) as server,
            httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=30) as client,
        ):
            yield client
    finally:
        await ledger.close()


async def _states(client: httpx.AsyncClient, **params: Any) -> dict[str, str]:
    """Every page followed to the end: ``tenant:id`` -> state."""
    states: dict[str, str] = {}
    cursor = None
    for _ in range(1000):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/admin/interactions", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["interactions"]) <= params.get("limit", 50)
        for item in body["interactions"]:
            key = f"{item['tenant']}:{item['interaction_id']}"
            assert key not in states, f"{key} shown twice"
            states[key] = item["state"]
        cursor = body["next_cursor"]
        if cursor is None:
            return states
    raise AssertionError("still paging after 1000 pages")


@pytest.mark.parametrize("limit", [1, 2, 50])
async def test_lists_interactions_with_their_delivery_state(admin: Any, limit: int) -> None:
    assert await _states(admin, limit=limit) == {
        "acme:call-1": "delivered",
        "acme:call-2": "pending",
        "acme:call-3": "held",
        "eightco:call-4": "pending",
    }
    assert await _states(admin, tenant="acme", state="pending", limit=limit) == {
        "acme:call-2": "pending"
    }
    assert await _states(admin, state="held", limit=limit) == {"acme:call-3": "held"}
    assert await _states(admin, tenant="eightco", limit=limit) == {"eightco:call-4": "pending"}


async def test_an_entry_says_how_far_its_platform_got(admin: Any) -> None:
    response = await admin.get("/admin/interactions", params={"tenant": "acme", "limit": 500})
    by_id = {item["interaction_id"]: item for item in response.json()["interactions"]}
    delivered = by_id["call-1"]
    assert delivered["platform"] == "nice-cxone"
    assert delivered["revision"] == delivered["delivered_revision"] == 1
    assert delivered["closed"] is True
    assert by_id["call-3"]["closed"] is False
    assert by_id["call-3"]["delivered_revision"] == 0


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"state": "sent"}, "'pending', 'held' or 'delivered'"),
        ({"tenant": "globex"}, "Input should be 'acme' or 'eightco'"),
        ({"limit": 0}, "greater than or equal to 1"),
        ({"limit": 501}, "less than or equal to 500"),
        ({"cursor": "not a cursor!"}, "pattern"),
        ({"cursor": "abc"}, "pattern"),
        ({"stat": "held"}, "extra_forbidden"),
    ],
)
async def test_bad_queries_get_a_clear_422(admin: Any, params: dict[str, Any], words: str) -> None:
    response = await admin.get("/admin/interactions", params=params)
    assert response.status_code == 422
    assert words in response.text


async def test_the_list_needs_the_token(admin: Any) -> None:
    response = await admin.get("/admin/interactions", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


async def test_the_list_is_in_the_openapi_document(admin: Any) -> None:
    document = (await admin.get("/openapi.json")).json()
    operation = document["paths"]["/admin/interactions"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"tenant", "state", "limit", "cursor"}
    assert {"200", "401", "422", "503"} <= set(operation["responses"])
    assert document["components"]["schemas"]["InteractionPage"].get("examples")


async def test_redis_refuses_a_cursor_of_another_kind(admin: Any) -> None:
    cursor = b"acme:call-1".hex()  # a SQLite cursor: the last key shown
    response = await admin.get("/admin/interactions", params={"cursor": cursor})
    if response.status_code == 200:
        return  # SQLite: any text is a position in key order
    assert response.status_code == 422
    assert "not a cursor this endpoint gave out" in response.text
