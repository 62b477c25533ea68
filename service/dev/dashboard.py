"""What ``enricher dev`` shows while it runs, as a pure function of one snapshot.

:func:`dashboard` turns a :class:`Snapshot` (the figures of one moment) into the text a user
reads: a summary line, the per-platform table and what the vendors now hold. Two thin shells
show it. On a terminal :class:`LiveScreen` redraws it in place under the banner, so the
admin token and addresses never scroll away; anywhere else (CI, a pipe, a file)
:func:`plain_lines` gives lines that are printed one block per period.

Dev traffic sends some cut-off records on purpose, to show the DLQ at work. A new user who
sees dead letters counted would otherwise look for a fault, so the count says how many of
them are those records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

    from service.dev.devmode import Row

__all__ = [
    "DashboardView",
    "LiveScreen",
    "Snapshot",
    "Stored",
    "Totals",
    "dashboard",
    "plain_lines",
]

HEADER = (
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
_WIDTHS = (18, 10, 10, 9, 8, 6, 8, 8)
"""Plain-text column widths; the first two are left-aligned, the lane column is free."""


@dataclass(frozen=True, slots=True)
class Totals:
    """Service-wide counters, as ``/metrics`` sums them over every tenant."""

    interactions: int = 0
    consumed: int = 0
    delivered: int = 0
    held: int = 0
    retried: int = 0


@dataclass(frozen=True, slots=True)
class Stored:
    """What a vendor now holds for one interaction, private values already masked."""

    interaction_id: str
    vendor_id: str
    """The vendor's own words for the record, from the platform's dev profile."""
    fields: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class Snapshot:
    totals: Totals
    rows: Sequence[Row]
    on_purpose: Mapping[str, int] = field(default_factory=dict)
    """Per tenant, dead letters that are the sample traffic's deliberately malformed records."""
    stored: Sequence[Stored] = ()


@dataclass(frozen=True, slots=True)
class DashboardView:
    summary: str
    header: tuple[str, ...]
    rows: list[tuple[str, ...]]
    notes: list[str]
    stored: list[str]


def dashboard(snapshot: Snapshot) -> DashboardView:
    t = snapshot.totals
    dead = sum(r.dead_lettered for r in snapshot.rows)
    deliberate = sum(
        min(snapshot.on_purpose.get(r.tenant, 0), r.dead_lettered) for r in snapshot.rows
    )
    summary = (
        f"interactions {t.interactions}  consumed {t.consumed}  delivered {t.delivered}"
        f"  held {t.held}  retried {t.retried}  dead-lettered {dead}{_on_purpose(deliberate, dead)}"
    )
    rows: list[tuple[str, ...]] = [
        (
            r.platform,
            r.tenant,
            str(r.delivered),
            str(r.retried),
            str(r.parked),
            f"{r.dead_lettered}"
            + _on_purpose(
                min(snapshot.on_purpose.get(r.tenant, 0), r.dead_lettered),
                r.dead_lettered,
                short=True,
            ),
            f"{r.rate:.1f}",
            "-" if r.p99_ms is None else f"{r.p99_ms:.0f}",
            r.lane,
        )
        for r in snapshot.rows
    ]
    notes = []
    if deliberate:
        notes.append(
            "on purpose: the sample traffic sends a few cut-off records (reason not_json) to "
            "show the DLQ at work; GET /admin/dlq lists them"
        )
    stored = [
        f"{s.interaction_id} ({s.vendor_id}) now holds: "
        + ", ".join(f"{k}={v}" for k, v in sorted(s.fields.items()))
        for s in snapshot.stored
    ]
    return DashboardView(summary, HEADER, rows, notes, stored)


def _on_purpose(deliberate: int, dead: int, *, short: bool = False) -> str:
    if not deliberate:
        return ""
    if deliberate == dead:
        return " (on purpose)" if short else " (malformed on purpose)"
    return (
        f" ({deliberate} on purpose)" if short else f" ({deliberate} of them malformed on purpose)"
    )


def plain_lines(view: DashboardView) -> list[str]:
    """The view as lines for a log or a pipe: the table in fixed columns, numbers only in the
    count columns, so each row also reads well to a script."""
    lines = [view.summary, "    " + _plain(view.header)]
    for cells in view.rows:
        dead = cells[5].split(" ", 1)[0]
        lines.append("    " + _plain((*cells[:5], dead, *cells[6:])))
    lines += [f"    {note}" for note in view.notes]
    lines += [f"    {line}" for line in view.stored]
    return lines


def _plain(cells: Sequence[str]) -> str:
    out = [f"{cells[0]:<{_WIDTHS[0]}}", f"{cells[1]:<{_WIDTHS[1]}}"]
    out += [f"{c:>{w}}" for c, w in zip(cells[2:8], _WIDTHS[2:], strict=True)]
    return "".join(out) + f"  {cells[8]}"


class LiveScreen:
    """The terminal shell: the banner and the latest view, redrawn in place."""

    def __init__(self, console: Console, banner: str) -> None:
        from rich.live import Live

        self._banner = banner
        self._live: Live = Live(
            self._render(None), console=console, auto_refresh=False, transient=False
        )

    def __enter__(self) -> LiveScreen:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)

    def show(self, view: DashboardView) -> None:
        self._live.update(self._render(view), refresh=True)

    def _render(self, view: DashboardView | None) -> RenderableType:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        parts: list[RenderableType] = [Text(self._banner)]
        if view is None:
            parts.append(Text("waiting for the first figures ...", style="dim"))
            return Group(*parts)
        parts.append(Text(view.summary, style="bold"))
        table = Table(box=None, pad_edge=False, header_style="bold")
        for i, name in enumerate(view.header):
            table.add_column(name, justify="left" if i in (0, 1, 8) else "right", no_wrap=i == 8)
        for cells in view.rows:
            table.add_row(*cells)
        parts.append(table)
        parts += [Text(note, style="yellow") for note in view.notes]
        parts += [Text(line, overflow="ellipsis", no_wrap=True) for line in view.stored]
        return Group(*parts)
