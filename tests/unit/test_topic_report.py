"""The service's topics as ``enricher topics`` names them, and a consumer group's lag."""

from __future__ import annotations

import pytest

from service.settings import Settings
from service.topic_report import (
    LagRow,
    creation_plan,
    input_mismatch,
    lag_rows,
    lag_totals,
    service_topics,
)


def test_the_service_topics_in_the_order_records_flow() -> None:
    settings = Settings(retry_tiers="30s,5m", config=None)
    assert [(t.name, t.role) for t in service_topics(settings)] == [
        ("interactions.closed", "input (interaction.closed)"),
        ("analytics.results", "input (analytics.result)"),
        ("enricher.retry.30s", "retry tier 1 (30s)"),
        ("enricher.retry.5m", "retry tier 2 (5m)"),
        ("enricher.dlq", "dead letters"),
    ]


C, A = ("in.c", "in.a")


@pytest.mark.parametrize(
    ("committed", "starts", "ends", "expected"),
    [
        ({}, {}, {}, []),
        (
            {(C, 0): 5, (C, 1): 9},
            {(C, 0): 0, (C, 1): 0},
            {(C, 0): 8, (C, 1): 9},
            [LagRow(C, 0, 5, 8, 3), LagRow(C, 1, 9, 9, 0)],
        ),
        (  # never committed: the group starts at the earliest record it still has
            {},
            {(C, 0): 4},
            {(C, 0): 10},
            [LagRow(C, 0, None, 10, 6)],
        ),
        (  # a commit below the retained start: what is left is all it can read
            {(A, 0): 2},
            {(A, 0): 5},
            {(A, 0): 7},
            [LagRow(A, 0, 2, 7, 2)],
        ),
        (  # the end reported below the commit (a broker catching up): never negative
            {(A, 0): 9},
            {(A, 0): 0},
            {(A, 0): 7},
            [LagRow(A, 0, 9, 7, 0)],
        ),
    ],
    ids=["nothing", "behind and caught up", "no commit", "retention passed", "end below"],
)
def test_lag_per_partition(
    committed: dict[tuple[str, int], int],
    starts: dict[tuple[str, int], int],
    ends: dict[tuple[str, int], int],
    expected: list[LagRow],
) -> None:
    assert lag_rows(committed, starts, ends) == expected


def test_totals_count_partitions_without_a_commit_apart() -> None:
    rows = [LagRow(C, 0, 5, 8, 3), LagRow(C, 1, None, 4, 4), LagRow(A, 0, 9, 9, 0)]
    assert lag_totals(rows) == (7, 1)


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        ({}, None),
        ({C: 8}, None),
        ({C: 8, A: 8}, None),
        ({C: 8, A: 4}, (8, 4)),
    ],
)
def test_input_mismatch(existing: dict[str, int], expected: tuple[int, int] | None) -> None:
    assert input_mismatch(existing, (C, A)) == expected


@pytest.mark.parametrize(
    ("existing", "given", "expected"),
    [
        ({}, None, {C: 8, A: 8, "r": 8, "d": 8}),
        ({}, 3, {C: 3, A: 3, "r": 3, "d": 3}),
        ({C: 12, "d": 8}, None, {A: 12, "r": 8}),  # the other input matches the existing one
        ({C: 12}, 4, {A: 4, "r": 4, "d": 4}),  # asked for: done, and the mismatch reported
        ({C: 1, A: 1, "r": 1, "d": 1}, None, {}),
    ],
    ids=["fresh", "asked", "match the existing input", "asked, mismatching", "all exist"],
)
def test_creation_plan(
    existing: dict[str, int], given: int | None, expected: dict[str, int]
) -> None:
    assert creation_plan([C, A, "r", "d"], (C, A), existing, default=8, given=given) == expected
