"""The collector thresholds the entry point sets (see service.gc_tuning for the measurement)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from service.gc_tuning import THRESHOLDS, tune_collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restored_collector")
def test_tuning_raises_the_thresholds_and_freezes_what_start_up_left() -> None:
    survivor = [object() for _ in range(10)]
    tune_collector()
    assert gc.get_threshold() == THRESHOLDS
    assert gc.get_freeze_count() > 0
    assert THRESHOLDS[0] > 700  # the default this tuning exists to replace
    del survivor
