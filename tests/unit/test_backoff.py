from __future__ import annotations

import random
from datetime import UTC, datetime

from service.backoff import full_jitter, parse_retry_after

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_full_jitter_stays_under_the_exponential_ceiling_and_the_cap() -> None:
    rng = random.Random(7)
    for attempt in range(1, 12):
        ceiling = min(10.0, 0.5 * 2 ** (attempt - 1))
        samples = [full_jitter(attempt, 0.5, 10.0, rng) for _ in range(200)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8  # it really spreads over the whole range


def test_retry_after_in_seconds_and_as_http_date() -> None:
    assert parse_retry_after("7", NOW) == 7.0
    assert parse_retry_after("Fri, 20 Nov 2026 10:00:30 GMT", NOW) == 30.0
    assert parse_retry_after("Fri, 20 Nov 2026 09:00:00 GMT", NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None
