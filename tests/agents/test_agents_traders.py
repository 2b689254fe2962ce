"""The double-auction traders (agents.traders): quotes within limits, ZIP's margin rules."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auctionhouse.agents.traders import (
    REGISTRY,
    SNPR,
    ZIP,
    BookTop,
    Shout,
    Trade,
    Trader,
    make_trader,
)
from auctionhouse.errors import ConfigError

TOP = BookTop(best_bid=None, best_ask=None, time_left=100.0, duration=100.0)


def trader(name: str, seed: int = 0, **params: Any) -> Trader:
    return make_trader(name, params, np.random.default_rng(seed))


def quotes(t: Trader, top: BookTop = TOP, n: int = 400) -> list[int | None]:
    return [t.order(0.0, top) for _ in range(n)]


def test_every_bse_trader_is_registered_by_name() -> None:
    assert {"zic", "ziu", "zip", "gvwy", "shvr", "snpr"} <= set(REGISTRY)
    assert type(make_trader("ZIC", {"side": "buy", "limit": 5})).__name__ == "ZIC"


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("zic", {"limit": 5}, "side"),
        ("zic", {"side": "buy"}, "limit"),
        ("zic", {"side": "hold", "limit": 5}, "side"),
        ("zic", {"side": "sell", "limit": 5}, "max_price"),
        ("ziu", {"side": "buy", "limit": 5}, "max_price"),
        ("zic", {"side": "buy", "limit": 0}, "limit"),
        ("zic", {"side": "buy", "limit": 5, "min_price": 9, "max_price": 3}, "max_price"),
        ("zip", {"side": "buy", "limit": 5, "beta": 2.0}, "beta"),
        ("nobody", {"side": "buy", "limit": 5}, "nobody"),
    ],
)
def test_bad_parameters_are_config_errors_naming_the_field(
    name: str, params: dict[str, Any], field: str
) -> None:
    with pytest.raises(ConfigError, match=field):
        make_trader(name, params)


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(1, 500),
    low=st.integers(1, 50),
    span=st.integers(0, 600),
    seed=st.integers(0, 2**32 - 1),
)
def test_zic_never_quotes_past_its_limit(limit: int, low: int, span: int, seed: int) -> None:
    high = low + span
    buyer = trader("zic", seed, side="buy", limit=limit, min_price=low, max_price=high)
    seller = trader("zic", seed, side="sell", limit=limit, min_price=low, max_price=high)
    for price in quotes(buyer, n=50):
        if limit < low:
            assert price is None
        else:
            assert price is not None and low <= price <= min(limit, high)
    for price in quotes(seller, n=50):
        if limit > high:
            assert price is None
        else:
            assert price is not None and max(limit, low) <= price <= high


def test_zic_draws_uniformly_over_its_whole_range() -> None:
    buyer = quotes(trader("zic", side="buy", limit=10, max_price=200), n=5000)
    seller = quotes(trader("zic", side="sell", limit=190, max_price=200), n=5000)
    assert set(buyer) == set(range(1, 11))
    assert set(seller) == set(range(190, 201))
    counts = np.bincount(np.array(buyer, dtype=int))[1:]
    assert counts.min() > 350 and counts.max() < 650  # 500 expected each


def test_ziu_ignores_its_limit_and_can_trade_at_a_loss() -> None:
    bids = quotes(trader("ziu", side="buy", limit=20, max_price=200), n=2000)
    asks = quotes(trader("ziu", side="sell", limit=180, max_price=200), n=2000)
    assert max(p for p in bids if p is not None) > 20
    assert min(p for p in asks if p is not None) < 180
    assert all(p is not None and 1 <= p <= 200 for p in bids + asks)


def test_gvwy_quotes_its_limit() -> None:
    assert trader("gvwy", side="buy", limit=77).order(0.0, TOP) == 77
    assert trader("gvwy", side="sell", limit=33).order(0.0, TOP) == 33


@settings(max_examples=80, deadline=None)
@given(
    side=st.sampled_from(["buy", "sell"]),
    limit=st.integers(1, 300),
    bid=st.none() | st.integers(1, 300),
    ask=st.none() | st.integers(1, 300),
    tick=st.integers(1, 5),
)
def test_shvr_shaves_one_tick_and_never_crosses_its_limit(
    side: str, limit: int, bid: int | None, ask: int | None, tick: int
) -> None:
    t = trader("shvr", side=side, limit=limit, max_price=300, tick=tick)
    price = t.order(0.0, BookTop(best_bid=bid, best_ask=ask))
    assert price is not None
    if side == "buy":
        assert price <= limit
        assert price == min(limit, bid + tick if bid is not None else 1)
    else:
        assert price >= limit
        assert price == max(limit, ask - tick if ask is not None else 300)


def test_snpr_lurks_then_shaves_harder_as_the_close_nears() -> None:
    buyer = trader("snpr", side="buy", limit=150, max_price=300)
    assert isinstance(buyer, SNPR)
    early = BookTop(best_bid=100, best_ask=140, time_left=50.0, duration=100.0)
    assert buyer.order(0.0, early) is None
    prices = [
        buyer.order(0.0, BookTop(best_bid=100, best_ask=140, time_left=t, duration=100.0))
        for t in (20.0, 10.0, 2.0, 0.0)
    ]
    assert prices[0] == 100 + buyer.shave(0.2) == 102
    assert prices == sorted(prices) and prices[-1] == 150  # 100 ticks at the close: capped
    seller = trader("snpr", side="sell", limit=90, max_price=300)
    late = BookTop(best_bid=80, best_ask=120, time_left=1.0, duration=100.0)
    assert seller.order(0.0, late) == max(90, 120 - seller.shave(0.01))
    assert seller.order(0.0, BookTop(time_left=1.0, duration=100.0)) == 300


def zip_trader(side: str, limit: int = 100, margin: float = 0.2, **more: Any) -> ZIP:
    t = trader("zip", side=side, limit=limit, margin=margin, beta=0.3, momentum=0.0, **more)
    assert isinstance(t, ZIP)
    return t


def test_zip_quotes_limit_times_one_plus_margin() -> None:
    assert zip_trader("sell").order(0.0, TOP) == 120
    assert zip_trader("buy").order(0.0, TOP) == 80


def test_zip_seller_raises_its_margin_after_a_trade_at_or_above_its_price() -> None:
    seller = zip_trader("sell")  # asks 120
    seller.respond(0.0, TOP, Trade(price=150, resting="sell"))
    assert seller.margin > 0.2
    assert 120 < seller.price < 150 * 1.05 + 5


def test_zip_seller_lowers_after_a_bid_accepted_below_its_price() -> None:
    seller = zip_trader("sell")
    seller.respond(0.0, TOP, Trade(price=105, resting="buy"))
    assert 0.0 <= seller.margin < 0.2
    # an offer accepted below it says nothing to a seller (Cliff's rule)...
    other = zip_trader("sell")
    other.respond(0.0, TOP, Trade(price=105, resting="sell"))
    assert other.margin == 0.2
    # ...and a seller with nothing left to sell does not lower.
    done = zip_trader("sell")
    done.filled(0.0, 120)
    done.respond(0.0, TOP, Trade(price=105, resting="buy"))
    assert done.margin == 0.2


def test_zip_buyer_raises_its_margin_after_a_trade_at_or_below_its_price() -> None:
    buyer = zip_trader("buy")  # bids 80
    buyer.respond(0.0, TOP, Trade(price=60, resting="buy"))
    assert buyer.margin < -0.2 and buyer.price < 80


def test_zip_buyer_lowers_after_an_offer_accepted_above_its_price() -> None:
    buyer = zip_trader("buy")
    buyer.respond(0.0, TOP, Trade(price=95, resting="sell"))
    assert -0.2 < buyer.margin <= 0.0 and buyer.price > 80


def test_zip_learns_from_unaccepted_shouts_on_its_own_side() -> None:
    seller = zip_trader("sell")
    seller.respond(0.0, BookTop(best_ask=110, shout=Shout("sell", 110)), None)
    assert seller.margin < 0.2
    buyer = zip_trader("buy")
    buyer.respond(0.0, BookTop(best_bid=90, shout=Shout("buy", 90)), None)
    assert buyer.margin > -0.2
    # a bid says nothing to a seller when not accepted
    other = zip_trader("sell")
    other.respond(0.0, BookTop(best_bid=90, shout=Shout("buy", 90)), None)
    assert other.margin == 0.2


def test_zip_infers_a_shout_from_a_better_best_quote() -> None:
    seller = zip_trader("sell")
    seller.respond(0.0, BookTop(best_ask=130), None)  # no change it can learn from (130 > 120)
    assert seller.margin == 0.2
    seller.respond(0.0, BookTop(best_ask=112), None)  # the best ask fell: an offer at 112
    assert seller.margin < 0.2


def test_zip_margins_stay_on_their_side_of_the_limit() -> None:
    rng = np.random.default_rng(3)
    buyer = trader("zip", 1, side="buy", limit=100)
    seller = trader("zip", 2, side="sell", limit=100)
    assert isinstance(buyer, ZIP) and isinstance(seller, ZIP)
    for _ in range(500):
        q = int(rng.integers(1, 400))
        trade = Trade(q, resting="buy" if rng.random() < 0.5 else "sell")
        for t in (buyer, seller):
            t.respond(0.0, TOP, trade if rng.random() < 0.5 else None)
            assert (t.margin <= 0.0) if t.is_buyer else (t.margin >= 0.0)
            price = t.order(0.0, TOP)
            assert price is not None
            assert price <= 100 if t.is_buyer else price >= 100


def test_fills_book_profit_and_use_up_units() -> None:
    buyer = trader("zic", side="buy", limit=100, units=2)
    buyer.filled(0.0, 70)
    buyer.filled(0.0, 90)
    assert (buyer.profit, buyer.trades, buyer.active) == (40, 2, False)
    assert buyer.order(0.0, TOP) is None
    with pytest.raises(ConfigError):
        buyer.filled(0.0, 90)
    buyer.restock()
    assert buyer.active and buyer.order(0.0, TOP) is not None
    seller = trader("gvwy", side="sell", limit=60)
    seller.filled(0.0, 85)
    assert seller.profit == 25


def test_the_same_seed_gives_the_same_quotes() -> None:
    for name in ("zic", "ziu", "zip"):
        a = trader(name, 7, side="sell", limit=50, max_price=200)
        b = trader(name, 7, side="sell", limit=50, max_price=200)
        for step in range(50):
            top = BookTop(best_ask=60 + step % 7, time_left=10.0, duration=10.0)
            trade = Trade(55 + step % 11, resting="buy") if step % 3 == 0 else None
            assert a.order(0.0, top) == b.order(0.0, top)
            a.respond(0.0, top, trade)
            b.respond(0.0, top, trade)


def test_restock_can_give_a_new_limit_like_a_new_customer_order() -> None:
    t = trader("gvwy", side="sell", limit=60)
    t.filled(0.0, 80)
    t.restock(units=2, limit=75)
    assert (t.units_left, t.order(0.0, TOP)) == (2, 75)
    t.filled(0.0, 90)
    assert t.profit == 20 + 15
    for bad in ({"units": -1}, {"limit": 0}):
        with pytest.raises(ConfigError):
            t.restock(**bad)
