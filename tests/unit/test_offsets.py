from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.offsets import OffsetTracker, PartitionOffsets


def test_commits_only_the_contiguous_completed_prefix() -> None:
    offsets = PartitionOffsets()
    for n in (10, 11, 12, 13):
        offsets.add(n)
    offsets.complete(12)
    offsets.complete(13)
    assert offsets.committable is None  # 10 and 11 still in flight
    offsets.complete(10)
    assert offsets.committable == 11
    offsets.complete(11)
    assert offsets.committable == 14
    assert offsets.in_flight == 0


def test_reads_must_be_ordered() -> None:
    offsets = PartitionOffsets()
    offsets.add(5)
    with pytest.raises(ValueError, match="ordered"):
        offsets.add(5)


def test_gaps_in_offsets_do_not_block_commits() -> None:
    # Compacted topics and transaction markers leave holes in the offset sequence.
    offsets = PartitionOffsets()
    offsets.add(3)
    offsets.add(9)
    offsets.complete(9)
    offsets.complete(3)
    assert offsets.committable == 10


def test_revoked_partition_is_never_committed_and_late_completions_are_dropped() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    tracker.assign(["p0", "p1"])
    t0 = tracker.add("p0", 0)
    t1 = tracker.add("p1", 0)
    assert t0 is not None
    assert t1 is not None
    tracker.revoke(["p1"])
    assert tracker.complete("p1", 0, t1) is False
    assert tracker.complete("p0", 0, t0) is True
    assert tracker.to_commit() == {"p0": 1}


def test_records_of_a_partition_not_owned_are_refused() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    assert tracker.add("p0", 0) is None
    tracker.assign(["p0"])
    tracker.revoke(["p0"])
    assert tracker.add("p0", 1) is None
    assert tracker.to_commit() == {}


def test_a_completion_from_before_a_reassignment_cannot_move_the_new_commit() -> None:
    # p0 is revoked while 1000-1009 run, then assigned back and read again from 1000. A late
    # completion of the old 1005 must not count for the new 1005, which is still running.
    tracker: OffsetTracker[str] = OffsetTracker()
    tracker.assign(["p0"])
    old = [tracker.add("p0", n) for n in range(1000, 1010)]
    tracker.revoke(["p0"])
    tracker.assign(["p0"])
    new = [tracker.add("p0", n) for n in range(1000, 1010)]
    assert tracker.complete("p0", 1005, old[5]) is False  # type: ignore[arg-type]
    for n in range(1000, 1005):
        tracker.complete("p0", n, new[n - 1000])  # type: ignore[arg-type]
    assert tracker.to_commit() == {"p0": 1005}


def test_to_commit_reports_only_moved_offsets() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    tracker.assign(["p0"])
    ticket = tracker.add("p0", 0)
    assert ticket is not None
    tracker.complete("p0", 0, ticket)
    first = tracker.to_commit()
    tracker.committed(first)
    assert tracker.to_commit() == {}
    tracker.add("p0", 1)
    tracker.complete("p0", 1, ticket)
    assert tracker.to_commit() == {"p0": 2}


@given(st.lists(st.integers(0, 3), min_size=1, max_size=40), st.data())
def test_commit_never_passes_an_incomplete_offset(gaps: list[int], data: st.DataObject) -> None:
    offsets_read = []
    position = 0
    for gap in gaps:
        position += gap + 1
        offsets_read.append(position)
    tracker = PartitionOffsets()
    for offset in offsets_read:
        tracker.add(offset)
    order = data.draw(st.permutations(offsets_read))
    done: set[int] = set()
    for offset in order:
        tracker.complete(offset)
        done.add(offset)
        committable = tracker.committable
        if committable is not None:
            assert all(o in done for o in offsets_read if o < committable)
    assert tracker.committable == offsets_read[-1] + 1
