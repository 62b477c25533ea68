"""No secret and no privacy-flagged value leaks, through the real service.

The service runs in-process with known secrets (the NICE client secret and access key, the 8x8
action token, an admin token; Kafka without SASL) and two tenants: ``acme`` on the NICE
simulator and ``eight`` on the 8x8 simulator, whose ``_Account`` variable is ``privacy: true``.
Traffic covers successes, in-process retries, NICE 401s answered by a token renewal (an
injected 401 and a revoked token), vendor 4xx answers that go to the DLQ (one echoing secrets,
one echoing the private value, a 404 after the interaction ended, an 8x8 401 after the token was
rotated), bad input carrying private values, and the admin API with a right and a wrong token.

Logs are captured as the service renders them in production: ``configure_logging`` (what
``enricher run`` calls) with JSON lines at debug level, plus every stdlib record at INFO and up
(aiokafka, uvicorn, asyncio; the service leaves the stdlib root at WARNING).
Then every log line, every DLQ record (key, value, header names and values) and the admin
answers are searched for each secret (raw and as the Basic credential that carries it), for
anything shaped like an issued token, and for each private value. Each private value holds a
unique marker, so a leak is found whatever its encoding (JSON ``\\u`` escapes, repr).

The checks can fail: the test also asserts that each private value did reach the vendor, that
the vendor's error answers really echoed the secret and the private value (and were masked),
and that the logs are non-empty and record the DLQ writes.
"""

from __future__ import annotations

import base64
import logging
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import structlog

from service.delivery.dlq_reader import DeadLetterRecord
from service.http_server import AppServer
from service.logs import configure_logging
from service.platforms.eight_by_eight.simulator import create_app as create_eight_by_eight_app
from service.redaction import Redactor
from service.tenants import parse_tenants
from tests.fixtures.eight_by_eight import EIGHT_BY_EIGHT_TENANT_ID, EIGHT_BY_EIGHT_TOKEN
from tests.fixtures.eight_by_eight import Sim as EightByEightSim
from tests.fixtures.nice import Sim
from tests.integration.conftest import SECRETS, TENANTS_YAML, Running, service_settings, wait_for
from tests.unit.factories import closed_json

pytestmark = [pytest.mark.fault]

ADMIN_TOKEN = f"fault-admin-{uuid.uuid4().hex}"
NICE_CLIENT_ID = "enricher-dev"  # TENANTS_YAML's client_id
EIGHT_ENV = {"ACTION_TOKEN": EIGHT_BY_EIGHT_TOKEN}
JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.")


def eight_tenant(url: str, extra_fields: str = "") -> str:
    return (
        TENANTS_YAML
        + f"""  eight:
    platform: 8x8
    8x8:
      base_url: {url}
      tenant_id: {EIGHT_BY_EIGHT_TENANT_ID}
      action_token: ${{ACTION_TOKEN}}
    delivery: {{max_attempts: 3, timeout: 5s}}
    fields:
      _Sentiment: {{from: sentiment.label}}
      _Account: {{from: crm_account, privacy: true, display: true, display_name: Account}}
{extra_fields}"""
    )


def basic(user: str, secret: str) -> str:
    return base64.b64encode(f"{user}:{secret}".encode()).decode()


SECRET_VALUES = {
    **{f"nice {name}": value for name, value in SECRETS.items()},
    "nice client Basic credential": basic(NICE_CLIENT_ID, SECRETS["CLIENT_SECRET"]),
    "8x8 action token": EIGHT_BY_EIGHT_TOKEN,
    "8x8 Basic credential": basic(EIGHT_BY_EIGHT_TENANT_ID, EIGHT_BY_EIGHT_TOKEN),
    "admin token": ADMIN_TOKEN,
}


@dataclass(frozen=True)
class Private:
    """A privacy-flagged value with a marker of its own, found in any encoding."""

    label: str
    marker: str

    @property
    def value(self) -> str:
        # Non-ASCII on purpose: JSON log renderers escape it, so only the marker is sure to
        # survive every encoding unchanged.
        return f"Privé-Ünïcode {self.marker} kontø"


def private(label: str) -> Private:
    return Private(label, f"PRIV{uuid.uuid4().hex[:16].upper()}")


# -- capturing -----------------------------------------------------------------------------------


@pytest.fixture
def restore_structlog() -> Iterator[None]:
    """``configure_logging`` changes structlog for the whole process: put it back after."""
    saved = structlog.get_config()
    try:
        yield
    finally:
        structlog.configure(**saved)


def log_like_enricher_run(redactor: Redactor) -> None:
    """What ``enricher run`` does (service/cli.py): JSON lines on stderr, every level."""
    configure_logging("json", "debug", redactor)


