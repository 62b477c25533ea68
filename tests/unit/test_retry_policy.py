"""The retry policy, one row per rule: after a failed call (retry in process, park, bury), for
a record parked without a call, and whether a new record may wait in the lane at all."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from service.delivery.retry_policy import (
    FULL,
    STALLED,
    Bury,
    Failure,
    Park,
    Retry,
    RetryRules,
    decide,
    park_without_call,
    parks_before_merge,
    refusal,
)
from service.delivery.retry_topics import tiers_of
from service.platforms.outcomes import Outcome, OutcomeKind

RULES = RetryRules(tiers_of("retry.", [30, 300, 1800]), max_attempts=3, max_delay=10, max_pause=600)
NOW = 1_000_000.0
FAIL = Outcome(OutcomeKind.RETRY, "http_503", 503)
REJECTED = Outcome(OutcomeKind.PERMANENT, "rejected", 400)


def retry_after(seconds: float) -> Outcome:
    return Outcome(OutcomeKind.RETRY, "http_429", 429, retry_after=seconds)


BASE = Failure(FAIL, attempts=1, tier=-1, vendor_down=False, now=NOW, jitter=0.25)

AFTER_A_CALL = [
    ("a permanent outcome buries at once", {"outcome": REJECTED}, Bury()),
    (
        "a permanent outcome buries even while the vendor is down",
        {"outcome": REJECTED, "vendor_down": True},
        Bury(),
    ),
    ("a transient failure with attempts left retries after its jitter", {}, Retry(0.25)),
    ("a Retry-After within the budget is waited out", {"outcome": retry_after(5)}, Retry(5)),
    ("the jitter wins when longer", {"outcome": retry_after(0.1)}, Retry(0.25)),
    (
        "a Retry-After beyond the in-process budget parks, due when it ends",
        {"outcome": retry_after(120)},
        Park(0, NOW + 120),
    ),
    (
        "a Retry-After shorter than the tier's delay parks for the tier",
        {"outcome": retry_after(11)},
        Park(0, NOW + 30),
    ),
    (
        "a bogus Retry-After is capped at max_pause",
        {"outcome": retry_after(86_400)},
        Park(0, NOW + 600),
    ),
    (
        "the last attempt of a fresh record parks in the first tier",
        {"attempts": 3},
        Park(0, NOW + 30),
    ),
    ("a record from a tier parks in the next", {"attempts": 3, "tier": 0}, Park(1, NOW + 300)),
    ("past the last tier a record is buried", {"attempts": 3, "tier": 2}, Bury()),
    (
        "while the vendor is down a record keeps its tier",
        {"attempts": 3, "tier": 2, "vendor_down": True},
        Park(2, NOW + 1800),
    ),
    (
        "while the vendor is down a fresh record parks in the first tier",
        {"attempts": 3, "vendor_down": True},
        Park(0, NOW + 30),
    ),
    ("a closing lane parks what it would have retried", {"may_retry": False}, Park(0, NOW + 30)),
]


@pytest.mark.parametrize(
    ("changes", "verdict"),
    [row[1:] for row in AFTER_A_CALL],
    ids=[row[0] for row in AFTER_A_CALL],
)
def test_after_a_failed_call(changes: dict[str, object], verdict: Retry | Park | Bury) -> None:
    assert decide(RULES, dataclasses.replace(BASE, **changes)) == verdict  # type: ignore[arg-type]


WITHOUT_A_CALL = [
    ("a fresh record parks in the first tier", -1, 0.0, Park(0, NOW + 30)),
    ("a record from a tier stays in it: parking is not an attempt", 2, 0.0, Park(2, NOW + 1800)),
    ("not due before the vendor's pause has passed", 0, 120.0, Park(0, NOW + 120)),
    ("a pause shorter than the tier changes nothing", 0, 5.0, Park(0, NOW + 30)),
    ("a pause that has ended changes nothing", 0, -5.0, Park(0, NOW + 30)),
]


@pytest.mark.parametrize(
    ("tier", "paused_for", "park"),
    [row[1:] for row in WITHOUT_A_CALL],
    ids=[row[0] for row in WITHOUT_A_CALL],
)
def test_parked_without_a_call(tier: int, paused_for: float, park: Park) -> None:
    assert park_without_call(RULES, tier, NOW, paused_for) == park


OPEN: dict[str, Any] = {
    "vendor_refusal": None,
    "waiting": 5,
    "queue_limit": 10,
    "stalled": False,
    "queued": 5,
    "limit": 4,
}

INTAKE = [
    ("a lane with room takes the interaction", {}, None),
    ("the governor's refusal comes first", {"vendor_refusal": "breaker_open"}, "breaker_open"),
    ("even over a full lane", {"vendor_refusal": "lane_paused", "waiting": 10}, "lane_paused"),
    ("a full lane refuses", {"waiting": 10}, FULL),
    ("a stalled lane with its limit waiting refuses", {"stalled": True}, STALLED),
    ("a stalled lane with fewer waiting takes it", {"stalled": True, "queued": 3}, None),
    ("a deep queue that is not stalled takes it", {"queued": 9}, None),
]


@pytest.mark.parametrize(
    ("changes", "reason"), [row[1:] for row in INTAKE], ids=[row[0] for row in INTAKE]
)
def test_whether_a_new_interaction_may_wait(changes: dict[str, Any], reason: str | None) -> None:
    assert refusal(**(OPEN | changes)) == reason


@pytest.mark.parametrize(
    ("reason", "operator_paused", "early"),
    [
        ("breaker_open", False, True),
        ("lane_paused", False, True),
        (STALLED, False, True),
        (FULL, False, False),
        ("lane_paused", True, False),
    ],
    ids=[
        "an open breaker parks before the merge",
        "a long Retry-After parks before the merge",
        "a stalled lane parks before the merge",
        "a full lane merges first",
        "an operator's pause merges first",
    ],
)
def test_parked_before_the_merge(reason: str, operator_paused: bool, early: bool) -> None:
    assert parks_before_merge(reason, operator_paused) is early
