"""Offset tracking for out-of-order completion, pure.

Records of one partition finish in any order because many interactions are in flight at once.
Kafka commits are positional, so the only safe offset to commit is the one just past the
highest *contiguous* completed record: committing past a record still in flight would lose it
on a crash. Partitions no longer owned are forgotten, so a late completion can never produce a
commit for them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

__all__ = ["OffsetTracker", "PartitionOffsets"]

P = TypeVar("P", bound=Hashable)


class PartitionOffsets:
    """Offsets of one partition in the order they were read, and which of them are done."""

    __slots__ = ("_done", "_next", "_order")

    def __init__(self) -> None:
        self._order: deque[int] = deque()
        self._done: set[int] = set()
        self._next: int | None = None  # offset just past the contiguous completed prefix

    def add(self, offset: int) -> None:
        if self._order and offset <= self._order[-1]:
            raise ValueError(f"offset {offset} read after {self._order[-1]}; reads are ordered")
        self._order.append(offset)

    def complete(self, offset: int) -> None:
        self._done.add(offset)
        order, done = self._order, self._done
        while order and order[0] in done:
            finished = order.popleft()
            done.discard(finished)
            self._next = finished + 1

    @property
    def committable(self) -> int | None:
        """The offset to commit (the next one to read), or None if nothing finished yet."""
        return self._next

    @property
    def in_flight(self) -> int:
        return len(self._order)


class OffsetTracker(Generic[P]):
    def __init__(self) -> None:
        self._partitions: dict[P, PartitionOffsets] = {}
        self._committed: dict[P, int] = {}

    def assign(self, partitions: Iterable[P]) -> None:
        for partition in partitions:
            self._partitions.setdefault(partition, PartitionOffsets())

    def revoke(self, partitions: Iterable[P]) -> None:
        for partition in partitions:
            self._partitions.pop(partition, None)
            self._committed.pop(partition, None)

    def add(self, partition: P, offset: int) -> PartitionOffsets | None:
        """Track a record read from an owned partition.

        Returns the partition's tracking state as a ticket for :meth:`complete`, or None when
        the partition is not owned (a record fetched before a revoke): such a record must be
        dropped, not processed, because another replica now owns it.
        """
        offsets = self._partitions.get(partition)
        if offsets is None:
            return None
        offsets.add(offset)
        return offsets

    def complete(self, partition: P, offset: int, ticket: PartitionOffsets) -> bool:
        """False when the partition was revoked since the record was read (even if it was
        assigned again since): the completion belongs to a past ownership and is dropped, so it
        can never let a commit pass a record the current owner has not finished."""
        if self._partitions.get(partition) is not ticket:
            return False
        ticket.complete(offset)
        return True

    def to_commit(self, partitions: Iterable[P] | None = None) -> dict[P, int]:
        """Offsets that moved since the last :meth:`committed`, for owned partitions only."""
        chosen = self._partitions if partitions is None else partitions
        out: dict[P, int] = {}
        for partition in chosen:
            offsets = self._partitions.get(partition)
            if offsets is None or offsets.committable is None:
                continue
            if offsets.committable != self._committed.get(partition):
                out[partition] = offsets.committable
        return out

    def committed(self, offsets: dict[P, int]) -> None:
        for partition, offset in offsets.items():
            if partition in self._partitions:
                self._committed[partition] = offset

    def committed_offset(self, partition: P) -> int | None:
        """The last offset committed for an owned partition (None before the first commit)."""
        return self._committed.get(partition)

    def in_flight(self, partition: P | None = None) -> int:
        if partition is not None:
            offsets = self._partitions.get(partition)
            return offsets.in_flight if offsets else 0
        return sum(p.in_flight for p in self._partitions.values())

    @property
    def partitions(self) -> list[P]:
        return list(self._partitions)