@pytest.fixture
async def eight_sim() -> AsyncIterator[EightByEightSim]:
    async with (
        AppServer(create_eight_by_eight_app()) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as control,
    ):
        yield EightByEightSim(server.url, control)


@dataclass
class Surface:
    """Text that left the service for people to read: where it came from, and the bytes."""

    where: str
    data: bytes


def dlq_surfaces(letters: list[DeadLetterRecord]) -> list[Surface]:
    surfaces = []
    for n, letter in enumerate(letters):
        name = f"DLQ record {n} ({letter.provenance.get('reason')})"
        surfaces.append(Surface(f"{name} key", letter.key or b""))
        surfaces.append(Surface(f"{name} value", letter.value or b""))
        for header, value in letter.headers:
            surfaces.append(Surface(f"{name} header {header}", header.encode() + b"=" + value))
    return surfaces


def leaks(surfaces: list[Surface], privates: list[Private]) -> list[str]:
    found = []
    for surface in surfaces:
        for label, secret in SECRET_VALUES.items():
            if secret.encode() in surface.data:
                found.append(f"{label} in {surface.where}")
        match = JWT.search(surface.data)
        if match:
            found.append(f"a token ({match.group()[:12]!r}...) in {surface.where}")
        for value in privates:
            if value.marker.encode() in surface.data:
                found.append(f"private value ({value.label}) in {surface.where}")
    return found


# -- driving traffic -----------------------------------------------------------------------------


def closed_event(
    tenant: str,
    interaction: str,
    ref: dict[str, str],
    at: str = "2026-11-20T10:15:00Z",
    **data: Any,
) -> dict[str, Any]:
    return closed_json(
        event_id=str(uuid.uuid4()),
        tenant=tenant,
        interaction_id=interaction,
        occurred_at=at,
        ref=ref,
        data=data,
    )


async def nice_holds(running: Running, contact: str, expected: dict[str, Any]) -> None:
    async def holds() -> bool:
        return await running.sim.fields(contact) == expected

    await wait_for(holds, 20, f"NICE contact {contact} to hold {expected}")


async def eight_holds(sim: EightByEightSim, guid: str, expected: dict[str, str]) -> None:
    async def holds() -> bool:
        return await sim.variables(guid) == expected

    await wait_for(holds, 20, f"8x8 interaction {guid} to hold {expected}")


def tenant_and_reason(letter: DeadLetterRecord) -> tuple[str | None, str | None]:
    return letter.provenance.get("tenant"), letter.provenance.get("reason")


async def dead_letters_settled(
    running: Running, expected: set[tuple[str, str]]
) -> list[DeadLetterRecord]:
    """The DLQ once it holds a record for each (tenant, reason) in ``expected``."""
    letters: list[DeadLetterRecord] = []

    async def settled() -> bool:
        nonlocal letters
        letters = await running.dead_letters()
        return expected <= {tenant_and_reason(r) for r in letters}

    await wait_for(settled, 30, f"dead letters for {sorted(expected)}")
    return letters


async def drive_nice(running: Running) -> None:
    """acme on NICE: a success, a retried 500, an injected 401 and a revoked token (both renewed),
    and a 400 whose answer echoes secrets (to the DLQ)."""
    sim: Sim = running.sim
    for contact in ("9101", "9102", "9103", "9104", "9105"):
        await sim.contact(contact)
    await running.closed(closed_event("acme", "n-ok", {"contact_id": "9101"}, crm_account="A-1"))
    await nice_holds(running, "9101", {"CrmAccount": "A-1"})
    await sim.fault(path_prefix="/business-data-manager", status=500, times=2)
    await running.closed(closed_event("acme", "n-retry", {"contact_id": "9102"}, crm_account="A-2"))
    await nice_holds(running, "9102", {"CrmAccount": "A-2"})
    await sim.fault(path_prefix="/business-data-manager", status=401, times=1)
    await running.closed(closed_event("acme", "n-401", {"contact_id": "9103"}, crm_account="A-3"))
    await nice_holds(running, "9103", {"CrmAccount": "A-3"})
    (await sim.control.post("/_sim/tokens/expire")).raise_for_status()
    await running.closed(
        closed_event("acme", "n-expired", {"contact_id": "9104"}, crm_account="A-4")
    )
    await nice_holds(running, "9104", {"CrmAccount": "A-4"})
    echo = (
        f"invalid request from client_secret {SECRETS['CLIENT_SECRET']} with key "
        f"{SECRETS['KEY_ID']}/{SECRETS['KEY_SECRET']}, Authorization: Basic "
        f"{SECRET_VALUES['nice client Basic credential']}"
    )
    await sim.fault(
        path_prefix="/business-data-manager",
        status=400,
        times=1,
        body={"error": "invalid_request", "message": echo},
    )
    await running.closed(closed_event("acme", "n-400", {"contact_id": "9105"}, crm_account="A-5"))
    await running.send(running.settings.topic_closed, b"acme:n-garbage", b"{garbage")


