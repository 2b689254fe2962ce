"""The textbook model against auction theory: revenue equivalence, Myerson, the winner's curse."""

from __future__ import annotations

import numpy as np
import pytest

from auctionhouse.sim import kernels
from auctionhouse.sim.textbook import METHODS, TextbookConfig, simulate, theory_revenue


@pytest.mark.parametrize("bidders", [2, 5, 10])
@pytest.mark.parametrize("method", METHODS)
def test_equilibrium_revenue_matches_theory(method: str, bidders: int) -> None:
    result = simulate(TextbookConfig(method=method, bidders=bidders, auctions=200_000, seed=7))
    expected = (bidders - 1) / (bidders + 1)
    assert result.theory_revenue == pytest.approx(expected)
    assert result.mean_revenue == pytest.approx(expected, rel=0.01)
    assert result.efficiency == 1.0
    assert result.sold_fraction == 1.0


@pytest.mark.parametrize("method", METHODS)
def test_reserve_revenue_matches_myerson(method: str) -> None:
    cfg = TextbookConfig(method=method, bidders=3, reserve=0.5, auctions=200_000, seed=3)
    result = simulate(cfg)
    # n = 3, R = 1/2: 2n/(n+1) (1 - R^(n+1)) - (1 - R^n) = 1.5 * 15/16 - 7/8
    assert result.theory_revenue == pytest.approx(1.5 * 15 / 16 - 7 / 8)
    assert result.mean_revenue == pytest.approx(result.theory_revenue, rel=0.01)
    assert result.sold_fraction == pytest.approx(1 - 0.5**3, abs=0.005)


def test_power_distribution_revenue_matches_theory() -> None:
    cfg = TextbookConfig(
        method="fpsb", bidders=4, distribution="power", shape=2.0, auctions=200_000
    )
    result = simulate(cfg)
    assert result.theory_revenue is not None
    assert result.mean_revenue == pytest.approx(result.theory_revenue, rel=0.01)


def test_truthful_first_price_overpays_and_has_no_theory() -> None:
    cfg = TextbookConfig(method="fpsb", bidders=5, strategy="truthful", auctions=50_000, seed=1)
    result = simulate(cfg)
    assert theory_revenue(cfg) is None
    assert result.mean_winner_payoff == pytest.approx(0.0)
    assert result.mean_revenue == pytest.approx(5 / 6, rel=0.01)  # E[max of 5]


@pytest.mark.parametrize("method", METHODS)
def test_naive_common_value_bidding_suffers_the_winners_curse(method: str) -> None:
    naive = TextbookConfig(method=method, values="cv", strategy="naive", bidders=8, auctions=50_000)
    shaded = TextbookConfig(
        method=method, values="cv", strategy="equilibrium", bidders=8, auctions=50_000
    )
    naive_payoff = simulate(naive).mean_winner_payoff
    shaded_payoff = simulate(shaded).mean_winner_payoff
    assert naive_payoff is not None and naive_payoff < -0.02
    assert shaded_payoff is not None and shaded_payoff > 0.0
    assert theory_revenue(naive) is None


def test_english_increment_prices_on_the_clock_grid() -> None:
    m1 = np.array([0.93, 0.50, 0.41])
    m2 = np.array([0.62, 0.49, 0.10])
    price, sold = kernels.english_textbook(m1, m2, opening=0.2, increment=0.1)
    assert sold.all()
    # first step >= second max (0.7), capped at the winner's max (0.5), never below the opening
    assert price == pytest.approx([0.7, 0.5, 0.2])


def test_dutch_increment_takes_the_highest_step_at_or_below_the_top_bid() -> None:
    price, sold = kernels.dutch_clock(np.array([0.93, 0.05]), 1.0, 0.1, 0.1)
    assert price == pytest.approx([0.9, 0.0])
    assert sold.tolist() == [True, False]


def test_thesis_english_clock_ties_go_to_the_earliest_registrant_at_the_previous_ask() -> None:
    # maxima 203 and 201 both drop out at ask 205: the earlier registrant wins at 200.
    maxima = np.array([[201.0], [203.0], [150.0]])
    m1, m2, _ = kernels.top_two(maxima)
    price, sold = kernels.english_thesis(m1, m2, 100.0, 0.0, 5.0)
    assert price.tolist() == [200.0] and sold.all()
    assert kernels.first_above(maxima, price, strict=True).tolist() == [0]
    # a single bidder left keeps raising until the ask passes the reserve
    price, sold = kernels.english_thesis(np.array([300.0]), np.array([120.0]), 100.0, 150.0, 5.0)
    assert price.tolist() == [155.0] and sold.all()


def test_same_seed_same_result_different_seed_different_result() -> None:
    a = simulate(TextbookConfig(method="fpsb", auctions=10_000, seed=1))
    b = simulate(TextbookConfig(method="fpsb", auctions=10_000, seed=1))
    c = simulate(TextbookConfig(method="fpsb", auctions=10_000, seed=2))
    assert a.mean_revenue == b.mean_revenue
    assert a.mean_revenue != c.mean_revenue


def test_a_registered_strategy_is_simulated(monkeypatch: pytest.MonkeyPatch) -> None:
    from auctionhouse.sim import textbook

    monkeypatch.setattr(textbook, "STRATEGIES", dict(textbook.STRATEGIES))
    textbook.register_strategy("half", lambda cfg, seen: seen / 2)
    cfg = TextbookConfig(method="fpsb", bidders=2, strategy="half", auctions=100_000, seed=2)
    result = simulate(cfg)
    assert result.theory_revenue is None
    assert result.mean_revenue == pytest.approx(1 / 3, rel=0.01)  # half is the n = 2 equilibrium
    with pytest.raises(ValueError, match="built in"):
        textbook.register_strategy("naive", lambda cfg, seen: seen)
