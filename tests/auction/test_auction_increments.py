"""Increment tables, percentage increments and "every bid is a maximum" (issue 17), by example
on explicit times, through decide/apply as the house runs them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auctionhouse.auction import IncrementBand, Method, Rules, public_event, public_view
from auctionhouse.errors import BidTooLow, InvalidRules

from .helpers import T0, Run

# eBay's published table, in cents: under 1.00 +0.05, under 5.00 +0.25, under 25.00 +0.50,
# under 100.00 +1.00, above +2.50.
EBAY = [
    {"below": 100, "increment": 5},
    {"below": 500, "increment": 25},
    {"below": 2500, "increment": 50},
    {"below": 10000, "increment": 100},
    {"increment": 250},
]


def english(**rules: object) -> Run:
    return Run(Method.ENGLISH, Rules.from_dict({"duration": 600, **rules}))


@pytest.mark.parametrize(
    ("price", "step"),
    [
        (0, 5),
        (99, 5),
        (100, 25),
        (499, 25),
        (500, 50),
        (2499, 50),
        (2500, 100),
        (9999, 100),
        (10000, 250),
        (10**9, 250),
    ],
)
def test_the_increment_follows_the_price_band(price: int, step: int) -> None:
    assert Rules.from_dict({"increment_table": EBAY}).increment_at(price) == step


def test_a_table_without_an_open_band_keeps_its_last_increment_above_it() -> None:
    rules = Rules.from_dict({"increment_table": [{"below": 100, "increment": 5}]})
    assert rules.increment_at(50) == 5
    assert rules.increment_at(5000) == 5


def test_min_increment_stays_the_least_raise() -> None:
    rules = Rules.from_dict({"increment_table": EBAY, "min_increment": 30})
    assert rules.increment_at(0) == 30  # the band says 5
    assert rules.increment_at(600) == 50


@pytest.mark.parametrize(
    ("pct", "price", "step"),
    [(5, 1000, 50), (5, 1001, 51), (10, 0, 1), (2.5, 400, 10), (0.1, 1000, 1), (1.1, 1000, 11)],
)
def test_a_percentage_increment_is_exact_and_rounds_up(pct: float, price: int, step: int) -> None:
    # 1.1% of 1000 is 11 exactly; a float product (11.000000000000002) would make it 12.
    assert Rules.from_dict({"increment_percent": pct}).increment_at(price) == step


def test_english_bids_follow_the_table() -> None:
    run = english(starting_price=90, increment_table=EBAY)
    run.bid("alice", 90, T0)
    assert public_view(run.state, T0)["min_next_bid"] == 95  # under 1.00: +0.05
    assert isinstance(run.try_bid("bob", 94, T0 + 1), BidTooLow)
    run.bid("bob", 95, T0 + 1)
    run.bid("carol", 100, T0 + 2)
    assert public_view(run.state, T0 + 2)["min_next_bid"] == 125  # now under 5.00: +0.25
    err = run.try_bid("alice", 120, T0 + 3)
    assert isinstance(err, BidTooLow) and err.fields["minimum"] == 125


def test_a_proxy_answers_by_the_band_of_the_price_it_sets() -> None:
    run = english(starting_price=100, increment_table=EBAY)
    run.bid("alice", 100, T0, proxy_max=3000)
    run.bid("bob", 2450, T0 + 1)  # under 25.00: alice answers 0.50 above
    assert (run.state.price, run.state.leader) == (2500, "alice")
    run.bid("bob", 2600, T0 + 2, proxy_max=5000)  # bob's maximum beats 30.00 by one band step
    assert (run.state.price, run.state.leader) == (3100, "bob")


def test_percentage_increment_in_bids() -> None:
    run = english(starting_price=1000, increment_percent=10)
    run.bid("alice", 1000, T0)
    err = run.try_bid("bob", 1099, T0 + 1)
    assert isinstance(err, BidTooLow) and err.fields["minimum"] == 1100


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ({"increment_table": []}, "increment_table"),
        ({"increment_table": "5"}, "increment_table"),
        ({"increment_table": [{"below": 100}]}, "increment_table"),
        ({"increment_table": [{"below": 100, "increment": 0}]}, "increment_table"),
        ({"increment_table": [{"below": 100, "increment": 1.5}]}, "increment_table"),
        ({"increment_table": [{"below": 100, "increment": 5, "x": 1}]}, "increment_table"),
        (
            {"increment_table": [{"below": 500, "increment": 5}, {"below": 100, "increment": 5}]},
            "increment_table",
        ),
        (
            {"increment_table": [{"increment": 5}, {"below": 100, "increment": 5}]},
            "increment_table",
        ),
        ({"increment_table": [{"below": True, "increment": 5}]}, "increment_table"),
        ({"increment_table": [{"below": 0, "increment": 5}]}, "increment_table"),
        ({"increment_percent": 0}, "increment_percent"),
        ({"increment_percent": -5}, "increment_percent"),
        ({"increment_percent": 101}, "increment_percent"),
        ({"increment_percent": float("nan")}, "increment_percent"),
        ({"increment_percent": "5"}, "increment_percent"),
        ({"increment_percent": 5, "increment_table": EBAY}, "increment_percent"),
        ({"bids_are_maxima": "yes"}, "bids_are_maxima"),
        ({"currency": "eur"}, "currency"),
    ],
)
def test_bad_increments_are_refused_naming_the_field(rules: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRules) as info:
        Rules.from_dict({"duration": 60, **rules}).for_method(Method.ENGLISH, T0)
    assert info.value.code == "invalid_rules"
    assert info.value.fields["field"] == field


@pytest.mark.parametrize("method", [Method.DUTCH, Method.FPSB, Method.VICKREY])
@pytest.mark.parametrize(
    "rule",
    [{"increment_table": EBAY}, {"increment_percent": 5}, {"bids_are_maxima": True}],
)
def test_english_only_rules_are_refused_elsewhere(method: Method, rule: dict[str, object]) -> None:
    base = {"duration": 60, "decrement": 1} if method is Method.DUTCH else {"duration": 60}
    with pytest.raises(InvalidRules) as info:
        Rules.from_dict({**base, **rule}).for_method(method, T0)
    assert info.value.fields["field"] == next(iter(rule))


def test_new_rules_round_trip_and_are_left_out_while_unset() -> None:
    # A field added later is omitted while unset: older events keep their canonical bytes.
    assert set(Rules().to_dict()).isdisjoint(
        {"increment_table", "increment_percent", "bids_are_maxima", "currency"}
    )
    rules = Rules.from_dict({"increment_table": EBAY, "bids_are_maxima": True, "currency": "JPY"})
    assert rules.increment_table is not None
    assert rules.increment_table[0] == IncrementBand(100, 5)
    assert rules.to_dict()["increment_table"][-1] == {"below": None, "increment": 250}
    assert Rules.from_dict(rules.to_dict()) == rules


def test_the_view_shows_the_increments_and_the_currency() -> None:
    run = english(increment_table=EBAY, bids_are_maxima=True, currency="JPY")
    view = public_view(run.state, T0)
    assert view["currency"] == "JPY"
    assert view["rules"]["increment_table"][0] == {"below": 100, "increment": 5}
    assert view["rules"]["bids_are_maxima"] is True
    assert public_view(english().state, T0)["currency"] == "EUR"  # before currencies: the default


# --------------------------------------------------------------------------- every bid is a max


def test_every_bid_is_a_maximum_the_house_bids_the_least_needed() -> None:
    run = english(starting_price=100, min_increment=10, bids_are_maxima=True)
    [first] = run.bid("alice", 1000, T0)
    assert (run.state.price, run.state.leader) == (100, "alice")  # not 1000
    # Public: the amount of a maximum is secret, as a proxy's.
    assert public_event(first, Method.ENGLISH, False)["amount"] is None
    run.bid("bob", 500, T0 + 1)  # alice's maximum answers one increment above
    assert (run.state.price, run.state.leader) == (510, "alice")
    run.bid("bob", 1200, T0 + 2)  # bob takes the lead at alice's maximum plus one increment
    assert (run.state.price, run.state.leader) == (1010, "bob")
    assert run.state.maxima == {"alice": 1000, "bob": 1200}
    run.bid("alice", 1100, T0 + 3)  # not enough: bob's maximum answers
    assert (run.state.price, run.state.leader) == (1110, "bob")


def test_plain_bids_without_the_option_set_the_price_to_the_amount() -> None:
    run = english(starting_price=100, min_increment=10)
    run.bid("alice", 1000, T0)
    assert run.state.price == 1000


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(1, 5000)), min_size=1, max_size=25
    )
)
def test_every_bid_is_a_maximum_equals_proxy_bids(bids: list[tuple[str, int]]) -> None:
    """A plain bid under the option does what the same bid as a proxy at the least amount does."""
    with_option = english(starting_price=1, increment_table=EBAY, bids_are_maxima=True)
    as_proxies = english(starting_price=1, increment_table=EBAY)
    for i, (who, amount) in enumerate(bids):
        first = with_option.try_bid(who, amount, T0 + i)
        least = public_view(as_proxies.state, T0 + i)["min_next_bid"]
        second = as_proxies.try_bid(who, min(least, amount), T0 + i, proxy_max=amount)
        assert (first is None) == (second is None)
        assert (with_option.state.price, with_option.state.leader) == (
            as_proxies.state.price,
            as_proxies.state.leader,
        )
