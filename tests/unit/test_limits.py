"""The lane governors: token bucket, AIMD limit and breaker, driven by an explicit clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from service.delivery.limits import AimdLimit, Breaker, BreakerState, TokenBucket


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