async def drive_eight(running: Running, sim: EightByEightSim, values: dict[str, Private]) -> None:
    """eight on 8x8 with ``_Account`` private: a success, a retried 500, a 400 echoing the
    private value, a 404 once the interaction ended, a 401 after a token rotation, and bad
    input carrying private values."""
    for guid in ("g-ok", "g-retry", "g-400", "g-end", "g-401"):
        await sim.interaction(guid)
    ok = values["delivered"].value
    await running.closed(closed_event("eight", "e-ok", {"guid": "g-ok"}, crm_account=ok))
    await eight_holds(sim, "g-ok", {"_Account": ok})

    await sim.fault(path_prefix="/api/v1/interaction/data", status=500, times=1)
    retried = values["retried"].value
    await running.closed(closed_event("eight", "e-retry", {"guid": "g-retry"}, crm_account=retried))
    await eight_holds(sim, "g-retry", {"_Account": retried})

    rejected = values["rejected by 8x8"].value
    await sim.fault(
        path_prefix="/api/v1/interaction/data",
        status=400,
        times=1,
        body={
            "status": "error",
            "code": 400,
            "message": f"Invalid value {rejected!r} for variable _Account ({rejected})",
        },
    )
    await running.closed(closed_event("eight", "e-400", {"guid": "g-400"}, crm_account=rejected))
    await dead_letters_settled(running, {("eight", "rejected")})  # the fault was used by e-400

    first = values["before the end"].value
    await running.closed(closed_event("eight", "e-end", {"guid": "g-end"}, crm_account=first))
    await eight_holds(sim, "g-end", {"_Account": first})
    await sim.finish("g-end")
    late = values["after the end"].value
    await running.closed(
        closed_event("eight", "e-end", {"guid": "g-end"}, "2026-11-20T10:30:00Z", crm_account=late)
    )

    await dead_letters_settled(running, {("eight", "not_found")})  # before the rotation
    await sim.rotate_token()
    refused = values["refused token"].value
    await running.closed(closed_event("eight", "e-401", {"guid": "g-401"}, crm_account=refused))

    bad = values["bad input"].value
    invalid = closed_event("eight", "e-bad", {"guid": "g-bad"}, crm_account=bad)
    invalid["channel"] = "fax"
    await running.closed(invalid)
    misfiled = closed_event(
        "eight", "e-key", {"guid": "g-key"}, crm_account=values["wrong key"].value
    )
    await running.send(running.settings.topic_closed, b"eight:someone-else", misfiled)
    padded = closed_event(
        "eight", "e-big", {"guid": "g-big"}, crm_account=values["too large"].value
    )
    padded["data"]["x_pad"] = "p" * 70_000
    await running.send(running.settings.topic_closed, b"eight:e-big", padded)


async def drive_admin(running: Running) -> list[Surface]:
    """The admin API with the right token, a wrong one and none; its answers are surfaces too."""
    right = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    answers = [
        await running.http.get("/admin/config", headers=right),
        await running.http.get("/admin/dlq", headers=right),
        await running.http.get("/admin/interactions/eight/e-ok", headers=right),
        await running.http.get("/admin/lanes", headers=right),
        await running.http.get("/admin/config", headers={"Authorization": "Bearer not-the-token"}),
        await running.http.get("/admin/config"),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 401, 401], [
        (a.request.url.path, a.status_code, a.text[:200]) for a in answers
    ]
    return [
        Surface(f"admin answer {a.request.url.path} ({a.status_code})", a.content) for a in answers
    ]


# -- the tests ----------------------------------------------------------------------------------


DEAD_LETTERS = {
    ("acme", "rejected"),
    ("acme", "not_json"),
    ("eight", "rejected"),
    ("eight", "not_found"),
    ("eight", "auth_failed"),
    ("eight", "invalid_event"),
    ("eight", "key_mismatch"),
    ("eight", "too_large"),
}


