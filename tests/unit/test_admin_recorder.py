"""The outcome recorder: bounded per interaction and in keys, newest first, secrets masked."""

from __future__ import annotations

import tracemalloc
from datetime import timedelta

import pytest

from service.admin.recorder import OutcomeRecorder
from service.delivery.attempt import Attempt, AttemptKind
from service.platforms.outcomes import Outcome, OutcomeKind
from service.redaction import Redactor
from tests.unit.factories import T0

DELIVERED = Attempt(AttemptKind.DELIVERED, 3, Outcome.delivered(204), called=True, elapsed=0.01234)
HELD = Attempt(AttemptKind.HELD, 2)
TRANSIENT = Attempt(
    AttemptKind.FAILED,
    3,
    Outcome(OutcomeKind.RETRY, "http_503", 503, retry_after=5.0, excerpt="busy"),
    called=True,
    elapsed=0.2,
)
PERMANENT = Attempt(
    AttemptKind.FAILED,
    3,
    Outcome(OutcomeKind.PERMANENT, "rejected", 400, excerpt="bad", error_class="VendorRejected"),
    called=True,
)


def test_attempts_are_kept_newest_first_per_interaction_and_platform() -> None:
    recorder = OutcomeRecorder(per_key=3)
    for n, attempt in enumerate([HELD, TRANSIENT, PERMANENT, DELIVERED]):
        recorder.record("acme", "i-1", "nice-cxone", attempt, T0 + timedelta(seconds=n))
    recorder.record("acme", "i-2", "nice-cxone", HELD, T0)
    recent = recorder.recent("acme", "i-1", "nice-cxone")
    assert [a.result for a in recent] == ["delivered", "failed", "failed"]
    assert [a.at for a in recent] == [T0 + timedelta(seconds=s) for s in (3, 2, 1)]
    assert recorder.recent("acme", "i-1", "8x8") == []
    assert recorder.recent("globex", "i-1", "nice-cxone") == []
    assert [a.result for a in recorder.recent("acme", "i-2", "nice-cxone")] == ["held"]


def test_each_kind_of_attempt_is_described() -> None:
    recorder = OutcomeRecorder()
    for attempt in (HELD, TRANSIENT, PERMANENT, DELIVERED):
        recorder.record("acme", "i-1", "nice-cxone", attempt, T0)
    delivered, permanent, transient, held = recorder.recent("acme", "i-1", "nice-cxone")
    assert (delivered.reason, delivered.http_status, delivered.retryable) == (
        "delivered",
        204,
        None,
    )
    assert delivered.elapsed_ms == 12.3
    assert (permanent.reason, permanent.retryable, permanent.error_class) == (
        "rejected",
        False,
        "VendorRejected",
    )
    assert (transient.reason, transient.retryable, transient.excerpt) == ("http_503", True, "busy")
    assert (held.result, held.reason, held.called, held.elapsed_ms) == ("held", "held", False, None)


def test_the_least_recently_recorded_interaction_is_forgotten_first() -> None:
    recorder = OutcomeRecorder(max_keys=2)
    recorder.record("acme", "i-1", "nice-cxone", HELD, T0)
    recorder.record("acme", "i-2", "nice-cxone", HELD, T0)
    recorder.record("acme", "i-1", "nice-cxone", DELIVERED, T0)  # i-1 is fresh again
    recorder.recent("acme", "i-2", "nice-cxone")  # reading does not refresh
    recorder.record("acme", "i-3", "nice-cxone", HELD, T0)
    assert len(recorder) == 2
    assert recorder.recent("acme", "i-2", "nice-cxone") == []
    assert len(recorder.recent("acme", "i-1", "nice-cxone")) == 2
    assert len(recorder.recent("acme", "i-3", "nice-cxone")) == 1


def test_memory_stays_flat_however_many_interactions_pass() -> None:
    recorder = OutcomeRecorder(per_key=5, max_keys=1_000)

    def burst(start: int) -> None:
        for n in range(start, start + 20_000):
            recorder.record("acme", f"i-{n}", "nice-cxone", PERMANENT, T0)

    tracemalloc.start()
    try:
        burst(0)
        before = tracemalloc.take_snapshot()
        burst(20_000)
        burst(40_000)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert len(recorder) == 1_000
    assert grown < 200_000, f"{grown} bytes more after 40,000 further interactions"


def test_excerpts_are_redacted_and_cut() -> None:
    secret = "vendor-secret-1234"
    recorder = OutcomeRecorder(redact=Redactor([secret]))
    long = Attempt(
        AttemptKind.FAILED,
        1,
        Outcome(OutcomeKind.PERMANENT, "rejected", 400, excerpt=f"{secret} " + "x" * 1000),
        called=True,
    )
    recorder.record("acme", "i-1", "nice-cxone", long, T0)
    [attempt] = recorder.recent("acme", "i-1", "nice-cxone")
    assert attempt.excerpt is not None
    assert secret not in attempt.excerpt
    assert attempt.excerpt.startswith("[redacted] x")
    assert len(attempt.excerpt) == 300


@pytest.mark.parametrize(("per_key", "max_keys"), [(0, 10), (5, 0)])
def test_bounds_must_be_positive(per_key: int, max_keys: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        OutcomeRecorder(per_key=per_key, max_keys=max_keys)
