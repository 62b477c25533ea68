"""The same scenarios against every platform: what the service promises whichever vendor a
tenant writes to.

- **Order.** The vendor never takes an older revision after a newer one, and ends with the
  newest value of every field, whatever order the events arrived in.
- **Write windows.** An after-close platform gets nothing before the close and everything
  after it; a live platform gets analytics as they come.
- **Refusals.** A vendor's refusal for good ends in the dead-letter topic with the platform's
  reason, after one call.
- **Retries.** A vendor's passing failure is retried until the write lands.
- **Retry-After.** A vendor's ``Retry-After`` is waited out before the next call.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from service.http_server import AppServer
from tests.conformance.platforms import PLATFORMS, Platform
from tests.integration.conftest import wait_for
from tests.unit.factories import analytics_json, closed_json

pytestmark = pytest.mark.integration


@dataclass
class Vendor:
    """One platform's simulator, serving, and what the scenarios ask of it."""

    platform: Platform
    url: str
    control: httpx.AsyncClient

    def tenants_yaml(self) -> str:
        block = "".join(
            f"      {line}\n" for line in self.platform.block(self.url).strip().splitlines()
        )
        sentiment, account = self.platform.names
        return (
            f"tenants:\n  acme:\n    platform: {self.platform.platform_id}\n"
            f"    {self.platform.platform_id}:\n{block}"
            "    delivery: {max_attempts: 4, timeout: 5s}\n"
            "    fields:\n"
            f"      {sentiment}: {{from: sentiment.label}}\n"
            f"      {account}: {{from: crm_account}}\n"
        )

    def expect(self, sentiment: str | None, account: str | None) -> dict[str, str]:
        names = self.platform.names
        return {n: v for n, v in zip(names, (sentiment, account), strict=True) if v is not None}

    async def stored(self, ref: dict[str, str]) -> dict[str, str]:
        return {k: str(v) for k, v in (await self.platform.stored(self.control, ref)).items()}

    async def writes(self, interaction: str) -> list[dict[str, Any]]:
        """Every write call for ``interaction`` the simulator saw, in order, told apart from
        token, discovery and session calls by the ``Idempotency-Key`` every adapter sends."""
        log: list[dict[str, Any]] = (await self.control.get("/_sim/requests")).json()
        prefix = f"acme:{interaction}:"
        return [r for r in log if r["headers"].get("idempotency-key", "").startswith(prefix)]

    async def fault(self, **rule: Any) -> None:
        rule = {
            "method": self.platform.write_method,
            "path_prefix": self.platform.write_prefix,
        } | rule
        (await self.control.post("/_sim/faults", json=rule)).raise_for_status()


@pytest.fixture(params=PLATFORMS, ids=lambda p: p.name)
async def vendor(request: pytest.FixtureRequest) -> AsyncIterator[Vendor]:
    platform: Platform = request.param
    async with (
        AppServer(platform.app()) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as control,
    ):
        yield Vendor(platform, server.url, control)


def close(interaction: str, ref: dict[str, str], account: str, at: str) -> dict[str, Any]:
    return closed_json(
        event_id=str(uuid.uuid4()),
        interaction_id=interaction,
        ref=ref,
        occurred_at=at,
        data={"crm_account": account},
    )


def analytics(interaction: str, ref: dict[str, str], label: str, at: str) -> dict[str, Any]:
    return analytics_json(
        event_id=str(uuid.uuid4()),
        interaction_id=interaction,
        ref=ref,
        channel="voice",
        occurred_at=at,
        data={"sentiment": {"label": label}},
    )


def revision(write: dict[str, Any]) -> int:
    return int(write["headers"]["idempotency-key"].rsplit(":", 1)[1])


