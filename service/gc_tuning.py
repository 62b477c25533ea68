"""Garbage-collector thresholds for a process that keeps thousands of records in flight.

With CPython's defaults (a young-generation collection every 700 net allocations) every record
in flight, with its task, futures, request and ledger entry, lives through several collections,
is promoted, and makes the full collections that follow walk a heap of mostly live objects. The
engine benchmark (``python -m bench.engine --only 1``) measured the collector at about 40% of
the service's CPU: 645 µs of CPU per delivery with the defaults, 318 µs with the thresholds
below. Almost everything the service frees is freed by reference counting; the collector is
only needed for cycles, which the rarer collections still find.

Objects alive after start-up (modules, compiled schemas, settings) are moved to the permanent
generation, so no full collection walks them again.
"""

from __future__ import annotations

import gc

__all__ = ["THRESHOLDS", "tune_collector"]

THRESHOLDS = (100_000, 50, 100)
"""Young collections every 100,000 net allocations; a middle one every 50 of those; a full one
every 100 middle ones (about every few minutes at full load), so cycles never pile up for
long."""


def tune_collector() -> None:
    """Called once, by the process's entry point, after start-up and before the work begins."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
