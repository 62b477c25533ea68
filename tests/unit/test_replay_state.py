"""Replay decisions per original record, from DLQ records alone: the newest copy goes, older
copies and originals at the cap are skipped, a claim counts like a copy, and of two claims with
one number the first in its partition wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.delivery.dlq_reader import DeadLetterFilter, DeadLetterRecord
from service.delivery.replay_state import (
    CLAIM,
    Identity,
    ReplayItem,
    claim_headers,
    claim_partition,
    claims_won,
    identity_of,
    is_claim,
    latest_per_original,
    select_replays,
)

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
ALL = DeadLetterFilter()


def letter(
    source_offset: int,
    *,
    at: int,
    replays: int | None = None,
    reason: str = "rejected",
    tenant: str = "acme",
    offset: int | None = None,
    partition: int = 0,
) -> DeadLetterRecord:
    headers = {
        "reason": reason,
        "tenant": tenant,
        "source_topic": "interactions.closed",
        "source_partition": "1",
        "source_offset": str(source_offset),
    }
    if replays is not None:
        headers["replays"] = str(replays)
    return DeadLetterRecord(
        partition=partition,
        offset=at if offset is None else offset,
        timestamp_ms=int((T0 + timedelta(minutes=at)).timestamp() * 1000),
        key=f"{tenant}:i-{source_offset}".encode(),
        value=b"{}",
        headers=tuple((f"enricher.{k}", v.encode()) for k, v in headers.items()),
    )


def claim(
    source_offset: int, number: int, replay_id: str, *, at: int, offset: int | None = None
) -> DeadLetterRecord:
    item = ReplayItem(Identity("interactions.closed", 1, source_offset), letter(0, at=0), number)
    return DeadLetterRecord(
        partition=0,
        offset=at if offset is None else offset,
        timestamp_ms=int((T0 + timedelta(minutes=at)).timestamp() * 1000),
        key=None,
        value=b"",
        headers=tuple(claim_headers(item, replay_id)),
    )


def test_every_copy_of_an_original_names_it_and_a_record_without_provenance_names_itself() -> None:
    assert identity_of(letter(7, at=1)) == Identity("interactions.closed", 1, 7)
    assert identity_of(claim(7, 2, "r", at=3)) == Identity("interactions.closed", 1, 7)
    bare = DeadLetterRecord(3, 99, 0, None, b"x", (("enricher.reason", b"not_json"),))
    assert identity_of(bare) == Identity("dlq-record:3", 3, 99)
    assert is_claim(claim(7, 1, "r", at=1))
    assert not is_claim(letter(7, at=1))


@pytest.mark.parametrize(
    ("records", "state", "replays", "copies"),
    [
        ([letter(1, at=0)], "dead_lettered", 0, 1),
        ([letter(1, at=0), claim(1, 1, "a", at=1)], "replayed", 1, 1),
        (
            [letter(1, at=0), claim(1, 1, "a", at=1), letter(1, at=2, replays=1)],
            "dead_lettered",
            1,
            2,
        ),
        (
            [
                letter(1, at=0),
                claim(1, 1, "a", at=1),
                letter(1, at=2, replays=1),
                claim(1, 2, "b", at=3),
            ],
            "replayed",
            2,
            2,
        ),
        # The highest number decides, not the clock: a copy written late by a slow lane.
        ([letter(1, at=5), letter(1, at=2, replays=2)], "dead_lettered", 2, 2),
    ],
)
def test_the_latest_state_of_an_original(
    records: list[DeadLetterRecord], state: str, replays: int, copies: int
) -> None:
    [latest] = latest_per_original(records)
    assert (latest.state, latest.replays, latest.copies) == (state, replays, copies)
    assert latest.letter == max(
        (r for r in records if not is_claim(r)),
        key=lambda r: (int(r.provenance.get("replays", "0")), r.timestamp_ms),
    )


def test_an_original_is_listed_when_any_of_its_letters_matches_and_once() -> None:
    records = [
        letter(1, at=0),
        letter(1, at=10, replays=1, reason="http_503"),
        letter(2, at=1, tenant="globex", reason="not_found"),
    ]
    latest = latest_per_original(records, DeadLetterFilter(reason="rejected"))
    assert [(s.identity.offset, s.letter.provenance["reason"]) for s in latest] == [(1, "http_503")]
    assert len(latest_per_original(records)) == 2


def test_a_replay_takes_the_newest_copy_and_counts_from_every_copy_and_claim() -> None:
    records = [
        letter(1, at=0),
        letter(1, at=1, replays=1),
        letter(2, at=0, offset=10),
        claim(2, 3, "earlier", at=5),  # in flight from a replay that reached the cap
        letter(3, at=0, offset=11),
        letter(3, at=2, offset=12, replays=2),
        claim(3, 2, "x", at=1, offset=13),
    ]
    chosen = select_replays(records, ALL, max_replays=3)
    assert [(i.identity.offset, i.replays, i.letter.offset) for i in chosen.items] == [
        (1, 2, 1),
        (3, 3, 12),
    ]
    assert chosen.selected == 5
    assert chosen.skipped_superseded == 2
    assert chosen.skipped_replay_limit == 1
    assert chosen.by_reason == {"rejected": 2}


def test_a_window_that_holds_only_an_older_copy_still_replays_from_the_count_of_the_newest() -> (
    None
):
    records = [letter(1, at=0), letter(1, at=100, replays=2)]
    window = DeadLetterFilter(until=T0 + timedelta(minutes=50))
    chosen = select_replays(records, window, max_replays=3)
    [item] = chosen.items
    assert (item.replays, item.letter.offset) == (3, 100)
    assert (chosen.selected, chosen.skipped_superseded) == (1, 1)  # the newer copy goes
    assert select_replays(records, window, max_replays=2).skipped_replay_limit == 1


def test_the_first_claim_with_a_number_wins_and_later_ones_lose() -> None:
    ours = {Identity("interactions.closed", 1, 1): 2, Identity("interactions.closed", 1, 2): 1}
    seen = [
        claim(1, 2, "other", at=0, offset=40),
        claim(1, 2, "mine", at=0, offset=41),
        claim(2, 1, "mine", at=0, offset=42),
        claim(2, 1, "other", at=0, offset=43),
        claim(2, 5, "third", at=0, offset=39),  # another number: not a rival
        letter(2, at=0, offset=38),
    ]
    assert claims_won(ours, "mine", seen) == {Identity("interactions.closed", 1, 2)}
    assert claims_won(ours, "other", seen) == {Identity("interactions.closed", 1, 1)}
    assert claims_won(ours, "mine", []) == set()


def test_claims_for_one_original_always_go_to_one_partition() -> None:
    identity = Identity("interactions.closed", 1, 7)
    assert len({claim_partition(identity, 8) for _ in range(5)}) == 1
    assert {claim_partition(Identity("t", 0, n), 8) for n in range(200)} == set(range(8))
    assert claim_partition(identity, 1) == 0
    headers = dict(claim_headers(ReplayItem(identity, letter(7, at=0), 2), "r1"))
    assert headers[CLAIM] == b"r1"
    assert headers["enricher.replays"] == b"2"
    assert headers["enricher.source_offset"] == b"7"
    assert headers["enricher.tenant"] == b"acme"