def accepted(writes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [w for w in writes if w["status"] < 300]


def at(write: dict[str, Any]) -> float:
    return datetime.fromisoformat(write["time"].replace("Z", "+00:00")).timestamp()


def name() -> str:
    return f"i-{uuid.uuid4().hex[:12]}"


async def start(vendor: Vendor, run_service: Any) -> Any:
    return run_service(tenants_yaml=vendor.tenants_yaml(), environ=dict(vendor.platform.environ))


async def test_the_vendor_ends_with_the_newest_values_and_never_goes_back(
    vendor: Vendor, run_service: Any
) -> None:
    interaction = name()
    ref = vendor.platform.ref(interaction)
    await vendor.platform.prepare(vendor.control, ref)
    events = [
        ("closed", close(interaction, ref, "A-1", "2026-11-20T10:15:00Z")),
        ("analytics", analytics(interaction, ref, "positive", "2026-11-20T10:16:00Z")),
        ("analytics", analytics(interaction, ref, "negative", "2026-11-20T10:18:00Z")),
        ("closed", close(interaction, ref, "A-2", "2026-11-20T10:19:00Z")),
        ("analytics", analytics(interaction, ref, "neutral", "2026-11-20T10:17:00Z")),
        ("closed", close(interaction, ref, "A-0", "2026-11-20T10:14:00Z")),
    ]
    async with await start(vendor, run_service) as running:
        for topic, event in events:
            await (running.closed if topic == "closed" else running.analytics)(event)
        newest = vendor.expect("negative", "A-2")

        async def settled() -> bool:
            return await vendor.stored(ref) == newest

        await wait_for(settled, 30, f"the newest values at {vendor.platform.name}")
        assert await running.dead_letters() == []
    revisions = [revision(w) for w in accepted(await vendor.writes(interaction))]
    assert revisions == sorted(set(revisions)), "a write went back to an older revision"
    assert await vendor.stored(ref) == newest


async def test_the_write_window(vendor: Vendor, run_service: Any) -> None:
    interaction = name()
    ref = vendor.platform.ref(interaction)
    await vendor.platform.prepare(vendor.control, ref)
    async with await start(vendor, run_service) as running:
        await running.analytics(analytics(interaction, ref, "positive", "2026-11-20T10:16:00Z"))
        if vendor.platform.window == "live":

            async def written_live() -> bool:
                return await vendor.stored(ref) == vendor.expect("positive", None)

            await wait_for(written_live, 20, "the analytics written while the call is live")
        else:

            async def held() -> bool:
                labels = {"tenant": "acme", "platform": vendor.platform.platform_id}
                return bool(running.metric("enricher_held_total", **labels) >= 1)

            await wait_for(held, 20, "the analytics held for the close")
            assert await vendor.writes(interaction) == []
            assert await vendor.stored(ref) == {}
        await running.closed(close(interaction, ref, "A-1", "2026-11-20T10:15:00Z"))

        async def everything() -> bool:
            return await vendor.stored(ref) == vendor.expect("positive", "A-1")

        await wait_for(everything, 20, "every field after the close")


async def test_a_refusal_for_good_is_dead_lettered_after_one_call(
    vendor: Vendor, run_service: Any
) -> None:
    interaction = name()
    ref = vendor.platform.ref(interaction)
    await vendor.platform.refuse(vendor.control, ref)
    async with await start(vendor, run_service) as running:
        await running.closed(close(interaction, ref, "A-1", "2026-11-20T10:15:00Z"))

        async def dead() -> bool:
            return len(await running.dead_letters()) == 1

        await wait_for(dead, 20, "the refused change in the dead-letter topic")
        [letter] = await running.dead_letters()
        assert letter.provenance["reason"] == vendor.platform.refused_reason
        assert letter.provenance["platform"] == vendor.platform.platform_id
    assert [w["status"] >= 400 for w in await vendor.writes(interaction)] == [True]


async def test_a_passing_failure_is_retried_until_the_write_lands(
    vendor: Vendor, run_service: Any
) -> None:
    interaction = name()
    ref = vendor.platform.ref(interaction)
    await vendor.platform.prepare(vendor.control, ref)
    await vendor.fault(status=503, times=2)
    async with await start(vendor, run_service) as running:
        await running.closed(close(interaction, ref, "A-1", "2026-11-20T10:15:00Z"))

        async def landed() -> bool:
            return await vendor.stored(ref) == vendor.expect(None, "A-1")

        await wait_for(landed, 30, "the write after two failures")
        assert await running.dead_letters() == []
    statuses = [w["status"] for w in await vendor.writes(interaction)]
    assert statuses[:2] == [503, 503]
    assert statuses[2] < 300


async def test_retry_after_is_waited_out_before_the_next_call(
    vendor: Vendor, run_service: Any
) -> None:
    interaction = name()
    ref = vendor.platform.ref(interaction)
    await vendor.platform.prepare(vendor.control, ref)
    await vendor.fault(status=429, retry_after="2", times=1)
    async with await start(vendor, run_service) as running:
        await running.closed(close(interaction, ref, "A-1", "2026-11-20T10:15:00Z"))

        async def landed() -> bool:
            return await vendor.stored(ref) == vendor.expect(None, "A-1")

        await wait_for(landed, 30, "the write after the pause")
    throttled, *later = await vendor.writes(interaction)
    assert throttled["status"] == 429
    assert later
    assert at(later[0]) - at(throttled) >= 1.9
