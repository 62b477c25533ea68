"""The delivery loop's decisions, driven by a scripted adapter (no IO)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from service.delivery.deliverer import Deliverer, ReportKind, RetryPolicy
from service.ledger.memory import MemoryLedger
from service.metrics import Metrics
from service.platforms.base import Delivery, WriteWindow
from service.platforms.outcomes import Outcome, OutcomeKind
from service.tenants import Tenant
from tests.unit.factories import T0, analytics, closed

NOW = T0 + timedelta(minutes=3)
TENANT = Tenant.model_validate(
    {
        "platform": "nice-cxone",
        "nice-cxone": {
            "issuer": "https://x",
            "client_id": "c",
            "client_secret": "s",
            "access_key_id": "k",
            "access_key_secret": "ks",
        },
        "delivery": {"max_attempts": 3},
        "fields": {"Crm": {"from": "crm"}, "Score": {"from": "score", "type": "number"}},
    }
)


class ScriptedAdapter:
    platform = "nice-cxone"
    write_window: WriteWindow = "after_close"

    def __init__(self, outcomes: Iterable[Outcome]) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[Delivery] = []

    async def send(self, delivery: Delivery) -> Outcome:
        self.sent.append(delivery)
        return self.outcomes.pop(0)

    async def close(self) -> None:
        return None


async def setup(*outcomes: Outcome) -> tuple[Deliverer, ScriptedAdapter, MemoryLedger, list[float]]:
    ledger = MemoryLedger()
    adapter = ScriptedAdapter(outcomes)
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    deliverer = Deliverer(
        ledger,
        {"acme": TENANT},
        {"acme": adapter},
        Metrics(),
        RetryPolicy(0.5, 30),
        sleep=sleep,
        wall_clock=lambda: NOW,
    )
    return deliverer, adapter, ledger, sleeps


OK = Outcome(OutcomeKind.DELIVERED, "delivered", 204)
FAIL = Outcome(OutcomeKind.RETRY, "http_500", 500)


async def test_held_until_close_then_delivered_once() -> None:
    deliverer, adapter, ledger, _ = await setup(OK)
    await ledger.merge(analytics(fields={"score": "0.5"}), NOW, timedelta(days=1))
    assert (await deliverer.deliver("acme", "call-1")).kind is ReportKind.HELD
    await ledger.merge(closed(fields={"crm": "A-1"}), NOW, timedelta(days=1))
    report = await deliverer.deliver("acme", "call-1")
    assert report.kind is ReportKind.DELIVERED
    assert adapter.sent[0].values == {"Crm": "A-1", "Score": 0.5}
    assert (await deliverer.deliver("acme", "call-1")).kind is ReportKind.UP_TO_DATE
    assert len(adapter.sent) == 1


async def test_transient_failures_retry_with_backoff_then_succeed() -> None:
    deliverer, _adapter, ledger, sleeps = await setup(FAIL, FAIL, OK)
    await ledger.merge(closed(fields={"crm": "A-1"}), NOW, timedelta(days=1))
    report = await deliverer.deliver("acme", "call-1")
    assert (report.kind, report.attempts) == (ReportKind.DELIVERED, 3)
    assert len(sleeps) == 2
    assert report.first_failure_at == NOW


async def test_retries_are_bounded() -> None:
    deliverer, _, ledger, _ = await setup(FAIL, FAIL, FAIL)
    await ledger.merge(closed(fields={"crm": "A-1"}), NOW, timedelta(days=1))
    report = await deliverer.deliver("acme", "call-1")
    assert (report.kind, report.attempts, report.outcome) == (ReportKind.DEAD, 3, FAIL)
    entry = await ledger.get("acme", "call-1", NOW)
    assert entry is not None
    assert entry.pending_for("nice-cxone")


async def test_permanent_outcome_is_not_retried() -> None:
    rejected = Outcome(OutcomeKind.PERMANENT, "rejected", 400)
    deliverer, _adapter, ledger, sleeps = await setup(rejected)
    await ledger.merge(closed(fields={"crm": "A-1"}), NOW, timedelta(days=1))
    report = await deliverer.deliver("acme", "call-1")
    assert (report.kind, report.attempts) == (ReportKind.DEAD, 1)
    assert sleeps == []


async def test_retry_after_is_honoured_and_a_too_long_one_is_not_waited_out() -> None:
    deliverer, _, ledger, sleeps = await setup(
        Outcome(OutcomeKind.RETRY, "http_429", 429, retry_after=7.0), OK
    )
    await ledger.merge(closed(fields={"crm": "A-1"}), NOW, timedelta(days=1))
    await deliverer.deliver("acme", "call-1")
    assert sleeps[0] >= 7.0

    deliverer, _, ledger, sleeps = await setup(
        Outcome(OutcomeKind.RETRY, "http_429", 429, retry_after=3600.0)
    )
    await ledger.merge(closed(fields={"crm": "A-1"}), NOW, timedelta(days=1))
    report = await deliverer.deliver("acme", "call-1")
    assert report.kind is ReportKind.DEAD
    assert sleeps == []


async def test_a_retry_sends_the_newest_snapshot() -> None:
    deliverer, adapter, ledger, _ = await setup(FAIL, OK)
    await ledger.merge(closed(fields={"crm": "A-1"}), NOW, timedelta(days=1))

    async def sleep_and_change(_: float) -> None:
        await ledger.merge(analytics(fields={"crm": "A-2"}), NOW, timedelta(days=1))

    deliverer._sleep = sleep_and_change
    report = await deliverer.deliver("acme", "call-1")
    assert [d.values["Crm"] for d in adapter.sent] == ["A-1", "A-2"]
    assert report.revision == 2


async def test_unmappable_fields_are_reported_and_the_rest_delivered() -> None:
    deliverer, adapter, ledger, _ = await setup(OK)
    await ledger.merge(closed(fields={"crm": "A-1", "score": "high"}), NOW, timedelta(days=1))
    report = await deliverer.deliver("acme", "call-1")
    assert report.kind is ReportKind.DELIVERED
    assert adapter.sent[0].values == {"Crm": "A-1"}
    assert [p.target for p in report.problems] == ["Score"]
