"""Who gives way when the pipeline is full: the fair-share rule alone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from service.delivery.fair_share import Holdings, excess_over_share


def test_a_tenant_over_its_share_gives_back_down_to_it_for_a_tenant_under_its_share() -> None:
    assert excess_over_share({"slow": 2048}, "fast", 2048) == {"slow": 1024}
    assert excess_over_share({"slow": 2000, "fast": 48}, "fast", 2048) == {"slow": 976}


def test_one_tenant_filling_the_pipeline_alone_is_back_pressure_not_a_reason_to_park() -> None:
    assert excess_over_share({"slow": 2048}, "slow", 2048) == {}
    assert excess_over_share({"slow": 2048, "idle": 0}, "slow", 2048) == {}
    assert excess_over_share({}, "slow", 2048) == {}


def test_a_waiting_tenant_at_or_over_its_share_takes_nothing_from_others() -> None:
    assert excess_over_share({"a": 1000, "b": 1048}, "b", 2048) == {}  # b has more than half
    assert excess_over_share({"a": 1100, "b": 900, "c": 48}, "a", 2048) == {}


def test_every_tenant_over_the_share_gives_back_and_none_under_it() -> None:
    excess = excess_over_share({"a": 1100, "b": 900, "c": 48}, "c", 2048)
    assert excess == {"a": 1100 - 682, "b": 900 - 682}


def test_a_waiting_record_of_an_unknown_tenant_counts_as_a_sharer() -> None:
    assert excess_over_share({"slow": 8}, "unknown", 8) == {"slow": 4}


@given(
    st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 5000), max_size=6),
    st.sampled_from("abcdefg"),
    st.integers(1, 10_000),
)
def test_nobody_is_taken_below_the_share_and_the_waiting_tenant_never_gives_back(
    holdings: dict[str, int], waiting: str, capacity: int
) -> None:
    excess = excess_over_share(holdings, waiting, capacity)
    sharers = {t for t, held in holdings.items() if held > 0} | {waiting}
    fair = max(1, capacity // len(sharers))
    assert waiting not in excess
    for tenant, records in excess.items():
        assert records > 0
        assert holdings[tenant] - records == fair
    if excess:
        assert holdings.get(waiting, 0) < fair
        assert len(sharers) > 1


def test_holdings_forget_a_tenant_that_holds_nothing() -> None:
    """The fair share walks the counts on every full-pipeline admission: a tenant seen once
    must not stay in them, or the walk grows with every tenant ever configured."""
    holdings = Holdings()
    holdings.add("acme")
    holdings.add("acme", 2)
    holdings.add("globex")
    holdings.remove("acme")
    assert holdings.counts == {"acme": 2, "globex": 1}
    holdings.remove("globex")
    holdings.remove("acme", 2)
    assert holdings.counts == {}
