"""The stored document: every backend writes the same text, and it reads back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
from hypothesis import given
from hypothesis import strategies as st

from service.ledger.codec import decode_entry, encode_entry
from service.merge import FieldState, LedgerEntry

moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
) | st.datetimes(timezones=st.just(timezone(timedelta(hours=2))), min_value=datetime(1, 1, 2))
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.lists(st.text(max_size=5), max_size=3).map(tuple),
)
states = st.builds(FieldState, values, moments, st.text(min_size=1, max_size=12))
entries = st.builds(
    LedgerEntry,
    tenant=st.just("acme"),
    interaction_id=st.text(min_size=1, max_size=12),
    revision=st.integers(0, 1000),
    fields=st.dictionaries(st.text(min_size=1, max_size=8), states, max_size=4),
    routing=st.dictionaries(st.sampled_from(["ref.contact_id", "channel"]), states),
    closed=st.none() | states,
    delivered=st.dictionaries(st.sampled_from(["nice-cxone", "genesys-gws"]), st.integers(0, 9)),
    created_at=st.none() | moments,
    updated_at=st.none() | moments,
)


def _as_iso_text(entry: LedgerEntry) -> bytes:
    """The document as first specified: every time written with ``datetime.isoformat``."""

    def state(s: FieldState) -> list[object]:
        return [s.value, s.at.isoformat(), s.event_id]

    return orjson.dumps(
        {
            "tenant": entry.tenant,
            "interaction_id": entry.interaction_id,
            "revision": entry.revision,
            "fields": {k: state(v) for k, v in entry.fields.items()},
            "routing": {k: state(v) for k, v in entry.routing.items()},
            "closed": state(entry.closed) if entry.closed else None,
            "delivered": dict(entry.delivered),
            "created_at": entry.created_at.isoformat() if entry.created_at else None,
            "updated_at": entry.updated_at.isoformat() if entry.updated_at else None,
        }
    )


@given(entries)
def test_documents_keep_their_text_and_read_back_unchanged(entry: LedgerEntry) -> None:
    """Entries written before the encoder handed times to orjson must stay byte-identical,
    so a Redis compare-and-set and a rolling upgrade see no spurious change."""
    encoded = encode_entry(entry)
    assert encoded == _as_iso_text(entry)
    assert decode_entry(encoded) == entry
