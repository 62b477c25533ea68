"""Liveness as a progress watchdog: a hang fails it, an outage of what the service waits on
does not."""

from __future__ import annotations

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