async def test_no_secret_or_private_value_reaches_the_logs_the_dlq_or_the_admin_api(
    run_service: Callable[..., Any],
    sim: Sim,
    eight_sim: EightByEightSim,
    kafka_bootstrap: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    restore_structlog: None,
) -> None:
    # INFO and up: the service leaves the stdlib root at WARNING, and aiokafka's DEBUG records
    # dump every record produced, this test's own input events included.
    caplog.set_level(logging.INFO)
    yaml = eight_tenant(eight_sim.url)
    settings = service_settings(kafka_bootstrap, tmp_path, admin_token=ADMIN_TOKEN)
    tenants = parse_tenants(yaml, environ={"ISSUER": sim.url, **SECRETS, **EIGHT_ENV})
    # The redactor Service.__init__ builds (service/runtime.py), installed before the service
    # starts so its first line is rendered as in production too.
    log_like_enricher_run(Redactor([*settings.secret_values(), *tenants.secret_values()]))
    values = {
        label: private(label)
        for label in (
            "delivered",
            "retried",
            "rejected by 8x8",
            "before the end",
            "after the end",
            "refused token",
            "bad input",
            "wrong key",
            "too large",
        )
    }
    privates = list(values.values())

    async with run_service(settings=settings, tenants_yaml=yaml, environ=EIGHT_ENV) as running:
        await drive_nice(running)
        await drive_eight(running, eight_sim, values)
        letters = await dead_letters_settled(running, DEAD_LETTERS)
        admin = await drive_admin(running)
        token_requests = await sim.requests("/auth/token")
        eight_posts = await eight_sim.posts()
        stored = {g: await eight_sim.variables(g) for g in ("g-ok", "g-retry", "g-end")}
        assert not running.task.done()

    captured = capfd.readouterr()
    stdlib = "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
    )
    structured = [line for line in captured.err.splitlines() if line.startswith("{")]
    events = [orjson.loads(line) for line in structured]
    surfaces = [
        Surface("stderr", captured.err.encode()),
        Surface("stdout", captured.out.encode()),
        Surface("stdlib logging records", stdlib.encode()),
        *dlq_surfaces(letters),
        *admin,
    ]
    print(
        f"\nlog lines: {len(structured)} structlog, {len(caplog.records)} stdlib; "
        f"DLQ records: {len(letters)}; surfaces searched: {len(surfaces)}; "
        f"needles: {len(SECRET_VALUES)} secrets, {len(privates)} private values, token shape; "
        f"NICE token requests: {len(token_requests)}; structlog events: "
        f"{dict(Counter(e['event'] for e in events))}"
    )

    # The test can fail: the private values really went to the vendor, the DLQ writes happened
    # and were logged.
    assert stored["g-ok"]["_Account"] == values["delivered"].value
    assert stored["g-retry"]["_Account"] == values["retried"].value
    assert stored["g-end"]["_Account"] == values["before the end"].value
    sent = orjson.dumps([p["json"] for p in eight_posts]).decode()
    for label in ("rejected by 8x8", "after the end"):
        assert values[label].marker in sent, f"the {label} value never reached 8x8"
    assert len(token_requests) >= 3, "the NICE token was not renewed after the 401s"
    assert sorted(tenant_and_reason(r) for r in letters) == sorted(DEAD_LETTERS)
    assert events, "no structured log line was captured"
    logged = Counter(e["event"] for e in events)
    assert {"starting", "dead_lettered", "bad_input", "admin_token_refused"} <= set(logged)
    assert logged["dead_lettered"] >= 4

    found = leaks(surfaces, privates)
    assert found == [], "\n".join(found)

    # ... and they are clean because they were masked, not because nothing came back.
    by_reason = {tenant_and_reason(r): r for r in letters}
    assert "[redacted]" in by_reason["acme", "rejected"].provenance["response_excerpt"]
    assert "[private]" in by_reason["eight", "rejected"].provenance["response_excerpt"]
    for reason in ("rejected", "not_found", "auth_failed", "invalid_event", "key_mismatch"):
        letter = by_reason["eight", reason]
        assert letter.provenance["masked"] == "crm_account", reason
        assert b'"crm_account":"***"' in (letter.value or b""), reason
    assert by_reason["eight", "too_large"].provenance["masked"] == "crm_account"


async def test_a_private_value_that_fails_type_coercion_stays_out_of_the_dlq(
    run_service: Callable[..., Any], eight_sim: EightByEightSim
) -> None:
    pin = private("uncoercible")
    yaml = eight_tenant(eight_sim.url, "      _Pin: {from: pin, type: number, privacy: true}\n")
    async with run_service(tenants_yaml=yaml, environ=EIGHT_ENV) as running:
        await eight_sim.interaction("g-pin")
        await running.closed(
            closed_event("eight", "e-pin", {"guid": "g-pin"}, crm_account="A-1", pin=pin.value)
        )
        [letter] = await dead_letters_settled(running, {("eight", "unmappable_field")})
        assert letter.provenance["reason"] == "unmappable_field"
        assert "pin" in letter.provenance["masked"].split(",")  # the record value is masked ...
        found = leaks(dlq_surfaces([letter]), [pin])
        assert found == [], "\n".join(found)  # ... and so must every header be
