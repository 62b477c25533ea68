from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from service.events import Event
from service.merge import LedgerEntry, mark_delivered, merge_event
from tests.unit.factories import T0, analytics, closed

NOW = T0 + timedelta(hours=1)


def fold(events: list[Event]) -> LedgerEntry | None:
    entry = None
    for event in events:
        entry = merge_event(entry, event, NOW).entry
    return entry


def test_closed_then_analytics_merges_both() -> None:
    entry = fold([closed(fields={"crm": "A-1"}), analytics(fields={"sentiment.label": "neg"})])
    assert entry is not None
    assert entry.field_values() == {"crm": "A-1", "sentiment.label": "neg"}
    assert entry.is_closed
    assert entry.closed_at == T0
    assert entry.ref() == {"contact_id": "8675309"}
    assert entry.routing_value("channel") == "voice"
    assert entry.revision == 2


def test_repeated_event_changes_nothing() -> None:
    first = merge_event(None, closed(fields={"crm": "A-1"}), NOW)
    again = merge_event(first.entry, closed(fields={"crm": "A-1"}), NOW)
    assert not again.changed
    assert again.entry is first.entry


def test_older_value_never_overwrites_newer_whatever_the_arrival_order() -> None:
    newer = analytics("e2", T0 + timedelta(minutes=5), {"sentiment.label": "positive"})
    older = analytics("e1", T0 + timedelta(minutes=1), {"sentiment.label": "negative"})
    entry = fold([newer, older])
    assert entry is not None
    assert entry.field_values()["sentiment.label"] == "positive"
    assert entry.revision == 1  # the older event changed nothing


def test_ties_on_time_go_to_the_larger_event_id() -> None:
    a = analytics("aaa", T0, {"x": 1})
    b = analytics("bbb", T0, {"x": 2})
    assert fold([a, b]).field_values()["x"] == 2  # type: ignore[union-attr]
    assert fold([b, a]).field_values()["x"] == 2  # type: ignore[union-attr]


def test_analytics_before_close_leaves_the_entry_open() -> None:
    entry = fold([analytics(fields={"x": 1})])
    assert entry is not None
    assert not entry.is_closed
    assert entry.pending_for("nice-cxone")


def test_delivered_revision_never_moves_back() -> None:
    entry = fold([closed(fields={"x": 1})])
    assert entry is not None
    later = mark_delivered(entry, "nice-cxone", 3)
    assert mark_delivered(later, "nice-cxone", 2) is later
    assert later.delivered == {"nice-cxone": 3}


# -- properties --------------------------------------------------------------------------

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.text(max_size=3),
    st.tuples(st.integers(0, 3)),
)
field_maps = st.dictionaries(st.sampled_from(["a", "b", "c.d", "e"]), values, max_size=3)


@st.composite
def event_lists(draw: st.DrawFn) -> list[Event]:
    count = draw(st.integers(1, 8))
    events = []
    for index in range(count):
        at = T0 + timedelta(seconds=draw(st.integers(0, 5)))
        fields = draw(field_maps)
        if draw(st.booleans()):
            ref = draw(st.sampled_from([{"contact_id": "1"}, {"contact_id": "2"}, {}]))
            events.append(closed(f"c{index}", at, fields, ref))
        else:
            events.append(analytics(f"a{index}", at, fields))
    return events


def observable(entry: LedgerEntry | None) -> object:
    assert entry is not None
    return (entry.field_values(), entry.ref(), entry.closed_at, entry.routing_value("status"))


@given(event_lists(), st.randoms(use_true_random=False))
def test_any_permutation_gives_the_same_merged_entry(events: list[Event], rnd: object) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert observable(fold(events)) == observable(fold(shuffled))


@given(event_lists(), st.data())
def test_redelivering_any_event_changes_nothing(events: list[Event], data: st.DataObject) -> None:
    entry = fold(events)
    repeat = data.draw(st.sampled_from(events))
    again = merge_event(entry, repeat, NOW)
    assert not again.changed
    assert again.entry.revision == entry.revision  # type: ignore[union-attr]


@given(event_lists())
def test_revision_counts_only_real_changes(events: list[Event]) -> None:
    entry = None
    changes = 0
    for event in events:
        result = merge_event(entry, event, NOW)
        changes += result.changed
        entry = result.entry
    assert entry is not None
    assert entry.revision == changes


@given(event_lists())
def test_a_first_merge_is_the_general_merge_into_an_empty_entry(events: list[Event]) -> None:
    """The new-interaction shortcut must build exactly what merging into nothing builds."""
    for event in events:
        empty = LedgerEntry(
            tenant=event.tenant, interaction_id=event.interaction_id, created_at=NOW, updated_at=NOW
        )
        assert merge_event(None, event, NOW) == merge_event(empty, event, NOW)
