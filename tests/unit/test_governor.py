"""The governor on a frozen clock: what a lane is told before a call, and what each kind of
answer does to the next ones."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from service.delivery.attempt import Attempt, AttemptKind
from service.delivery.governor import Clearance, Governor, GovernorConfig, governor_for
from service.delivery.limits import BreakerState
from service.platforms.outcomes import Outcome, OutcomeKind
from service.tenants import Tenant
from tests.unit.test_lanes import tenant

CONFIG = GovernorConfig(
    breaker_failures=2, breaker_cool_down=5.0, initial_limit=4, max_pause=300.0, wait_out=30.0
)
T = 1000.0

DELIVERED = Attempt(
    AttemptKind.DELIVERED, 1, Outcome(OutcomeKind.DELIVERED, "delivered", 204), True
)
HELD = Attempt(AttemptKind.HELD, 1)


def failed(outcome: Outcome) -> Attempt:
    return Attempt(AttemptKind.FAILED, 1, outcome, called=True)


UNAVAILABLE = failed(Outcome(OutcomeKind.RETRY, "http_503", 503))
REJECTED = failed(Outcome(OutcomeKind.PERMANENT, "rejected", 400))
STILL_CONNECTED = failed(Outcome(OutcomeKind.RETRY, "contact_active"))  # refused before a call


def slow_down(seconds: float) -> Attempt:
    return failed(Outcome(OutcomeKind.RETRY, "http_429", 429, retry_after=seconds))


def governor(**limits: int) -> Governor:
    settings = {"rate_per_second": 1000, "max_concurrency": 8} | limits
    return governor_for(tenant(limits=settings), CONFIG, T)


def eight_by_eight() -> Tenant:
    return tenant(
        platform="8x8",
        **{
            "nice-cxone": None,
            "8x8": {"base_url": "https://vcc-na1.8x8.com", "tenant_id": "t", "action_token": "x"},
        },
        fields={"_Crm": {"from": "crm"}},
    )


Told = Callable[[Governor], None]


def nothing(g: Governor) -> None:
    return None


def operator_pause(g: Governor) -> None:
    g.pause()


def paused_by(seconds: float) -> Told:
    def tell(g: Governor) -> None:
        g.observe(T, slow_down(seconds))

    return tell


def failing(times: int) -> Told:
    def tell(g: Governor) -> None:
        for _ in range(times):
            g.observe(T, UNAVAILABLE)

    return tell


def probing(g: Governor) -> None:
    failing(2)(g)
    g.take(T + 5)


def both(*told: Told) -> Told:
    def tell(g: Governor) -> None:
        for one in told:
            one(g)

    return tell


CLEARANCE = [
    ("a healthy vendor may be called", nothing, T, Clearance.CALL),
    ("a short Retry-After is waited out", paused_by(10), T + 1, Clearance.WAIT),
    ("and ends on time", paused_by(10), T + 10, Clearance.CALL),
    ("a Retry-After beyond the first tier parks", paused_by(120), T + 1, Clearance.PARK_PAUSED),
    ("an operator's pause parks", operator_pause, T, Clearance.PARK_PAUSED),
    ("one failure is not an outage", failing(1), T, Clearance.CALL),
    ("a run of failures opens the breaker", failing(2), T + 1, Clearance.PARK_BREAKER),
    ("after the cool-down one probe may go", failing(2), T + 5, Clearance.CALL),
    (
        "while the probe is out nothing else goes",
        probing,
        T + 5,
        Clearance.PROBING,
    ),
    (
        "a pause parks before an open breaker",
        both(failing(2), paused_by(120)),
        T + 1,
        Clearance.PARK_PAUSED,
    ),
]


@pytest.mark.parametrize(
    ("told", "asked_at", "clearance"),
    [row[1:] for row in CLEARANCE],
    ids=[row[0] for row in CLEARANCE],
)
def test_may_the_lane_call_now(told: Told, asked_at: float, clearance: Clearance) -> None:
    g = governor()
    told(g)
    assert g.clearance(asked_at) is clearance


REFUSAL = [
    ("a healthy vendor refuses nothing", nothing, None),
    ("a short pause is waited out, not refused", paused_by(10), None),
    ("a long pause refuses", paused_by(120), "lane_paused"),
    ("an operator's pause refuses", operator_pause, "lane_paused"),
    ("an open breaker refuses", failing(2), "breaker_open"),
    (
        "an open breaker is named before a pause",
        both(failing(2), paused_by(120)),
        "breaker_open",
    ),
]


@pytest.mark.parametrize(
    ("told", "reason"), [row[1:] for row in REFUSAL], ids=[row[0] for row in REFUSAL]
)
def test_why_new_work_would_not_wait(told: Told, reason: str | None) -> None:
    g = governor()
    told(g)
    assert g.refusal(T + 1) == reason
    assert g.takes_work(T + 1) is (reason is None)


def test_the_platforms_documented_window_caps_the_configured_rate() -> None:
    """8x8 documents 100 requests a minute: whatever the tenant configures, the 101st call
    within a minute waits, and the lane code never names the platform."""
    g = governor_for(eight_by_eight(), CONFIG, T)
    assert g.rate == pytest.approx(100 / 60)
    assert [g.take(T) for _ in range(100)] == [0.0] * 100
    assert g.take(T) > 0


def test_an_unused_slot_comes_back_only_while_it_is_fresh() -> None:
    g = governor(rate_per_second=1)
    assert g.take(T) == 0
    g.unused(T + 0.5, taken_at=T)  # held: no request went out
    assert g.take(T + 0.5) == 0
    g.unused(T + 2.0, taken_at=T + 0.5)  # too late: a window may already count it
    assert g.take(T + 2.0) == 0  # refilled by time, not by the refund
    assert g.take(T + 2.0) > 0


def test_deliveries_grow_the_concurrency_limit_and_overload_shrinks_it() -> None:
    g = governor(max_concurrency=8)
    assert (g.limit, g.max_concurrency) == (4, 8)
    assert [g.take(T) for _ in range(3)] == [0.0] * 3
    g.ended(T)
    g.observe(T, DELIVERED)  # three were in flight: the limit is in use
    assert g.limit == 5
    g.ended(T)
    g.observe(T, DELIVERED)  # two of five: an idle lane does not earn a bigger limit
    assert g.limit == 5
    g.ended(T)
    g.observe(T, slow_down(1))
    assert g.limit == 3


def test_calls_that_stop_ending_make_a_stall_and_one_that_ends_clears_it() -> None:
    g = governor()
    assert not g.stalled(T + 100)  # nothing in flight, nothing to wait for
    assert g.take(T) == 0
    assert g.take(T + 1) == 0
    assert not g.stalled(T + g.stall_after)
    assert g.stalled(T + g.stall_after + 0.01)
    assert not g.takes_work(T + g.stall_after + 0.01)
    g.ended(T + 2)  # the vendor answers after all
    assert not g.stalled(T + 2 + g.stall_after)
    assert g.takes_work(T + 2 + g.stall_after)
    assert g.last_ended == T + 2


def test_the_concurrency_limit_bounds_calls_in_flight() -> None:
    g = governor()
    for _ in range(g.limit):
        assert g.has_room()
        g.take(T)
    assert not g.has_room()
    g.ended(T)
    assert g.has_room()


@pytest.mark.parametrize(
    ("attempt", "breaker"),
    [
        (DELIVERED, BreakerState.CLOSED),
        (REJECTED, BreakerState.CLOSED),
        (STILL_CONNECTED, BreakerState.CLOSED),
        (UNAVAILABLE, BreakerState.OPEN),
    ],
    ids=[
        "a delivered probe closes the breaker",
        "a rejected payload says nothing of the vendor and ends the probe",
        "a refusal before any request ends the probe",
        "a failed probe opens it again",
    ],
)
def test_what_a_probe_decides(attempt: Attempt, breaker: BreakerState) -> None:
    g = governor()
    failing(2)(g)
    assert g.take(T + 5) == 0  # the probe
    g.observe(T + 5, attempt)
    assert g.breaker_state(T + 5) is breaker


def test_an_attempt_that_made_no_request_lets_the_next_call_probe() -> None:
    g = governor()
    failing(2)(g)
    assert g.take(T + 5) == 0
    assert g.clearance(T + 5) is Clearance.PROBING
    g.unused(T + 5, taken_at=T + 5)
    assert g.clearance(T + 5) is Clearance.CALL


def test_retry_after_pauses_are_capped_reported_and_ended_by_resume() -> None:
    g = governor()
    assert g.observe(T, slow_down(86_400)) == 300.0  # capped at max_pause
    assert g.observe(T, slow_down(10)) is None  # a shorter one does not shorten it
    assert g.paused_for(T + 100) == 200.0
    assert g.paused(T + 100)
    g.resume()
    assert not g.paused(T + 100)
    assert g.clearance(T + 100) is Clearance.CALL
