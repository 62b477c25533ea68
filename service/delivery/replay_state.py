"""What a replay may send, pure: one state per original record, read from the DLQ alone.

Every copy of a change (the first dead letter, each replay, each dead letter after a replay)
names the same original by its source topic, partition and offset, and carries how often it
was replayed (``enricher.replays``). A replay therefore works per original, not per copy: it
takes the newest copy, skips the older ones, and counts from the highest replay number any
copy or claim of that original carries.

Two replays that run at once would both see the same count and both send. So before sending,
a replay writes a *claim* to the DLQ (no value; ``enricher.claim`` names the replay, and
``enricher.replays`` the number it claims) into a partition fixed by the original's identity,
reads that partition back, and sends only where its claim is the first one with that number:
partition order decides, so of two replays claiming the same number exactly one wins. A later
replay sees the claim and counts from it, also while the replayed record is still in flight.
No state outside the DLQ topic is needed, and an original is sent at most ``max_replays`` times
after its first attempt.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from service.delivery.dead_letter import HEADER_PREFIX
from service.delivery.dlq_reader import CLAIM_HEADER, DeadLetterFilter, DeadLetterRecord

__all__ = [
    "CLAIM",
    "Identity",
    "Latest",
    "ReplayItem",
    "ReplaySelection",
    "claim_headers",
    "claim_partition",
    "claims_won",
    "identity_of",
    "is_claim",
    "latest_per_original",
    "replays_of",
    "select_replays",
]

CLAIM = CLAIM_HEADER
_COPIED = ("tenant", "platform", "interaction_id", "reason")


@dataclass(frozen=True, slots=True, order=True)
class Identity:
    """The original input record a copy stands for."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}@{self.offset}"


def _int(text: str | None, default: int = 0) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        return default


def identity_of(record: DeadLetterRecord) -> Identity:
    """From the copy's source headers; a record without them stands for itself."""
    p = record.provenance
    topic = p.get("source_topic")
    partition = _int(p.get("source_partition"), -1)
    offset = _int(p.get("source_offset"), -1)
    if topic is None or partition < 0 or offset < 0:
        return Identity(f"dlq-record:{record.partition}", record.partition, record.offset)
    return Identity(topic, partition, offset)


def is_claim(record: DeadLetterRecord) -> bool:
    return any(name == CLAIM for name, _ in record.headers)


def replays_of(record: DeadLetterRecord) -> int:
    return _int(record.provenance.get("replays"))


def _newness(record: DeadLetterRecord) -> tuple[int, int, int, int]:
    return (replays_of(record), record.timestamp_ms, record.partition, record.offset)


@dataclass(frozen=True, slots=True)
class Latest:
    """An original's state: its newest dead letter, and whether a replay came after it."""

    identity: Identity
    letter: DeadLetterRecord
    replays: int
    """The highest replay number any copy or claim of the original carries."""
    copies: int
    """Dead letters of the original in the DLQ."""
    replayed: bool
    """A claim is newer than the newest dead letter: the replay is in flight, or delivered."""

    @property
    def state(self) -> str:
        return "replayed" if self.replayed else "dead_lettered"


def latest_per_original(
    records: Iterable[DeadLetterRecord], selection: DeadLetterFilter | None = None
) -> list[Latest]:
    """One state per original that has a dead letter matching ``selection``, oldest first.

    A letter written after replay ``n`` carries ``n`` too, and is newer than the claim: the
    replay came back dead, so of a claim and a letter with the same number the letter wins."""
    letters: dict[Identity, list[DeadLetterRecord]] = {}
    claimed: dict[Identity, int] = {}
    for record in records:
        identity = identity_of(record)
        if is_claim(record):
            claimed[identity] = max(claimed.get(identity, 0), replays_of(record))
        else:
            letters.setdefault(identity, []).append(record)
    states = []
    for identity, copies in letters.items():
        if selection is not None and not any(selection.matches(c) for c in copies):
            continue
        newest = max(copies, key=_newness)
        claim = claimed.get(identity, 0)
        states.append(
            Latest(
                identity,
                newest,
                max(claim, replays_of(newest)),
                len(copies),
                claim > replays_of(newest),
            )
        )
    states.sort(key=lambda s: (s.letter.timestamp_ms, s.letter.partition, s.letter.offset))
    return states


@dataclass(frozen=True, slots=True)
class ReplayItem:
    identity: Identity
    letter: DeadLetterRecord
    """The newest dead letter of the original: what is replayed."""
    replays: int
    """The replay number this replay claims and the copy carries."""


@dataclass
class ReplaySelection:
    items: list[ReplayItem] = field(default_factory=list)
    selected: int = 0
    """Dead letters matching the selection."""
    skipped_superseded: int = 0
    """Matching dead letters with a newer copy of the same original."""
    skipped_replay_limit: int = 0
    """Originals replayed ``max_replays`` times already."""
    by_reason: dict[str, int] = field(default_factory=dict)


def select_replays(
    records: Sequence[DeadLetterRecord], selection: DeadLetterFilter, *, max_replays: int
) -> ReplaySelection:
    """What to replay, from every record in the DLQ (the count of an original may sit in a
    copy or claim outside the selection's window)."""
    chosen = ReplaySelection()
    matching = Counter(identity_of(r) for r in records if not is_claim(r) and selection.matches(r))
    chosen.selected = sum(matching.values())
    for state in latest_per_original(records, selection):
        newest_matches = selection.matches(state.letter)
        chosen.skipped_superseded += matching[state.identity] - (1 if newest_matches else 0)
        if state.replays >= max_replays:
            chosen.skipped_replay_limit += 1
            continue
        reason = state.letter.provenance.get("reason", "unknown")
        chosen.by_reason[reason] = chosen.by_reason.get(reason, 0) + 1
        chosen.items.append(ReplayItem(state.identity, state.letter, state.replays + 1))
    return chosen


def claim_partition(identity: Identity, partitions: int) -> int:
    """Every claim for one original goes to one DLQ partition, so their order is total."""
    return zlib.crc32(str(identity).encode()) % max(partitions, 1)


def claim_headers(item: ReplayItem, replay_id: str) -> list[tuple[str, bytes]]:
    p = item.letter.provenance
    headers = [
        (CLAIM, replay_id.encode()),
        (HEADER_PREFIX + "replays", str(item.replays).encode()),
        (HEADER_PREFIX + "source_topic", item.identity.topic.encode()),
        (HEADER_PREFIX + "source_partition", str(item.identity.partition).encode()),
        (HEADER_PREFIX + "source_offset", str(item.identity.offset).encode()),
    ]
    headers += [(HEADER_PREFIX + name, p[name].encode()) for name in _COPIED if name in p]
    return headers


def claims_won(
    ours: Mapping[Identity, int], replay_id: str, seen: Iterable[DeadLetterRecord]
) -> set[Identity]:
    """The originals whose claimed number (``ours``) was claimed first by ``replay_id``.

    ``seen`` is every record written to the claim partitions since this replay read the DLQ,
    up to and including its own claims."""
    first: dict[tuple[Identity, int], tuple[int, str]] = {}
    for record in seen:
        if not is_claim(record):
            continue
        identity = identity_of(record)
        key = (identity, replays_of(record))
        if ours.get(identity) != key[1]:
            continue
        claimant = dict(record.headers)[CLAIM].decode("utf-8", "replace")
        if key not in first or record.offset < first[key][0]:
            first[key] = (record.offset, claimant)
    return {
        identity
        for identity, number in ours.items()
        if first.get((identity, number), (0, ""))[1] == replay_id
    }
