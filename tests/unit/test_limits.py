"""The lane governors: token bucket, sliding window, AIMD limit and breaker, driven by an
explicit clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.delivery.limits import (
    WINDOW_MARGIN,
    AimdLimit,
    Breaker,
    BreakerState,
    SlidingWindowLimit,
    TokenBucket,
    rate_limit,
)


def test_bucket_allows_a_burst_then_paces_at_the_rate() -> None:
    bucket = TokenBucket(rate=10, burst=2, now=0.0)
    assert bucket.try_take(0.0) == 0
    assert bucket.try_take(0.0) == 0
    wait = bucket.try_take(0.0)
    assert 0.09 < wait <= 0.1
    assert bucket.try_take(0.1) == 0


@given(st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=200))
def test_bucket_never_exceeds_rate_plus_burst(steps: list[float]) -> None:
    bucket = TokenBucket(rate=5, burst=3, now=0.0)
    now, taken = 0.0, 0
    for step in steps:
        now += step
        while bucket.try_take(now) == 0:
            taken += 1
    assert taken <= 3 + 5 * now + 1e-9


def test_a_refunded_token_can_be_taken_again_but_never_grows_the_burst() -> None:
    bucket = TokenBucket(rate=1, burst=2, now=0.0)
    bucket.refund(0.0)  # full already: nothing to give back
    assert [bucket.try_take(0.0) for _ in range(3)] == [0, 0, 1.0]
    bucket.refund(0.0)
    assert bucket.try_take(0.0) == 0
    assert bucket.try_take(0.0) == 1.0


# -- the sliding window: what a vendor counting arrivals over a minute sees -------------------


@pytest.mark.parametrize("limit", [1, 3, 100])
def test_from_empty_exactly_the_limit_goes_at_once_and_the_next_waits_for_the_first(
    limit: int,
) -> None:
    window = SlidingWindowLimit(limit, 60, margin=0)
    assert [window.try_take(0.0) for _ in range(limit)] == [0.0] * limit
    assert window.try_take(0.0) == 60
    assert window.try_take(59.5) == pytest.approx(0.5)
    assert window.try_take(60.0) == 0
    assert window.try_take(60.0) == (60 if limit == 1 else 0)


def test_the_window_slides_one_take_at_a_time() -> None:
    window = SlidingWindowLimit(3, 60, margin=0)
    for now in (0.0, 10.0, 20.0):
        assert window.try_take(now) == 0
    assert window.try_take(30.0) == 30  # until the take at 0 leaves
    assert window.try_take(60.0) == 0
    assert window.try_take(60.0) == 10  # until the take at 10 leaves


def test_each_slot_is_held_for_the_margin_beyond_the_window() -> None:
    window = SlidingWindowLimit(100, 60)
    assert all(window.try_take(0.0) == 0 for _ in range(100))
    assert window.try_take(0.0) == 60 + WINDOW_MARGIN
    assert window.try_take(60.0) == WINDOW_MARGIN
    assert window.rate == pytest.approx(100 / 60)


def test_a_full_window_never_answers_no_wait_at_the_instant_its_oldest_take_leaves() -> None:
    # 86.789 + 61 - 86.789 rounds below 61: one rule must decide both "left" and "no wait".
    window = SlidingWindowLimit(1, 60, margin=1)
    assert window.try_take(86.789) == 0
    due = 86.789 + window.wait(86.789)
    assert window.try_take(due) == 0
    assert window.try_take(due) > 0


def test_a_refund_frees_a_slot_at_once() -> None:
    window = SlidingWindowLimit(2, 60, margin=0)
    assert window.try_take(0.0) == 0
    assert window.try_take(1.0) == 0
    window.refund(1.5)
    assert window.try_take(2.0) == 0
    assert window.try_take(2.0) > 0


Step = tuple[float, str, int, float]


@given(
    limit=st.integers(min_value=1, max_value=5),
    steps=st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=40),
            st.sampled_from(["take", "backlog", "wake", "refund"]),
            st.integers(min_value=0, max_value=1000),
            st.floats(min_value=0, max_value=1),
        ),
        max_size=150,
    ),
)
def test_no_interval_of_the_window_ever_holds_more_than_the_limit_at_the_vendor(
    limit: int, steps: list[Step]
) -> None:
    """Any sequence of takes (one, as many as free, or at the moment the limiter names, as the
    lane's wake-up does) and refunds, each take reaching the vendor up to the margin late, and
    refunds giving back any take still held (calls overlap, so not always the newest)."""
    seconds, margin = 60.0, 1.0
    window = SlidingWindowLimit(limit, seconds, margin=margin)
    now = 0.0
    sent: list[tuple[float, float]] = []  # (taken at, arrived at the vendor)
    for step, action, pick, lateness in steps:
        now += step
        if action == "refund":
            held = [s for s in sent if now - s[0] < seconds + margin]
            if held:
                sent.remove(held[pick % len(held)])
                window.refund(now)
            continue
        if action == "wake":
            now += window.wait(now)
        while window.try_take(now) == 0:
            sent.append((now, now + lateness * margin))
            if action != "backlog":
                break
    arrivals = sorted(arrived for _, arrived in sent)
    for first, last in zip(arrivals, arrivals[limit:], strict=False):
        assert last - first >= seconds - 1e-9  # the vendor counts (t - window, t]


def test_a_lane_cap_under_a_window_honours_both() -> None:
    documented = rate_limit(1000, (3, 60), now=0.0)
    assert [documented.try_take(0.0) for _ in range(3)] == [0, 0, 0]
    assert documented.try_take(0.0) == 60 + WINDOW_MARGIN
    slower = rate_limit(0.5, (100, 60), now=0.0)
    assert slower.try_take(0.0) == 0
    assert slower.try_take(0.0) == pytest.approx(2.0)
    assert slower.rate == 0.5
    assert rate_limit(20, (100, 60), now=0.0).rate == pytest.approx(100 / 60)


@given(
    rate=st.floats(min_value=0.5, max_value=3),
    late=st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=20),
)
def test_a_backlog_under_any_configured_rate_never_overfills_the_window(
    rate: float, late: list[float]
) -> None:
    """A backlog taken as the lane takes it: all that is free, then again when the cap says
    (or a little later, as timers fire). A token bucket near 100 a minute lets the 101st go
    within the first minute; the lane's cap does not, whatever rate the tenant configured."""
    cap = rate_limit(rate, (100, 60), now=0.0)
    now = 0.0
    taken: list[float] = []
    while len(taken) < 250:
        wait = cap.try_take(now)
        if wait == 0:
            taken.append(now)
        else:
            # A timer fires a little after it is due (and never at the same float instant).
            now += max(wait, 1e-6) + late[len(taken) % len(late)]
    for first, last in zip(taken, taken[100:], strict=False):
        assert last - first >= 60


def test_aimd_grows_only_while_used_and_shrinks_on_overload() -> None:
    limit = AimdLimit(4, maximum=10)
    limit.on_success(in_flight=1)  # a quarter used: no evidence the vendor takes more
    assert limit.limit == 4
    for _ in range(20):
        limit.on_success(in_flight=limit.limit)
    assert limit.limit == 10  # capped at the tenant's max_concurrency
    limit.on_overload()
    assert limit.limit == 7
    for _ in range(20):
        limit.on_overload()
    assert limit.limit == 1  # never zero: the lane must be able to probe recovery


def test_breaker_opens_after_consecutive_failures_and_a_success_resets_the_count() -> None:
    breaker = Breaker(failure_threshold=3, cool_down=5)
    breaker.on_failure(0)
    breaker.on_failure(0)
    breaker.on_success()
    breaker.on_failure(1)
    breaker.on_failure(1)
    assert breaker.state is BreakerState.CLOSED
    breaker.on_failure(1)
    assert breaker.is_open(1)
    assert not breaker.allow(2)


def test_half_open_lets_one_probe_through_and_its_result_decides() -> None:
    breaker = Breaker(failure_threshold=1, cool_down=5, max_cool_down=12)
    breaker.on_failure(0)
    assert not breaker.allow(4.9)
    assert breaker.allow(5.0)  # the probe
    assert not breaker.allow(5.1)  # only one
    breaker.on_failure(5.2)  # probe failed: open again, cool-down doubled
    assert breaker.is_open(14)
    assert not breaker.allow(15.1)
    assert breaker.allow(15.2)
    breaker.on_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow(15.3)


def test_a_permanent_rejection_ends_a_probe_without_reopening() -> None:
    breaker = Breaker(failure_threshold=1, cool_down=1)
    breaker.on_failure(0)
    assert breaker.allow(1)
    breaker.on_neutral()
    assert breaker.state is BreakerState.CLOSED
