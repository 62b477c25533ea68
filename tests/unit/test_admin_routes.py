"""The admin API on in-memory parts: every route authorised and refused, bad input, unknown
objects, failing dependencies, and the whole surface absent without a token.

``admin_parts`` is also what the schemathesis run builds the app from."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from structlog.testing import capture_logs

from service.admin.context import AdminContext
from service.admin.dead_letters import ReplayPlan
from service.admin.recorder import OutcomeRecorder
from service.api import create_app
from service.delivery.attempt import Attempt, AttemptKind
from service.delivery.dlq_reader import DeadLetterFilter, DeadLetterRecord
from service.delivery.lanes import LaneConfig, Lanes
from service.delivery.replay import ReplaySummary
from service.delivery.replay_state import Latest, latest_per_original
from service.delivery.retry_topics import tiers_of
from service.health import Health
from service.ledger.memory import MemoryLedger
from service.metrics import Metrics
from service.platforms.base import Delivery, WriteWindow
from service.platforms.outcomes import Outcome, OutcomeKind
from service.redaction import Redactor
from service.settings import Settings
from service.tenants import TenantsConfig, parse_tenants
from tests.unit.factories import T0, closed

TOKEN = "admin-token-3f9c1e7a5b"
SECRETS = {
    "NICE_CLIENT_SECRET": "nice-client-secret-value",
    "NICE_KEY_ID": "nice-key-id-value",
    "NICE_KEY_SECRET": "nice-key-secret-value",
    "EIGHT_TOKEN": "eight-action-token-value",
    "SASL_PASSWORD": "kafka-sasl-password-value",
}
TENANTS_YAML = """
tenants:
  acme:
    platform: nice-cxone
    nice-cxone:
      issuer: https://cxone.example
      client_id: enricher
      client_secret: ${NICE_CLIENT_SECRET}
      access_key_id: ${NICE_KEY_ID}
      access_key_secret: ${NICE_KEY_SECRET}
    fields:
      CrmAccount: {from: crm_account}
  eightco:
    platform: 8x8
    8x8:
      base_url: https://vcc-na12.8x8.com
      tenant_id: eightco
      action_token: ${EIGHT_TOKEN}
    fields:
      _CrmAccount: {from: crm_account}
      _CardLast4: {from: card_last4, privacy: true}
