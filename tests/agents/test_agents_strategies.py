"""Each bidder strategy's decisions, on views at chosen times (no house, no clock to wait on)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from auctionhouse.agents.bidding import REGISTRY, make_strategy
from auctionhouse.agents.market import Bid, MarketView
from auctionhouse.agents.selling import Listing, auction_rules, make_seller_strategy
from auctionhouse.errors import ConfigError

T0 = 1_000_000.0


def view(method: str = "english", **changes: Any) -> MarketView:
    base = MarketView(
        auction_id="1",
        item="lamp",
        method=method,
        state="open",
        seller="seller",
        starting_price=1_000,
        min_increment=100,
        decrement=100 if method == "dutch" else 0,
        tick_seconds=1.0,
        opens_at=T0,
        closes_at=T0 + 100,
        close_due_at=T0 + 100,
        expected_bids=None,
        max_bidders=None,
        has_reserve=False,
        reserve_met=None,
        price=None,
        leader=None,
        min_next_bid=1_000,
        bid_count=0,
        bidder_count=0,
        seq=1,
        result=None,
        seen_at=T0,
        me="me",
        value=10_000,
        budget=1_000_000,
    )
    return replace(base, **changes)


def strategy(name: str, seed: int = 0, **params: Any) -> Any:
    return make_strategy(name, params, np.random.default_rng(seed))


def test_every_named_strategy_is_registered() -> None:
    assert {
        "truthful",
        "equilibrium",
        "smart",
        "market-value",
        "aggressive",
        "conservative",
        "sarl",
        "fuzzy-genetic",
    } <= set(REGISTRY)


def test_truthful_bids_its_value_as_a_proxy_maximum_and_sealed() -> None:
    s = strategy("truthful")
    assert s.decide(view(), T0 + 1) == Bid(1_000, proxy_max=10_000)
    assert s.decide(view("vickrey"), T0 + 1) == Bid(10_000)
    assert s.decide(view("fpsb", my_bids=(10_000,)), T0 + 1) is None  # one sealed bid only
    # the leader does not bid against itself; above its value it stops
    assert s.decide(view(leader="me", price=5_000, min_next_bid=5_100), T0) is None
    assert s.decide(view(leader="x", price=10_000, min_next_bid=10_100), T0) is None


@pytest.mark.parametrize("n", [2, 3, 4, 10])
def test_equilibrium_shades_to_n_minus_1_over_n_in_fpsb_and_dutch(n: int) -> None:
    s = strategy("equilibrium", bidders=n)
    assert s.decide(view("fpsb"), T0) == Bid(10_000 * (n - 1) // n)
    # Dutch: waits while the clock is above (n-1)/n of the value, then accepts
    high = view("dutch", price=20_000, min_next_bid=20_000)
    assert s.decide(high, T0) is None
    low = view("dutch", price=10_000 * (n - 1) // n, min_next_bid=10_000 * (n - 1) // n)
    assert s.decide(low, T0) == Bid(10_000 * (n - 1) // n)
    # truthful in Vickrey and English
    assert s.decide(view("vickrey"), T0) == Bid(10_000)
    assert s.decide(view(), T0) == Bid(1_000, proxy_max=10_000)


def test_equilibrium_takes_n_from_the_auction_when_not_given() -> None:
    assert strategy("equilibrium").decide(view("fpsb", expected_bids=5), T0) == Bid(8_000)


def test_dutch_accept_follows_the_clock_between_views() -> None:
    # seen at 15000 at T0+0.5; the clock falls 100 a second: at T0+50.5 it is 10000
    v = view("dutch", price=15_000, min_next_bid=15_000, seen_at=T0 + 0.5, value=10_000)
    s = strategy("truthful")
    assert s.decide(v, T0 + 49.6) is None
    assert s.decide(v, T0 + 50.5) == Bid(10_000)


def test_smart_bid_rises_as_time_runs_out_and_never_passes_its_budget() -> None:
    s = strategy("smart")
    limits = [s.limit(view(), T0 + t) for t in range(0, 101, 5)]
    assert limits == sorted(limits), "the smart limit never falls as the close nears"
    assert limits[0] == 8_000 and limits[-1] == 11_000  # 0.8 at the opening, 1.1 all in at the end
    # it bids only while the next minimum is within the limit of the moment
    mid = view(leader="x", price=8_500, min_next_bid=8_600)
    assert s.decide(mid, T0 + 10) is None  # limit 8200
    assert s.decide(mid, T0 + 50) == Bid(8_600)  # limit 9000
    # all in near the end, but within the budget
    late = view(leader="x", price=10_400, min_next_bid=10_500, budget=10_450)
    assert s.decide(late, T0 + 95) is None
    assert s.decide(replace(late, budget=20_000), T0 + 95) == Bid(10_500)
    for t in range(0, 101):
        for budget in (500, 7_000, 9_999, 50_000):
            d = s.decide(view(budget=budget, min_next_bid=100), T0 + t)
            assert d is None or d.amount <= budget


def test_smart_with_seed_000_curve_and_estimators() -> None:
    seed_curve = strategy("smart", high=1.2, final=1.1, window=60)
    assert seed_curve.limit(view(closes_at=T0 + 300, close_due_at=T0 + 300), T0 + 120) == 9_600
    assert seed_curve.limit(view(closes_at=T0 + 300, close_due_at=T0 + 300), T0 + 250) == 11_000
    aggressive = strategy("smart", estimator="aggressive")
    conservative = strategy("smart", estimator="conservative")
    assert aggressive.limit(view(), T0 + 99) > strategy("smart").limit(view(), T0 + 99)
    assert conservative.limit(view(), T0 + 99) < strategy("smart").limit(view(), T0 + 99)
    # sealed: the smart bidder waits for the last window, then bids all in
    assert strategy("smart").decide(view("fpsb"), T0 + 50) is None
    assert strategy("smart").decide(view("fpsb"), T0 + 90) == Bid(11_000)


def test_market_value_aggressive_conservative() -> None:
    outbid = view(leader="x", price=5_000, min_next_bid=5_100)
    assert strategy("market-value").decide(outbid, T0) == Bid(5_100)
    assert strategy("aggressive").decide(outbid, T0) == Bid(5_600)  # jump 5% of the value
    assert strategy("conservative").decide(outbid, T0) == Bid(5_100)
    high = view(leader="x", price=9_000, min_next_bid=9_100)
    assert strategy("conservative").decide(high, T0) is None  # 0.85 x 10000
    assert strategy("market-value").decide(high, T0) == Bid(9_100)
    top = view(leader="x", price=10_500, min_next_bid=10_600)
    assert strategy("aggressive").decide(top, T0) == Bid(11_000)  # capped at its 1.1 limit
    assert strategy("aggressive").decide(replace(top, budget=10_599), T0) is None


def test_sarl_raises_by_up_to_50_under_its_maximum_and_repeats_with_its_seed() -> None:
    v = view(leader="x", price=5_000, min_next_bid=5_001, value=60_000, min_increment=1)
    amounts = [strategy("sarl", seed=3).decide(v, T0) for _ in range(2)]
    assert amounts[0] == amounts[1]  # same seed, same raise
    s = strategy("sarl", seed=4)
    raises = [s.decide(v, T0).amount - 5_000 for _ in range(200)]  # type: ignore[union-attr]
    assert min(raises) >= 1 and max(raises) <= 5_000 and len(set(raises)) > 50
    assert s.decide(replace(v, value=5_000), T0) is None  # nothing under its maximum
    assert s.decide(replace(v, leader="me"), T0) is None  # the leader keeps quiet


def test_budget_caps_every_strategy() -> None:
    for name in ("truthful", "equilibrium", "smart", "market-value", "aggressive", "conservative"):
        s = strategy(name)
        for method in ("english", "dutch", "fpsb", "vickrey"):
            d = s.decide(view(method, budget=3_000, price=2_000, min_next_bid=1_000), T0 + 99)
            assert d is not None and max(d.amount, d.proxy_max or 0) <= 3_000, (name, method)


def test_closed_or_unopened_auctions_get_no_bid() -> None:
    for name in REGISTRY:
        if name == "fuzzy-genetic":
            continue
        s = strategy(name)
        assert s.decide(view(state="scheduled"), T0) is None
        assert s.decide(view(state="closed"), T0) is None


def write_strategy(tmp_path: Path, role: str, chromosomes: dict[str, str], method: str) -> Path:
    doc = {
        "kind": "fuzzy-genetic",
        "version": 1,
        "role": role,
        "method": method,
        "values": "pv",
        "alleles": 5,
        "sets": [3, 3, 2],
        "ranges": {"v": [100, 200], "r": [0, 50], "s": [10, 20]},
        "chromosomes": chromosomes,
    }
    path = tmp_path / f"{role}.json"
    path.write_text(json.dumps(doc))
    return path


def test_fuzzy_genetic_bidder_follows_its_chromosome(tmp_path: Path) -> None:
    from auctionhouse.sim.fuzzy import decide
    from auctionhouse.sim.strategy_file import load_strategy

    path = write_strategy(tmp_path, "bidder", {"bid": "234234234"}, "fpsb")
    s = strategy("fuzzy-genetic", file=str(path), range=40)
    expected = decide(load_strategy(path), v=150, r=40)["amount"] * 100
    assert s.decide(view("fpsb", value=15_000), T0) == Bid(expected)
    assert s.decide(view(value=15_000), T0) == Bid(1_000, proxy_max=expected)
    high = strategy(
        "fuzzy-genetic", file=str(write_strategy(tmp_path, "bidder", {"bid": "4" * 9}, "fpsb"))
    )
    low = strategy(
        "fuzzy-genetic", file=str(write_strategy(tmp_path, "bidder", {"bid": "0" * 9}, "fpsb"))
    )
    assert high.limit(view(value=15_000), T0) > low.limit(view(value=15_000), T0)


def test_fuzzy_genetic_seller_sets_reserve_and_starting_price(tmp_path: Path) -> None:
    path = write_strategy(tmp_path, "seller", {"reserve": "0" * 9, "starting": "4" * 9}, "english")
    seller = make_seller_strategy("fuzzy-genetic", {"file": str(path), "range": 40})
    prices = seller.choose(Listing("vase", "english", 15_000))
    assert prices.reserve_price is None or prices.reserve_price == 13_000  # v - r/2
    assert prices.starting_price == 17_000  # v + r/2
    with pytest.raises(ConfigError, match="seller strategy, not a bidder"):
        strategy("fuzzy-genetic", file=str(path))


def test_fixed_seller_and_listing_rules() -> None:
    fixed = make_seller_strategy("fixed", {"reserve": 0.8})
    english = fixed.choose(Listing("vase", "english", 10_000))
    assert (english.starting_price, english.reserve_price) == (5_000, 8_000)
    dutch = fixed.choose(Listing("rug", "dutch", 10_000))
    assert dutch.starting_price == 15_000
    rules = auction_rules(Listing("rug", "dutch", 10_000, rules={"tick_seconds": 0.5}), dutch)
    assert rules == {
        "starting_price": 15_000,
        "reserve_price": 8_000,
        "decrement": 200,
        "tick_seconds": 0.5,
    }
    own = fixed.choose(Listing("x", "fpsb", 10_000, starting_price=42, reserve_price=7_000))
    assert (own.starting_price, own.reserve_price) == (42, 7_000)


def test_bad_strategy_names_and_parameters_are_named() -> None:
    with pytest.raises(ConfigError, match="unknown bidder strategy 'greedy'"):
        make_strategy("greedy")
    with pytest.raises(ConfigError, match=r"params\.bidders must be at least 1"):
        make_strategy("equilibrium", {"bidders": 0})
    with pytest.raises(ConfigError, match=r"params\.speed: unknown parameter"):
        make_strategy("smart", {"speed": 2})
    with pytest.raises(ConfigError, match=r"params\.estimator must be one of"):
        make_strategy("smart", {"estimator": "psychic"})
    with pytest.raises(ConfigError, match=r"params\.file"):
        make_strategy("fuzzy-genetic")
    with pytest.raises(ConfigError, match=r"params\.file"):
        make_strategy("fuzzy-genetic", {"file": "/nonexistent/strategy.json"})
