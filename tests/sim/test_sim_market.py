"""The market model (sim.market): equilibria, matching rules, measures, determinism, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from auctionhouse.sim.market import (
    SCHEDULES,
    MarketConfig,
    Schedule,
    load_schedule,
    simulate,
    validate,
)


@pytest.mark.parametrize(
    ("name", "price", "quantity", "surplus"),
    [
        # 11 + 11 one-unit traders at 75..325 step 25: six trade, (325-75) + ... + (200-200).
        ("symmetric", 200.0, 6, 250 + 200 + 150 + 100 + 50 + 0),
        ("flat-supply", 200.0, 6, 125 + 100 + 75 + 50 + 25 + 0),
        # values 195 - 6k, costs 35 + 6k: k <= 13 trade; prices in [113, 117].
        ("gs-style", 115.0, 14, sum(160 - 12 * k for k in range(14))),
    ],
)
def test_competitive_equilibrium_of_the_preset_schedules(
    name: str, price: float, quantity: int, surplus: int
) -> None:
    assert SCHEDULES[name].equilibrium() == (price, quantity, surplus)


def test_equilibrium_of_small_hand_cases() -> None:
    # one buyer at 100, one seller at 60: any price in [60, 100] clears.
    assert Schedule(((100,),), ((60,),), 200).equilibrium() == (80.0, 1, 40)
    # two buyers (100, 90), one seller 50: the 90 buyer sets the floor -> [90, 100].
    assert Schedule(((100,), (90,)), ((50,),), 200).equilibrium() == (95.0, 1, 50)
    with pytest.raises(ValueError, match="no gains from trade"):
        Schedule(((40,),), ((60,),), 200).equilibrium()
    with pytest.raises(ValueError, match="no gains from trade"):  # a unit trades at no gain
        Schedule(((60,), (50,)), ((60,),), 200).equilibrium()


def test_givers_trade_at_the_resting_price_and_realise_all_surplus() -> None:
    # A GVWY buyer (100) and seller (60): whoever moves first rests at its limit and the other
    # crosses it, so each day trades once, at 100 or 60, with all the surplus realised.
    sched = Schedule(((100,),), ((60,),), 200)
    for rule in ("lob", "gs"):
        result = simulate(
            MarketConfig(traders="gvwy", custom=sched, markets=50, days=3, steps=40, rule=rule)
        )
        assert np.all(result.efficiency == 1.0)
        assert np.all(result.trades == 1.0)
        prices = {p for _, _, p in result.trace[0]}
        assert prices <= {100, 60} and len(result.trace[0]) == 3
        total = sum(result.profit_by_kind.values()) * 2  # per trader and day, two traders
        assert total == pytest.approx(40.0)


def test_constrained_traders_never_lose_and_never_pass_the_maximum() -> None:
    for kinds, rule in (("zip,zic", "lob"), ("shvr,snpr,gvwy", "lob"), ("zic,zip,snpr", "gs")):
        result = simulate(
            MarketConfig(
                schedule="gs-style", traders=kinds, markets=30, days=2, steps=400, rule=rule
            )
        )
        assert result.losses.sum() == 0, kinds
        assert result.efficiency.max() <= 1.0 + 1e-12
        assert result.efficiency.min() >= 0.0
        assert all(v >= 0 for v in result.profit_by_kind.values()), kinds
        assert result.trades.max() <= 24  # 24 units on each side
        assert all(1 <= p <= 200 for _, _, p in result.trace[0])


def test_unconstrained_traders_do_lose() -> None:
    result = simulate(MarketConfig(schedule="symmetric", traders="ziu", markets=30, days=2))
    # the symmetric schedule's values and costs sum to the same total: trading every unit
    # at random realises no surplus at all.
    assert result.trades.mean() == pytest.approx(11, abs=0.5)
    assert abs(result.efficiency.mean()) < 0.1
    assert result.losses.mean() > 1  # trades where the buyer paid above its value or the
    assert result.losses.max() <= result.trades.max()  # seller sold below its cost


def test_the_gs_rule_clears_the_book_after_each_trade() -> None:
    # Shavers creep one tick from the worst price; when every trade empties the book they
    # must start over and trade far less often than in a persistent book.
    lob = simulate(MarketConfig(traders="shvr", markets=40, days=2, rule="lob"))
    gs = simulate(MarketConfig(traders="shvr", markets=40, days=2, rule="gs"))
    assert gs.trades.mean() < 0.5 * lob.trades.mean()


def test_mixed_markets_report_profit_per_trader_type() -> None:
    cfg = MarketConfig(traders="zip,zic,gvwy", markets=40, days=2, steps=300, seed=2)
    result = simulate(cfg).to_dict()
    assert set(result["profit_per_trader_day"]) == {"zip", "zic", "gvwy"}
    assert set(result["equilibrium_profit_per_trader_day"]) == {"zip", "zic", "gvwy"}
    # trading at P0 = 200: each kind holds 4 (or 3) of the one-unit traders per side
    assert sum(result["equilibrium_profit_per_trader_day"].values()) > 0


def test_the_same_seed_gives_the_same_result() -> None:
    cfg = MarketConfig(traders="zip,zic,snpr", markets=20, days=2, steps=200, seed=11)
    a, b = simulate(cfg), simulate(cfg)
    assert np.array_equal(a.efficiency, b.efficiency)
    assert np.array_equal(a.alpha, b.alpha, equal_nan=True)
    assert a.trace == b.trace
    other = simulate(MarketConfig(traders="zip,zic,snpr", markets=20, days=2, steps=200, seed=12))
    assert not np.array_equal(a.efficiency, other.efficiency)


def test_result_json_has_the_documented_keys() -> None:
    doc = simulate(MarketConfig(markets=5, days=2)).to_dict()
    json.dumps(doc)
    for key in (
        "model",
        "schedule",
        "traders",
        "rule",
        "equilibrium_price",
        "efficiency",
        "efficiency_sd",
        "efficiency_by_day",
        "alpha_by_day",
        "alpha_sd_by_day",
        "mean_price_by_day",
        "trades_by_day",
        "profit_per_trader_day",
        "days_per_second",
    ):
        assert key in doc
    assert len(doc["alpha_by_day"]) == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"traders": "zic,robot"}, "traders"),
        ({"traders": ""}, "traders"),
        ({"rule": "nyse"}, "rule"),
        ({"markets": 0}, "markets"),
        ({"days": 0}, "days"),
        ({"steps": -1}, "steps"),
        ({"schedule": "nowhere"}, "schedule"),
        ({"custom": Schedule(((300,),), ((60,),), 200)}, "max_price"),
        ({"custom": Schedule(((50,),), ((60,),), 200)}, "no gains"),
        ({"custom": Schedule((), ((60,),), 200)}, "buyers and sellers"),
        ({"trace_markets": 7, "markets": 3}, "trace_markets"),
    ],
)
def test_bad_configs_name_the_field(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate(MarketConfig(**changes))  # type: ignore[arg-type]


def test_schedules_load_from_json_files(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"demand": [[120, 100], [90]], "supply": [[50], [70, 110]]}))
    sched = load_schedule(path)
    assert sched.demand == ((120, 100), (90,)) and sched.max_price == 240
    assert sched.equilibrium()[1] == 2  # 120-50, 100-70; 90 < 110
    for bad in ("{", json.dumps({"demand": [[1]]}), json.dumps({"demand": 5, "supply": []})):
        path.write_text(bad)
        with pytest.raises(ValueError, match="schedule file"):
            load_schedule(path)
    with pytest.raises(ValueError, match="schedule file"):
        load_schedule(tmp_path / "missing.json")


units = st.lists(st.integers(1, 300), min_size=1, max_size=3)


@settings(max_examples=25, deadline=None)
@given(
    demand=st.lists(units, min_size=1, max_size=5),
    supply=st.lists(units, min_size=1, max_size=5),
    kinds=st.sampled_from(["zic", "ziu", "zip", "shvr,gvwy", "snpr,zic,zip", "ziu,zic"]),
    rule=st.sampled_from(["lob", "gs"]),
    seed=st.integers(0, 1000),
)
def test_invariants_on_random_schedules(
    demand: list[list[int]], supply: list[list[int]], kinds: str, rule: str, seed: int
) -> None:
    sched = Schedule(
        tuple(tuple(sorted(u, reverse=True)) for u in demand),
        tuple(tuple(sorted(u)) for u in supply),
        300,
    )
    assume(max(max(u) for u in demand) > min(min(u) for u in supply))
    cfg = MarketConfig(
        custom=sched, traders=kinds, rule=rule, markets=6, days=2, steps=60, seed=seed
    )
    result = simulate(cfg)
    _, _, best = sched.equilibrium()
    # no allocation beats the competitive one, whoever trades
    assert result.efficiency.max() <= 1.0 + 1e-12
    assert result.trades.max() <= min(sum(map(len, demand)), sum(map(len, supply)))
    assert all(1 <= p <= 300 for _, _, p in result.trace[0])
    if "ziu" not in kinds:
        assert result.losses.sum() == 0 and result.efficiency.min() >= 0.0
    # prices only move money between traders: profits add up to the realised surplus
    names = cfg.kinds()
    dealt = [names[i % len(names)] for i in range(len(demand))]
    dealt += [names[j % len(names)] for j in range(len(supply))]
    assert set(result.profit_by_kind) == set(dealt)  # the kinds that hold a trader
    per_day = sum(result.profit_by_kind[k] * dealt.count(k) for k in set(dealt))
    total = per_day * cfg.markets * cfg.days
    assert total == pytest.approx(result.efficiency.sum() * best, abs=1e-6)
