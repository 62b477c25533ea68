"""How dead letters are selected and paged: the time forms, the filter and the cursor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from service.admin.models import DeadLetterQuery, ReplayRequest
from service.admin.selection import (
    Cursor,
    dead_letter_filter,
    exact_moment,
    page_of,
    parse_moment,
)
from service.delivery.dlq_reader import DeadLetterRecord

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("24h", NOW - timedelta(hours=24)),
        ("90", NOW - timedelta(seconds=90)),
        ("500ms", NOW - timedelta(milliseconds=500)),
        ("2026-11-20T08:00:00Z", datetime(2026, 11, 20, 8, tzinfo=UTC)),
        ("2026-11-20t08:00:00z", datetime(2026, 11, 20, 8, tzinfo=UTC)),
        ("2026-11-20T09:00:00+01:00", datetime(2026, 11, 20, 8, tzinfo=UTC)),
        ("2026-11-20T08:00", datetime(2026, 11, 20, 8, tzinfo=UTC)),
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("999999999d", datetime.min.replace(tzinfo=UTC)),
        ("0001-01-01T00:00:00+01:00", datetime.min.replace(tzinfo=UTC)),
        ("", None),
        (None, None),
    ],
)
def test_a_moment_is_a_duration_ago_or_an_iso_time(text: str | None, moment: datetime) -> None:
    assert parse_moment(text, NOW) == moment


@pytest.mark.parametrize("text", ["yesterday", "1e5", "2026-13-45", "24 hours", "-5m"])
def test_an_unreadable_moment_says_which_forms_work(text: str) -> None:
    with pytest.raises(ValueError, match=r"neither an ISO time .* nor a duration ago"):
        parse_moment(text, NOW)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("24h", True),
        ("2026-11-20T08:00:00Z", True),
        ("2026-11-20T08:00:00.123456789+05:30", True),
        ("2026-11-20T08:00:00", False),
        ("2026-11-20T08:00Z", False),
        ("2026-11-20", False),
        ("2026-02-30T08:00:00Z", False),
        (" 24h", False),
        ("24 h", False),
    ],
)
def test_the_http_api_takes_only_durations_and_rfc3339_times(text: str, ok: bool) -> None:
    if ok:
        assert exact_moment(text) == text
    else:
        with pytest.raises(ValueError, match="RFC 3339"):
            exact_moment(text)


@given(st.datetimes(timezones=st.just(UTC)))
def test_every_rfc3339_time_is_taken_and_read_back(moment: datetime) -> None:
    text = moment.isoformat()
    assert exact_moment(text) == text
    assert parse_moment(text, NOW) == moment


def test_empty_filters_select_everything_and_a_backwards_window_nothing() -> None:
    selection = dead_letter_filter(tenant="", platform=None, reason="", interaction_id="")
    assert selection.tenant is selection.reason is selection.interaction_id is None
    assert selection.matches(record(1, 0))
    backwards = dead_letter_filter(since=NOW, until=NOW - timedelta(hours=1))
    assert not backwards.matches(record(1, int((NOW - timedelta(minutes=30)).timestamp() * 1000)))


def test_the_query_models_turn_into_the_same_filter_as_the_command_line() -> None:
    query = DeadLetterQuery(tenant="acme", platform="8x8", interaction="i-1", since="1h")
    assert query.to_filter(NOW) == dead_letter_filter(
        tenant="acme", platform="8x8", interaction_id="i-1", since=NOW - timedelta(hours=1)
    )
    with pytest.raises(ValidationError, match=r"Extra inputs"):
        ReplayRequest.model_validate({"tenat": "acme"})
    with pytest.raises(ValidationError, match="valid boolean"):
        ReplayRequest.model_validate({"dry_run": "no"})
    assert ReplayRequest.model_validate({"max_replays": 5.0}).max_replays == 5
    for not_a_count in ("5", True, 5.5):
        with pytest.raises(ValidationError, match="valid integer"):
            ReplayRequest.model_validate({"max_replays": not_a_count})


def record(offset: int, timestamp_ms: int, partition: int = 0) -> DeadLetterRecord:
    return DeadLetterRecord(partition, offset, timestamp_ms, b"acme:i", b"{}", ())


@pytest.mark.parametrize("text", ["", "1.2", "a.b.c", "1.2.3.4", "-1.2.3", "1.2.3 "])
def test_a_cursor_is_only_what_a_page_handed_out(text: str) -> None:
    with pytest.raises(ValueError, match="not a cursor"):
        Cursor.parse(text)


def test_a_cursor_reads_back_as_itself() -> None:
    cursor = Cursor(1_763_632_800_000, 3, 42)
    assert Cursor.parse(str(cursor)) == cursor


@given(
    st.lists(
        st.tuples(st.integers(0, 50), st.integers(0, 3), st.integers(0, 10_000)),
        unique=True,
        max_size=40,
    ),
    st.integers(1, 7),
)
def test_pages_cover_every_record_once_in_order(
    keys: list[tuple[int, int, int]], limit: int
) -> None:
    records = [record(offset, ts, partition) for ts, partition, offset in keys]
    seen: list[DeadLetterRecord] = []
    after = None
    for _ in range(len(records) + 1):
        page = page_of(records, limit=limit, after=after)
        assert page.matching == len(records)
        assert len(page.records) <= limit
        seen += page.records
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert seen == sorted(records, key=lambda r: (r.timestamp_ms, r.partition, r.offset))
