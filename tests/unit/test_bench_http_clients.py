"""The pure half of the HTTP client benchmark: summaries, collapse flags and the verdict."""

from __future__ import annotations

from bench.http_clients import (
    Row,
    RunOutcome,
    Window,
    collapse_reason,
    mark_throughput_collapse,
    percentile,
    summarize,
    verdict,
)


def row(client: str, n: int, rate: float, collapsed: str = "") -> Row:
    return Row(client, n, [rate], 0.001, 0.002, 1e-4, 0.1, 0, collapsed)


def window(ok: int, seconds: float = 1.0) -> Window:
    return Window(seconds, ok, 0, 0.1, 0.01, [0.001 * (i + 1) for i in range(ok)])


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) is None


def test_rate_is_the_median_window_and_latencies_are_pooled() -> None:
    outcome = RunOutcome([window(100), window(300), window(200)], oldest_in_flight=0.0)
    summary = summarize("a", 16, outcome)
    assert summary.rate == 200
    assert summary.p99 == percentile(sorted(x for w in outcome.windows for x in w.latencies), 0.99)
    assert summary.collapsed == ""


def test_a_run_without_a_result_or_with_an_empty_window_collapsed() -> None:
    assert collapse_reason(RunOutcome(timed_out=True)) == "no result within the time cap"
    assert collapse_reason(RunOutcome([window(5), window(0)])).startswith("a window completed")
    assert collapse_reason(RunOutcome([window(5)])) == ""


def test_falling_below_half_the_best_lower_level_is_a_collapse() -> None:
    rows = mark_throughput_collapse([row("c", 1, 1200), row("c", 16, 600), row("c", 64, 124)])
    assert [bool(r.collapsed) for r in rows] == [False, False, True]


def test_verdict_needs_b_within_ten_percent_at_256_in_every_phase() -> None:
    close = [row("a", 256, 100), row("b", 256, 91)]
    short = [row("a", 256, 100), row("b", 256, 89)]
    assert "WITHIN 10%" in verdict({0.0: close, 0.05: close})
    assert "NOT within 10%" in verdict({0.0: close, 0.05: short})


def test_a_collapsed_b_never_passes() -> None:
    rows = [row("a", 256, 100), row("b", 256, 95, collapsed="no result within the time cap")]
    assert "NOT within 10%" in verdict({0.0: rows})
