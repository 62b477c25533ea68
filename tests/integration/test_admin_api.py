"""The admin API of the real service on the real broker, as an operator uses it: find an
interaction, see why it failed, fix the cause, replay, confirm the delivery; pause and resume a
lane; and the surface refused without the token, and absent without one configured."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from tests.integration.conftest import FIELDS, SECRETS, Running, service_settings, wait_for
from tests.integration.test_end_to_end import closed_event, stored

pytestmark = pytest.mark.integration

TOKEN = "integration-admin-token-5d2b"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/admin/interactions/acme/i-1", None),
    ("GET", "/admin/dlq", None),
    ("POST", "/admin/dlq/replay", {"dry_run": True}),
    ("GET", "/admin/lanes", None),
    ("POST", "/admin/lanes/acme/nice-cxone/pause", None),
    ("POST", "/admin/lanes/acme/nice-cxone/resume", None),
    ("GET", "/admin/config", None),
]


@pytest.fixture
def with_token(kafka_bootstrap: str, tmp_path: Path) -> Any:
    return service_settings(kafka_bootstrap, tmp_path, admin_token=TOKEN)


async def interaction(running: Running, interaction_id: str) -> dict[str, Any]:
    response = await running.http.get(f"/admin/interactions/acme/{interaction_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_find_why_it_failed_fix_replay_and_confirm(run_service: Any, with_token: Any) -> None:
    async with run_service(with_token) as running:
        await running.sim.contact("70")
        # CaseNumber is not a field at this tenant yet: NICE answers 400.
        await running.sim.control.patch(
            "/_sim/config", json={"field_catalogue": ["CrmAccount", "Vip"]}
        )
        await running.closed(closed_event("i-70", "70"))

        async def dead_lettered() -> bool:
            return len(await running.dead_letters()) == 1

        await wait_for(dead_lettered, 30, "the rejected change in the DLQ")

        before = await interaction(running, "i-70")
        [nice] = before["platforms"]
        assert (nice["current_revision"], nice["delivered_revision"]) == (1, 0)
        assert nice["up_to_date"] is False
        last = nice["recent_attempts"][0]
        assert (last["result"], last["reason"], last["http_status"], last["retryable"]) == (
            "failed",
            "rejected",
            400,
            False,
        )
        assert "CaseNumber" in last["excerpt"]
        assert before["fields"]["case_number"]["value"] == 4711

        page = await running.http.get(
            "/admin/dlq", params={"tenant": "acme", "reason": "rejected"}, headers=AUTH
        )
        assert page.status_code == 200, page.text
        [record] = page.json()["records"]
        assert record["interaction_id"] == "i-70"
        assert record["provenance"]["http_status"] == "400"
        assert record["value"]["interaction_id"] == "i-70"
        assert record["provenance"]["source_topic"] == running.settings.topic_closed

        await running.sim.control.patch("/_sim/config", json={"field_catalogue": sorted(FIELDS)})
        selection = {"tenant": "acme", "reason": "rejected", "since": "1h"}
        dry = await running.http.post(
            "/admin/dlq/replay", json={**selection, "dry_run": True}, headers=AUTH
        )
        assert dry.json() == {
            "dry_run": True,
            "selected": 1,
            "to_replay": 1,
            "replayed": 0,
            "skipped_replay_limit": 0,
            "by_reason": {"rejected": 1},
            "skipped_superseded": 0,
            "skipped_claimed": 0,
            "skipped_original_gone": 0,
        }
        with capture_logs() as logs:
            done = await running.http.post("/admin/dlq/replay", json=selection, headers=AUTH)
        assert done.status_code == 200, done.text
        assert done.json()["replayed"] == 1
        [audit] = [e for e in logs if e["event"] == "dlq_replayed"]
        assert audit["user"] == "admin-api"
        assert audit["selection"]["tenant"] == "acme"

        await stored(running, "70", {"CrmAccount": "A-1001", "CaseNumber": "4711", "Vip": True})

        async def confirmed() -> bool:
            [nice] = (await interaction(running, "i-70"))["platforms"]
            return bool(nice["up_to_date"])

        await wait_for(confirmed, 10, "the interaction to show as delivered")
        [nice] = (await interaction(running, "i-70"))["platforms"]
        assert nice["delivered_revision"] == 1
        assert nice["recent_attempts"][0]["result"] == "delivered"
        assert nice["recent_attempts"][0]["http_status"] in (200, 204)


async def test_a_paused_lane_calls_nothing_until_resumed(run_service: Any, with_token: Any) -> None:
    async with run_service(with_token) as running:
        lanes = (await running.http.get("/admin/lanes", headers=AUTH)).json()["lanes"]
        assert [(lane["tenant"], lane["platform"], lane["paused"]) for lane in lanes] == [
            ("acme", "nice-cxone", False)
        ]
        for _ in range(2):
            paused = await running.http.post("/admin/lanes/acme/nice-cxone/pause", headers=AUTH)
            assert paused.status_code == 200
            assert paused.json()["paused_by_operator"] is True
        await running.sim.contact("80")
        await running.closed(closed_event("i-80", "80"))

        async def consumed() -> bool:
            return bool(
                running.metric(
                    "enricher_consumed_total",
                    tenant="acme",
                    platform="nice-cxone",
                    type="interaction.closed",
                )
                == 1
            )

        await wait_for(consumed, 20, "the close event to be consumed")
        await asyncio.sleep(1.5)  # longer than the first retry tier: a parked record came back
        assert await running.sim.puts() == []
        assert (await interaction(running, "i-80"))["platforms"][0]["up_to_date"] is False

        for _ in range(2):
            resumed = await running.http.post("/admin/lanes/acme/nice-cxone/resume", headers=AUTH)
            assert resumed.status_code == 200
            assert resumed.json()["paused"] is False
        await stored(running, "80", {"CrmAccount": "A-1001", "CaseNumber": "4711", "Vip": True})

        for path in ("/admin/lanes/globex/nice-cxone/pause", "/admin/lanes/acme/8x8/resume"):
            unknown = await running.http.post(path, headers=AUTH)
            assert unknown.status_code == 404
            assert "no lane for tenant" in unknown.json()["detail"]


async def test_refusals_bad_input_and_no_secret_in_the_config(
    run_service: Any, with_token: Any
) -> None:
    async with run_service(with_token) as running:
        for method, path, body in ROUTES:
            for headers in ({}, {"Authorization": "Bearer wrong"}):
                response = await running.http.request(method, path, json=body, headers=headers)
                assert response.status_code == 401, (method, path, headers)

        for method, path, body, status in [
            ("GET", "/admin/dlq?limit=0", None, 422),
            ("GET", "/admin/dlq?since=yesterday", None, 422),
            ("POST", "/admin/dlq/replay", {"tenat": "acme"}, 422),
            ("POST", "/admin/dlq/replay", {"max_replays": "3"}, 422),
            ("GET", "/admin/interactions/a%20b/i-1", None, 422),
            ("GET", "/admin/interactions/globex/i-1", None, 404),
            ("GET", "/admin/interactions/acme/never-seen", None, 404),
        ]:
            response = await running.http.request(method, path, json=body, headers=AUTH)
            assert response.status_code == status, (path, response.text)
            assert response.json()["detail"]

        config = await running.http.get("/admin/config", headers=AUTH)
        assert config.status_code == 200
        secrets = {*SECRETS.values(), TOKEN, *running.service.tenants.secret_values()}
        for secret in secrets:
            assert secret not in config.text, "a configured secret is in /admin/config"
        body = config.json()
        assert body["settings"]["admin_token"] == "[redacted]"
        assert body["settings"]["topic_dlq"] == running.settings.topic_dlq
        assert body["tenants"]["acme"]["nice-cxone"]["client_secret"] == "[redacted]"


async def test_without_a_token_there_is_no_admin_surface(run_service: Any) -> None:
    async with run_service() as running:
        assert running.settings.admin_token is None
        for method, path, body in ROUTES:
            response = await running.http.request(method, path, json=body, headers=AUTH)
            assert response.status_code == 404, (method, path)
        schema = (await running.http.get("/openapi.json")).json()
        assert not [p for p in schema["paths"] if p.startswith("/admin")]
        assert (await running.http.get("/readyz")).status_code == 200
