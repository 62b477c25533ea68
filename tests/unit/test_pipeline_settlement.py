"""What a lane's settlement leaves for the outbox to write, from a table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.delivery.lanes import Dead, Done, Parked, Settlement
from service.delivery.retry_topics import Origin
from service.mapping import FieldProblem
from service.outbox import Undelivered
from service.pipeline import _undelivered
from service.platforms.outcomes import Outcome, OutcomeKind

INPUT = Origin("interactions.closed", 0, 7)
RETRY = Origin("interactions.closed", 0, 7, tier=0, attempts=3)
PROBLEM = FieldProblem("_Account", "crm_account", "too long")
FIRST = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
LAST = datetime(2026, 11, 20, 10, 5, tzinfo=UTC)
REFUSED = Outcome(OutcomeKind.PERMANENT, "not_found", 404, excerpt="gone", error_class="Http")


@pytest.mark.parametrize(
    ("settlement", "origin", "expected"),
    [
        (Done("8x8", "delivered"), INPUT, None),
        (
            Done("8x8", "delivered", problems=(PROBLEM,)),
            INPUT,
            Undelivered("8x8", "delivered", problems=(PROBLEM,)),
        ),
        # A retry would report the same problems again.
        (Done("8x8", "delivered", problems=(PROBLEM,)), RETRY, None),
        (
            Parked(
                "8x8",
                "unavailable",
                revision=2,
                attempts=3,
                first_failure_at=FIRST,
                tier=1,
                due_at=1_800_000_000.0,
            ),
            RETRY,
            Undelivered(
                "8x8",
                "unavailable",
                action="park",
                revision=2,
                attempts=3,
                first_failure_at=FIRST,
                tier=1,
                due_at=1_800_000_000.0,
            ),
        ),
        (
            Parked("8x8", "lane_full", tier=0, due_at=1_800_000_030.0),
            INPUT,
            Undelivered("8x8", "lane_full", action="park", tier=0, due_at=1_800_000_030.0),
        ),
        (
            Dead(
                "8x8",
                "not_found",
                revision=1,
                outcome=REFUSED,
                attempts=1,
                first_failure_at=FIRST,
                last_failure_at=LAST,
            ),
            INPUT,
            Undelivered(
                "8x8",
                "not_found",
                action="bury",
                revision=1,
                attempts=1,
                first_failure_at=FIRST,
                last_failure_at=LAST,
                status=404,
                error_class="Http",
                excerpt="gone",
            ),
        ),
    ],
)
def test_a_settlement_becomes_the_letters_it_needs(
    settlement: Settlement, origin: Origin, expected: Undelivered | None
) -> None:
    assert _undelivered(settlement, origin) == expected
