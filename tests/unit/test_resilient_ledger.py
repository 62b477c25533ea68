"""The ledger wrapper waits out an unreachable store and nothing else."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import pytest
import structlog.testing
from redis.exceptions import ConnectionError as RedisConnectionError

from service.events import Event
from service.ledger.memory import MemoryLedger
from service.ledger.resilient import ResilientLedger, is_unavailable
from service.merge import MergeResult
from tests.unit.factories import T0, closed

NOW = T0 + timedelta(minutes=5)
WEEK = timedelta(days=7)


class Flaky(MemoryLedger):
    """Fails the first ``failures`` merges with ``error``, then behaves."""

    def __init__(self, failures: int, error: Exception) -> None:
        super().__init__()
        self.failures = failures
        self.error = error
        self.calls = 0

    async def merge(self, event: Event, now: datetime, retention: timedelta) -> MergeResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return await super().merge(event, now, retention)


async def test_an_outage_is_waited_out_and_reported_while_it_lasts() -> None:
    inner = Flaky(3, RedisConnectionError("Connection refused"))
    ticks = iter(range(100))
    ledger = ResilientLedger(inner, first_delay=0.001, max_delay=0.002, clock=lambda: next(ticks))
    result = await ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    assert result.changed
    assert inner.calls == 4
    assert ledger.outage_since is None


async def test_a_bug_is_not_retried() -> None:
    inner = Flaky(1, KeyError("doc"))
    ledger = ResilientLedger(inner, first_delay=0.001)
    with pytest.raises(KeyError):
        await ledger.merge(closed(), NOW, WEEK)
    assert inner.calls == 1


async def test_ping_is_not_retried_so_readiness_sees_the_outage() -> None:
    class Down(MemoryLedger):
        async def ping(self) -> None:
            raise RedisConnectionError("down")

    with pytest.raises(RedisConnectionError):
        await ResilientLedger(Down()).ping()


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (RedisConnectionError("x"), True),
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (sqlite3.OperationalError("database is locked"), True),
        (sqlite3.OperationalError("no such table: entries"), False),
        (ValueError("x"), False),
    ],
)
def test_what_counts_as_unavailable(exc: BaseException, expected: bool) -> None:
    assert is_unavailable(exc) is expected


async def test_a_check_logs_each_change_of_reachability_once_with_the_address() -> None:
    class Switch(MemoryLedger):
        up = False

        async def ping(self) -> None:
            if not self.up:
                raise RedisConnectionError("down")

    inner = Switch()
    ledger = ResilientLedger(inner, address="redis://:***@cache:6379/0")
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            with pytest.raises(RedisConnectionError):
                await ledger.check(timeout=1)
        inner.up = True
        await ledger.check(timeout=1)
        await ledger.check(timeout=1)
    assert [(e["event"], e["log_level"], e["address"]) for e in logs] == [
        ("ledger_unavailable", "warning", "redis://:***@cache:6379/0"),
        ("ledger_recovered", "info", "redis://:***@cache:6379/0"),
    ]