"""


class IdleAdapter:
    """The lanes are never started here: nothing is sent."""

    write_window: WriteWindow = "after_close"

    def __init__(self, platform: str) -> None:
        self.platform = platform

    async def send(self, delivery: Delivery) -> Outcome:
        raise AssertionError("the admin API never sends")

    async def close(self) -> None:
        return None


@dataclass
class MemoryDeadLetters:
    """The DLQ as a list; ``fail`` makes every read raise, as an unreachable broker would."""

    records: list[DeadLetterRecord] = field(default_factory=list)
    sent: list[DeadLetterRecord] = field(default_factory=list)
    fail: Exception | None = None
    gate: asyncio.Event | None = None

    async def read(
        self, selection: DeadLetterFilter, *, limit: int | None = None
    ) -> list[DeadLetterRecord]:
        if self.fail is not None:
            raise self.fail
        found = [r for r in self.records if selection.matches(r)]
        return found[:limit] if limit is not None else found

    async def read_latest(self, selection: DeadLetterFilter) -> list[Latest]:
        if self.fail is not None:
            raise self.fail
        return latest_per_original(self.records, selection)

    async def plan(self, selection: DeadLetterFilter, *, max_replays: int) -> ReplayPlan:
        records = await self.read(selection)
        summary = ReplaySummary(selected=len(records))
        todo = []
        for record in records:
            if int(record.provenance.get("replays", "0")) >= max_replays:
                summary.skipped_replay_limit += 1
                continue
            reason = record.provenance.get("reason", "unknown")
            summary.by_reason[reason] = summary.by_reason.get(reason, 0) + 1
            todo.append(record)
        return ReplayPlan(selection, todo, summary)

    async def send(
        self, plan: ReplayPlan, *, progress: Callable[[int], None] | None = None
    ) -> ReplaySummary:
        if self.gate is not None:
            await self.gate.wait()
        self.sent.extend(plan.records)
        plan.summary.replayed += len(plan.records)
        return plan.summary


class FailingLedger(MemoryLedger):
    async def get(self, tenant: str, interaction_id: str, now: datetime) -> Any:
        raise ConnectionError("database is locked")


def dead_letter(
    offset: int,
    *,
    tenant: str = "acme",
    platform: str = "nice-cxone",
    reason: str = "rejected",
    interaction: str = "call-1",
    minutes: int = 0,
    replays: int = 0,
    value: bytes | None = None,
) -> DeadLetterRecord:
    headers = {
        "reason": reason,
        "tenant": tenant,
        "platform": platform,
        "interaction_id": interaction,
        "http_status": "400",
        "response_excerpt": '{"message": "Unknown field"}',
        "source_topic": "interactions.closed",
        "source_partition": "0",
        "source_offset": str(offset),
        "replays": str(replays),
    }
    event = {"type": "interaction.closed", "tenant": tenant, "interaction_id": interaction}
    return DeadLetterRecord(
        partition=offset % 2,
        offset=offset,
        timestamp_ms=int((T0 + timedelta(minutes=minutes)).timestamp() * 1000),
        key=f"{tenant}:{interaction}".encode(),
        value=orjson.dumps(event) if value is None else value,
        headers=tuple((f"enricher.{k}", v.encode()) for k, v in headers.items()),
    )


@dataclass
class Parts:
    settings: Settings
    tenants: TenantsConfig
    ledger: MemoryLedger
    lanes: Lanes | None
    recorder: OutcomeRecorder
    dead_letters: MemoryDeadLetters
    app: FastAPI

    def secret_values(self) -> list[str]:
        return [*self.settings.secret_values(), *self.tenants.secret_values()]


def admin_parts(
    token: str | None = TOKEN,
    *,
    lanes_running: bool = True,
    ledger: MemoryLedger | None = None,
) -> Parts:
    settings = Settings(
        admin_token=SecretStr(token) if token is not None else None,
        kafka_sasl_password=SecretStr(SECRETS["SASL_PASSWORD"]),
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username="enricher",
        config=None,
    )
    tenants = parse_tenants(TENANTS_YAML, environ=SECRETS)
    ledger = ledger or MemoryLedger()
    redactor = Redactor([*settings.secret_values(), *tenants.secret_values()])
    recorder = OutcomeRecorder(redact=redactor)
    lanes = Lanes(
        tenants.tenants,
        {name: IdleAdapter(t.platform) for name, t in tenants.tenants.items()},
        ledger,
        Metrics(),
        LaneConfig(tiers=tiers_of("retry.", [30])),
        on_attempt=recorder.record,
    )
    dead_letters = MemoryDeadLetters()
    context = None
    if settings.admin_token is not None:
        context = AdminContext(
            token=settings.admin_token,
            settings=settings,
            tenants=tenants.tenants,
            ledger=ledger,
            lanes=lambda: lanes if lanes_running else None,
            recorder=recorder,
            dead_letters=dead_letters,
            redact=redactor,
        )
    app = create_app(Health(), Metrics(), context)
    return Parts(settings, tenants, ledger, lanes, recorder, dead_letters, app)


AUTH = {"Authorization": f"Bearer {TOKEN}"}

ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/admin/interactions/acme/call-1", None),
    ("GET", "/admin/dlq", None),
    ("POST", "/admin/dlq/replay", {"tenant": "acme", "dry_run": True}),
    ("GET", "/admin/lanes", None),
    ("POST", "/admin/lanes/acme/nice-cxone/pause", None),
    ("POST", "/admin/lanes/acme/nice-cxone/resume", None),
    ("GET", "/admin/config", None),
]


@pytest.fixture
def parts() -> Parts:
    return admin_parts()


async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
        yield client


@pytest.fixture
async def client(parts: Parts) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(parts.app):
        yield c


async def seed_interaction(parts: Parts, tenant: str = "acme", **fields: Any) -> None:
    now = datetime.now(UTC)
    event = closed(tenant=tenant, interaction_id="call-1", fields=fields or {"crm_account": "A-1"})
    await parts.ledger.merge(event, now, timedelta(days=7))


# -- authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer "},
    ],
    ids=["missing", "wrong", "longer", "basic-scheme", "no-scheme", "empty"],
)
async def test_every_route_refuses_a_missing_or_wrong_token(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    headers: dict[str, str],
) -> None:
    response = await client.request(method, path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert isinstance(response.json()["detail"], str)


async def test_refusal_comes_before_the_body_is_read(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/admin/dlq/replay", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401
    authorised = await client.post(
        "/admin/dlq/replay",
        content=b"{not json",
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert authorised.status_code == 422


async def test_a_wrong_token_is_logged_without_the_token(client: httpx.AsyncClient) -> None:
    with capture_logs() as logs:
        await client.get("/admin/lanes", headers={"Authorization": "Bearer guess-1234567"})
    [entry] = [e for e in logs if e["event"] == "admin_token_refused"]
    assert entry["path"] == "/admin/lanes"
    assert "guess-1234567" not in repr(logs)


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_without_a_token_the_admin_surface_does_not_exist(
    method: str, path: str, body: dict[str, Any] | None
) -> None:
    for token in (None, ""):
        parts = admin_parts(token)
        async for client in _client(parts.app):
            response = await client.request(method, path, json=body, headers=AUTH)
            assert response.status_code == 404
            schema = (await client.get("/openapi.json")).json()
            assert not any(p.startswith("/admin") for p in schema["paths"])
            assert "securitySchemes" not in schema.get("components", {})
            assert (await client.get("/healthz")).status_code == 200


# -- OpenAPI ------------------------------------------------------------------------------------


async def test_openapi_declares_the_bearer_scheme_and_every_error(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["adminToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["adminToken"]["description"],
    }
    admin = {p: ops for p, ops in schema["paths"].items() if p.startswith("/admin")}
    assert set(admin) == {
        "/admin/interactions",
        "/admin/interactions/{tenant}/{interaction_id}",
        "/admin/dlq",
        "/admin/dlq/replay",
        "/admin/lanes",
        "/admin/lanes/{tenant}/{platform}/pause",
        "/admin/lanes/{tenant}/{platform}/resume",
        "/admin/config",
    }
    for path, operations in admin.items():
        for operation in operations.values():
            assert operation["security"] == [{"adminToken": []}], path
            responses = operation["responses"]
            assert "401" in responses, path
            assert "$ref" in responses["200"]["content"]["application/json"]["schema"], path
            if operation.get("parameters") or operation.get("requestBody"):
                assert "422" in responses, path
            if "{tenant}" in path:
                assert "404" in responses, path
    for name in ("InteractionView", "DeadLetterPage", "ReplayResult", "LaneView", "ConfigView"):
        assert schema["components"]["schemas"][name].get("examples"), name


# -- interactions -------------------------------------------------------------------------------


async def test_an_interaction_shows_ledger_delivery_state_and_recent_attempts(
    parts: Parts, client: httpx.AsyncClient
) -> None:
    await seed_interaction(parts)
    failed = Attempt(
        AttemptKind.FAILED,
        1,
        Outcome(
            OutcomeKind.PERMANENT,
            "rejected",
            400,
            excerpt=f"bad field; secret {SECRETS['NICE_CLIENT_SECRET']}",
            error_class="VendorRejected",
        ),
        called=True,
        elapsed=0.0421,
    )
    parts.recorder.record("acme", "call-1", "nice-cxone", failed, T0)
    response = await client.get("/admin/interactions/acme/call-1", headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["revision"] == 1
    assert body["closed"] is True
    assert body["routing"]["ref.contact_id"] == "8675309"
    assert body["fields"]["crm_account"]["value"] == "A-1"
    assert body["expires_at"] is not None
    [nice] = body["platforms"]
    assert (nice["platform"], nice["current_revision"], nice["delivered_revision"]) == (
        "nice-cxone",
        1,
        0,
    )
    assert nice["up_to_date"] is False
    [attempt] = nice["recent_attempts"]
    assert attempt["result"] == "failed"
    assert attempt["reason"] == "rejected"
    assert attempt["http_status"] == 400
    assert attempt["retryable"] is False
    assert attempt["elapsed_ms"] == 42.1
    assert SECRETS["NICE_CLIENT_SECRET"] not in response.text

    await parts.ledger.mark_delivered("acme", "call-1", "nice-cxone", 1)
    body = (await client.get("/admin/interactions/acme/call-1", headers=AUTH)).json()
    assert body["platforms"][0]["delivered_revision"] == 1
    assert body["platforms"][0]["up_to_date"] is True


async def test_privacy_flagged_fields_are_masked(parts: Parts, client: httpx.AsyncClient) -> None:
    await seed_interaction(parts, "eightco", card_last4="4242", crm_account="A-9")
    response = await client.get("/admin/interactions/eightco/call-1", headers=AUTH)
    body = response.json()
    assert body["fields"]["card_last4"] == {**body["fields"]["card_last4"], "value": "***"}
    assert body["fields"]["card_last4"]["masked"] is True
    assert body["fields"]["crm_account"]["value"] == "A-9"
    assert "4242" not in response.text


@pytest.mark.parametrize("interaction_id", ["queue/7/call-1", "call\n1", " call 1 ", "ü/%"])
async def test_any_interaction_id_can_be_looked_up(
    parts: Parts, client: httpx.AsyncClient, interaction_id: str
) -> None:
    event = closed(interaction_id=interaction_id, fields={"crm_account": "A-1"})
    await parts.ledger.merge(event, datetime.now(UTC), timedelta(days=7))
    path = "/admin/interactions/acme/" + quote(interaction_id, safe="")
    response = await client.get(path, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["interaction_id"] == interaction_id


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/admin/interactions/globex/call-1", 404, "unknown tenant 'globex'"),
        ("/admin/interactions/acme/never-seen", 404, "holds nothing for acme:never-seen"),
        ("/admin/interactions/acme/" + "x" * 257, 422, "at most 256"),
        ("/admin/interactions/ac%20me/call-1", 422, "pattern"),
    ],
)
async def test_interaction_lookup_says_what_is_wrong(
    client: httpx.AsyncClient, path: str, status: int, words: str
) -> None:
    response = await client.get(path, headers=AUTH)
    assert response.status_code == status
    assert words in response.text


async def test_a_failing_ledger_answers_503_not_500() -> None:
    parts = admin_parts(ledger=FailingLedger())
    async for client in _client(parts.app):
        response = await client.get("/admin/interactions/acme/call-1", headers=AUTH)
        assert response.status_code == 503
        assert response.json() == {"detail": "the ledger cannot be read: ConnectionError"}


# -- dead letters -------------------------------------------------------------------------------


async def test_dead_letters_are_filtered_and_paged_oldest_first(
    parts: Parts, client: httpx.AsyncClient
) -> None:
    parts.dead_letters.records = [
        dead_letter(n, minutes=10 - n, interaction=f"call-{n}") for n in range(5)
    ] + [dead_letter(9, tenant="eightco", platform="8x8", reason="not_found")]
    first = (await client.get("/admin/dlq?tenant=acme&limit=2", headers=AUTH)).json()
    assert first["matching"] == 5
    assert [r["offset"] for r in first["records"]] == [4, 3]
    assert first["next_cursor"]
    # A record older than the cursor arriving between pages does not shift the next page.
    parts.dead_letters.records.append(dead_letter(20, minutes=-60))
    second = (
        await client.get(
            "/admin/dlq",
            params={"tenant": "acme", "limit": 2, "cursor": first["next_cursor"]},
            headers=AUTH,
        )
    ).json()
    assert [r["offset"] for r in second["records"]] == [2, 1]
    third = (
        await client.get(
            "/admin/dlq",
            params={"tenant": "acme", "limit": 2, "cursor": second["next_cursor"]},
            headers=AUTH,
        )
    ).json()
    assert [r["offset"] for r in third["records"]] == [0]
    assert third["next_cursor"] is None

    only = (await client.get("/admin/dlq", params={"reason": "not_found"}, headers=AUTH)).json()
    [record] = only["records"]
    assert (record["tenant"], record["platform"], record["reason"]) == (
        "eightco",
        "8x8",
        "not_found",
    )
    assert record["key"] == "eightco:call-1"
    assert record["value"]["interaction_id"] == "call-1"
    assert record["provenance"]["http_status"] == "400"
    by_interaction = (
        await client.get("/admin/dlq", params={"interaction": "call-3"}, headers=AUTH)
    ).json()
    assert [r["offset"] for r in by_interaction["records"]] == [3]
    window = (
        await client.get(
            "/admin/dlq",
            params={"since": "2026-11-20T10:22:00Z", "until": "2026-11-20T11:24:00+01:00"},
            headers=AUTH,
        )
    ).json()
    assert [r["offset"] for r in window["records"]] == [3, 2]
    backwards = (
        await client.get("/admin/dlq", params={"since": "1h", "until": "2h"}, headers=AUTH)
    ).json()
    assert backwards == {"records": [], "matching": 0, "next_cursor": None}


async def test_dead_letters_keep_masks_and_never_show_secrets(
    parts: Parts, client: httpx.AsyncClient
) -> None:
    value = orjson.dumps(
        {"tenant": "eightco", "data": {"card_last4": "***", "note": SECRETS["EIGHT_TOKEN"]}}
    )
    parts.dead_letters.records = [dead_letter(1, tenant="eightco", value=value)]
    response = await client.get("/admin/dlq", headers=AUTH)
    [record] = response.json()["records"]
    assert record["value"]["data"]["card_last4"] == "***"
    assert SECRETS["EIGHT_TOKEN"] not in response.text


async def test_a_dead_letter_that_is_not_json_is_shown_as_text(
    parts: Parts, client: httpx.AsyncClient
) -> None:
    parts.dead_letters.records = [dead_letter(1, value=b"\xffnot json")]
    [record] = (await client.get("/admin/dlq", headers=AUTH)).json()["records"]
    assert record["value"] == "\ufffdnot json"


async def test_latest_shows_one_record_per_original_with_its_state(
    parts: Parts, client: httpx.AsyncClient
) -> None:
    parts.dead_letters.records = [
        dead_letter(1),
        dead_letter(2, interaction="call-2"),
        dead_letter(1, minutes=5, replays=1),  # the same original, back after a replay
    ]
    everything = (await client.get("/admin/dlq", headers=AUTH)).json()
    assert everything["matching"] == 3
    assert all(r["state"] is None for r in everything["records"])
    page = (await client.get("/admin/dlq", params={"latest": "true"}, headers=AUTH)).json()
    assert page["matching"] == 2
    assert [
        (r["provenance"]["source_offset"], r["state"], r["replays"], r["copies"])
        for r in page["records"]
    ] == [("2", "dead_lettered", 0, 1), ("1", "dead_lettered", 1, 2)]


async def test_a_dead_letter_written_without_its_value_shows_no_value(
    parts: Parts, client: httpx.AsyncClient
) -> None:
    record = dead_letter(1, value=b"")
    parts.dead_letters.records = [
        dataclasses.replace(
            record,
            headers=(
                *record.headers,
                ("enricher.omitted", b"value"),
                ("enricher.value_size", b"9"),
            ),
        )
    ]
    [shown] = (await client.get("/admin/dlq", headers=AUTH)).json()["records"]
    assert shown["value"] is None
    assert (shown["provenance"]["omitted"], shown["provenance"]["value_size"]) == ("value", "9")


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"limit": 0}, "greater than or equal to 1"),
        ({"limit": 501}, "less than or equal to 500"),
        ({"since": "yesterday"}, "neither an RFC 3339 time"),
        ({"since": "2026-13-45T00:00:00Z"}, "neither an RFC 3339 time"),
        ({"until": "2026-11-20T10:00:00"}, "neither an RFC 3339 time"),
        ({"until": " 24h"}, "neither an RFC 3339 time"),
        ({"cursor": "abc"}, "should match pattern"),
        ({"platform": "avaya"}, "nice-cxone"),
        ({"tenant": "a b"}, "should match pattern"),
        ({"tenat": "acme"}, "extra_forbidden"),
    ],
)
async def test_bad_dead_letter_queries_get_a_clear_422(
    client: httpx.AsyncClient, params: dict[str, Any], words: str
) -> None:
    response = await client.get("/admin/dlq", params=params, headers=AUTH)
    assert response.status_code == 422
    assert words in response.text


async def test_an_unreadable_dlq_answers_503(parts: Parts, client: httpx.AsyncClient) -> None:
    parts.dead_letters.fail = TimeoutError("could not read dlq to its end within 30s")
    response = await client.get("/admin/dlq", headers=AUTH)
    assert response.status_code == 503
    assert response.json() == {"detail": "the DLQ topic cannot be read: TimeoutError"}
    replay = await client.post("/admin/dlq/replay", json={}, headers=AUTH)
    assert replay.status_code == 503


async def test_replay_counts_sends_and_audits(parts: Parts, client: httpx.AsyncClient) -> None:
    parts.dead_letters.records = [
        dead_letter(1),
        dead_letter(2, reason="not_found"),
        dead_letter(3, replays=3),
        dead_letter(4, tenant="eightco", platform="8x8"),
    ]
    with capture_logs() as logs:
        dry = await client.post(
            "/admin/dlq/replay", json={"tenant": "acme", "dry_run": True}, headers=AUTH
        )
    assert dry.status_code == 200, dry.text
    assert dry.json() == {
        "dry_run": True,
        "selected": 3,
        "to_replay": 2,
        "replayed": 0,
        "skipped_replay_limit": 1,
        "by_reason": {"rejected": 1, "not_found": 1},
        "skipped_superseded": 0,
        "skipped_claimed": 0,
        "skipped_original_gone": 0,
    }
    assert parts.dead_letters.sent == []
    assert not [e for e in logs if e["event"] == "dlq_replayed"]

    with capture_logs() as logs:
        done = await client.post(
            "/admin/dlq/replay", json={"tenant": "acme", "max_replays": 4}, headers=AUTH
        )
    assert done.json()["replayed"] == 3
    assert [r.offset for r in parts.dead_letters.sent] == [1, 2, 3]
    [audit] = [e for e in logs if e["event"] == "dlq_replayed"]
    assert audit["user"] == "admin-api"
    assert audit["selection"] == {"tenant": "acme"}
    assert (audit["selected"], audit["replayed"]) == (3, 3)


async def test_a_second_replay_while_one_runs_is_refused(
    parts: Parts, client: httpx.AsyncClient
) -> None:
    parts.dead_letters.records = [dead_letter(1)]
    parts.dead_letters.gate = asyncio.Event()
    first = asyncio.create_task(client.post("/admin/dlq/replay", json={}, headers=AUTH))
    for _ in range(100):
        await asyncio.sleep(0)
    second = await client.post("/admin/dlq/replay", json={}, headers=AUTH)
    assert second.status_code == 409
    assert "another replay is running" in second.json()["detail"]
    parts.dead_letters.gate.set()
    assert (await first).json()["replayed"] == 1


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"tenat": "acme"}, "extra_forbidden"),
        ({"max_replays": 0}, "greater than or equal to 1"),
        ({"dry_run": "perhaps"}, "valid boolean"),
        ({"since": "2026-11-20"}, "neither an RFC 3339 time"),
        ([], "valid dictionary"),
    ],
)
async def test_bad_replay_requests_get_a_clear_422(
    parts: Parts, client: httpx.AsyncClient, body: Any, words: str
) -> None:
    parts.dead_letters.records = [dead_letter(1)]
    response = await client.post("/admin/dlq/replay", json=body, headers=AUTH)
    assert response.status_code == 422
    assert words in response.text
    assert parts.dead_letters.sent == []


# -- lanes --------------------------------------------------------------------------------------


async def test_lanes_list_every_tenant_with_its_state(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/lanes", headers=AUTH)
    assert response.status_code == 200
    lanes = {(lane["tenant"], lane["platform"]): lane for lane in response.json()["lanes"]}
    assert set(lanes) == {("acme", "nice-cxone"), ("eightco", "8x8")}
    eight = lanes[("eightco", "8x8")]
    assert eight["rate_per_second"] == pytest.approx(100 / 60)
    assert eight["breaker"] == "closed"
    assert eight["paused"] is False
    assert eight["in_flight"] == eight["queued"] == 0


async def test_pause_and_resume_are_idempotent_and_audited(client: httpx.AsyncClient) -> None:
    with capture_logs() as logs:
        for _ in range(2):
            paused = await client.post("/admin/lanes/acme/nice-cxone/pause", headers=AUTH)
            assert paused.status_code == 200
            assert paused.json()["paused"] is True
            assert paused.json()["paused_by_operator"] is True
    assert [e["event"] for e in logs if e.get("user") == "admin-api"] == ["lane_paused"] * 2
    lanes = (await client.get("/admin/lanes", headers=AUTH)).json()["lanes"]
    assert {(lane["tenant"], lane["paused"]) for lane in lanes} == {
        ("acme", True),
        ("eightco", False),
    }
    for _ in range(2):
        resumed = await client.post("/admin/lanes/acme/nice-cxone/resume", headers=AUTH)
        assert resumed.status_code == 200
        assert resumed.json()["paused"] is False


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/admin/lanes/globex/nice-cxone/pause", 404),
        ("/admin/lanes/acme/8x8/pause", 404),
        ("/admin/lanes/acme/avaya/resume", 404),
        ("/admin/lanes/ac%24me/nice-cxone/pause", 422),
    ],
)
async def test_an_unknown_lane_is_404(client: httpx.AsyncClient, path: str, status: int) -> None:
    response = await client.post(path, headers=AUTH)
    assert response.status_code == status
    if status == 404:
        assert "no lane for tenant" in response.json()["detail"]


async def test_lanes_before_the_pipeline_starts_answer_503() -> None:
    parts = admin_parts(lanes_running=False)
    async for client in _client(parts.app):
        for method, path in (
            ("GET", "/admin/lanes"),
            ("POST", "/admin/lanes/acme/nice-cxone/pause"),
        ):
            response = await client.request(method, path, headers=AUTH)
            assert response.status_code == 503
            assert "not running yet" in response.json()["detail"]


# -- configuration ------------------------------------------------------------------------------


async def test_config_shows_effective_settings_and_tenants_without_any_secret(
    parts: Parts, client: httpx.AsyncClient
) -> None:
    response = await client.get("/admin/config", headers=AUTH)
    assert response.status_code == 200
    for secret in {*parts.secret_values(), *SECRETS.values(), TOKEN}:
        assert secret not in response.text, secret
    body = response.json()
    assert body["settings"]["admin_token"] == "[redacted]"
    assert body["settings"]["kafka_sasl_password"] == "[redacted]"
    assert body["settings"]["kafka_sasl_username"] == "enricher"
    assert body["settings"]["retry_tiers"] == [30.0, 300.0, 1800.0]
    acme = body["tenants"]["acme"]
    assert acme["platform"] == "nice-cxone"
    assert acme["nice-cxone"]["client_secret"] == "[redacted]"
    assert acme["nice-cxone"]["client_id"] == "enricher"
    assert acme["fields"]["CrmAccount"]["from"] == "crm_account"
    assert body["tenants"]["eightco"]["8x8"]["action_token"] == "[redacted]"
