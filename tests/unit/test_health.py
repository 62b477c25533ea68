"""Liveness as a progress watchdog: a hang fails it, an outage of what the service waits on
does not. Readiness as a bounded answer: a dependency that never answers costs the probe a
known time, and the body says which one and where."""

from __future__ import annotations

import asyncio
import time

from service.health import Health


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def started(**kwargs: object) -> tuple[Health, Clock]:
    clock = Clock()
    health = Health(stall_after=120, clock=clock, **kwargs)  # type: ignore[arg-type]
    health.start()
    return health, clock


def test_an_idle_consumer_that_keeps_cycling_is_live() -> None:
    health, clock = started()
    clock.now += 600
    health.beat()
    assert health.live()[0]


def test_a_loop_that_stops_cycling_is_not_live() -> None:
    health, clock = started()
    clock.now += 121
    ok, body = health.live()
    assert not ok
    assert body["status"] == "stalled"


def test_work_in_hand_that_never_moves_is_stuck_even_while_the_loop_cycles() -> None:
    health, clock = started(in_flight=lambda: 7)
    clock.now += 121
    health.beat()  # the consumer loop waits for capacity and keeps beating
    ok, body = health.live()
    assert not ok
    assert body == {"status": "stuck", "in_flight": 7, "seconds_without_progress": 121}


def test_vendor_calls_ending_count_as_progress_so_a_dead_vendor_is_not_a_hang() -> None:
    last_call = 1000.0
    health, clock = started(in_flight=lambda: 7, last_activity=lambda: last_call)
    clock.now += 110
    last_call = clock.now  # a call timed out: the lane moved on
    clock.now += 100
    health.beat()
    assert health.live()[0]


def test_settled_records_count_as_progress() -> None:
    health, clock = started(in_flight=lambda: 3)
    clock.now += 100
    health.progressed()
    clock.now += 100
    health.beat()
    assert health.live()[0]


def test_a_ledger_outage_is_waited_out_not_restarted() -> None:
    outage = True
    health, clock = started(in_flight=lambda: 3, waiting_on_store=lambda: outage)
    clock.now += 300
    health.beat()
    assert health.live()[0]
    outage = False
    assert not health.live()[0]


def test_stopping_is_not_a_hang() -> None:
    health, clock = started(in_flight=lambda: 3)
    health.stopping = True
    clock.now += 300
    assert health.live()[0]


# -- readiness answers within a bounded time, whatever a dependency does -----------------------


async def _never_answers() -> None:
    await asyncio.Event().wait()


async def _refuses() -> None:
    raise ConnectionRefusedError("connection refused")


async def test_a_check_that_never_answers_is_reported_with_its_address_and_bound() -> None:
    health, _ = started(
        ledger_ping=_never_answers,
        ledger_address="redis://:***@10.0.0.7:6379/0",
        check_timeout=0.05,
    )
    ok, body = await asyncio.wait_for(health.ready(), 2)
    assert not ok
    assert body["checks"]["ledger"] == (  # type: ignore[index]
        "no answer from redis://:***@10.0.0.7:6379/0 within 0.05 s"
    )
    assert body["checks"]["broker"] is True  # type: ignore[index]


async def test_checks_run_side_by_side_so_two_silent_ones_cost_one_bound() -> None:
    health, _ = started(
        ledger_ping=_never_answers,
        broker_ping=_never_answers,
        ledger_address="sqlite:///data/ledger.sqlite3",
        broker_address="kafka-0:9092,kafka-1:9092",
        check_timeout=0.2,
    )
    began = time.monotonic()
    ok, body = await asyncio.wait_for(health.ready(), 2)
    assert time.monotonic() - began < 0.35
    assert not ok
    assert body["checks"] == {
        "started": True,
        "group_joined": False,
        "not_shutting_down": True,
        "healthy": True,
        "ledger": "no answer from sqlite:///data/ledger.sqlite3 within 0.2 s",
        "broker": "no answer from kafka-0:9092,kafka-1:9092 within 0.2 s",
    }


async def test_a_check_that_fails_says_how_and_where() -> None:
    health, _ = started(broker_ping=_refuses, broker_address="kafka-0:9092", check_timeout=0.05)
    health.joined = True
    ok, body = await health.ready()
    assert not ok
    assert body["checks"]["broker"] == (  # type: ignore[index]
        "unreachable: ConnectionRefusedError from kafka-0:9092"
    )
    assert body["checks"]["ledger"] is True  # type: ignore[index]


async def test_all_checks_answering_is_ready() -> None:
    async def answers() -> None:
        return None

    health, _ = started(ledger_ping=answers, broker_ping=answers, check_timeout=0.05)
    health.joined = True
    assert await health.ready() == (
        True,
        {
            "status": "ready",
            "checks": {
                "started": True,
                "group_joined": True,
                "not_shutting_down": True,
                "healthy": True,
                "ledger": True,
                "broker": True,
            },
        },
    )
