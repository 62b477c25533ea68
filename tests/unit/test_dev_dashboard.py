"""The dev dashboard's content as a pure function of one snapshot: what a new user reads."""

from __future__ import annotations

import pytest

from service.dev.dashboard import Snapshot, Stored, Totals, dashboard, plain_lines
from service.dev.devmode import Row


def _row(platform: str = "nice-cxone", tenant: str = "acme", dead: int = 0) -> Row:
    return Row(tenant, platform, 12, 1, 0, dead, 2.0, 9.4, "sending, 0/16 in flight, 0 queued")


def _snapshot(**changes: object) -> Snapshot:
    base: dict[str, object] = {
        "totals": Totals(interactions=30, consumed=65, delivered=48, held=7, retried=1),
        "rows": (_row(),),
        "on_purpose": {},
        "stored": (),
    }
    return Snapshot(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rows", "on_purpose", "summary_ends", "dead_cells", "has_note"),
    [
        ((_row(),), {}, "dead-lettered 0", ["0"], False),
        (
            (_row(dead=2), _row("8x8", "eightco", dead=1)),
            {"acme": 1, "eightco": 1},
            "dead-lettered 3 (2 of them malformed on purpose)",
            ["2 (1 on purpose)", "1 (on purpose)"],
            True,
        ),
        (
            (_row(dead=1),),
            {"acme": 1},
            "dead-lettered 1 (malformed on purpose)",
            ["1 (on purpose)"],
            True,
        ),
    ],
    ids=["no-dead-letters", "some-on-purpose", "all-on-purpose"],
)
def test_dead_letters_sent_on_purpose_are_said_to_be(
    rows: tuple[Row, ...],
    on_purpose: dict[str, int],
    summary_ends: str,
    dead_cells: list[str],
    has_note: bool,
) -> None:
    view = dashboard(_snapshot(rows=rows, on_purpose=on_purpose))
    assert view.summary.endswith(summary_ends)
    dead = view.header.index("dead")
    assert [cells[dead] for cells in view.rows] == dead_cells
    assert any("on purpose" in note and "/admin/dlq" in note for note in view.notes) is has_note


def test_rows_show_every_column_a_user_reads() -> None:
    view = dashboard(_snapshot(rows=(Row("acme", "nice-cxone", 12, 1, 0, 0, 2.04, None, "-"),)))
    assert view.header == (
        "platform",
        "tenant",
        "delivered",
        "retried",
        "parked",
        "dead",
        "rate/s",
        "p99 ms",
        "lane",
    )
    assert view.rows == [("nice-cxone", "acme", "12", "1", "0", "0", "2.0", "-", "-")]
    assert view.summary.startswith("interactions 30  consumed 65  delivered 48  held 7  retried 1")


def test_stored_data_is_shown_by_interaction_id_with_the_vendor_id_beside_it() -> None:
    stored = Stored("call-000005", "NICE contact 1000005", {"Vip": True, "Sentiment": "neg"})
    view = dashboard(_snapshot(stored=(stored,)))
    assert view.stored == ["call-000005 (NICE contact 1000005) now holds: Sentiment=neg, Vip=True"]


def test_plain_lines_keep_the_table_columns_aligned_and_numeric() -> None:
    view = dashboard(_snapshot(rows=(_row(dead=2),), on_purpose={"acme": 2}))
    lines = plain_lines(view)
    assert lines[0] == view.summary
    assert lines[1].split() == " ".join(view.header).split()
    assert lines[2].split()[:6] == ["nice-cxone", "acme", "12", "1", "0", "2"]
    assert any("on purpose" in line for line in lines[3:])
