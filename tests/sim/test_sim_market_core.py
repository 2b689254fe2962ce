"""The simulator's matching agrees with the house's CDA (``auction.market``, the rules core).

The scalar reference market (``market_reference.py``) runs the same seeded trading days twice:
once on ``DictBook`` (the simulator's matching, one order per trader, written plainly) and once
with every order sent through ``decide_market``/``apply_market`` (the trader's previous order
cancelled first, as the live traders do). Both must make the same trades at the same prices.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from market_reference import DictBook, run_day, traders_for

from auctionhouse.auction.market import (
    CancelOrder,
    CreateMarket,
    MarketState,
    PlaceOrder,
    apply_market,
    decide_market,
)
from auctionhouse.auction.market_events import Trade
from auctionhouse.sim.market import SCHEDULES


class CoreBook:
    """A one-unit-order book on the rules core: trader ``i`` trades as account ``t{i}``."""

    def __init__(self) -> None:
        self.state: MarketState | None = None
        self.now = 0.0
        self.order_of: dict[int, int] = {}  # trader -> its resting order id
        self._run(CreateMarket("m", "owner", "kernel check"))

    def _run(self, command: Any) -> list[Any]:
        self.now += 1.0
        events = decide_market(self.state, command, self.now)
        for event in events:
            self.state = apply_market(self.state, event)
        return events

    def best(self, bids: bool) -> int | None:
        assert self.state is not None
        return self.state.best_bid() if bids else self.state.best_ask()

    def _cancel(self, trader: int) -> None:
        assert self.state is not None
        order = self.order_of.pop(trader, None)
        if order is not None and order in self.state.orders:
            self._run(CancelOrder("m", f"t{trader}", order))

    def place(self, trader: int, buy: bool, price: int, turn: int) -> tuple[int, int] | None:
        self._cancel(trader)
        events = self._run(PlaceOrder("m", f"t{trader}", "buy" if buy else "sell", price, 1))
        trades = [e for e in events if isinstance(e, Trade)]
        assert len(trades) <= 1  # one-unit orders
        if trades:
            other = int((trades[0].seller if buy else trades[0].buyer)[1:])
            self.order_of.pop(other, None)
            return other, trades[0].price
        self.order_of[trader] = events[0].order_id
        return None

    def clear(self) -> None:
        for trader in list(self.order_of):
            self._cancel(trader)


@pytest.mark.parametrize(
    ("schedule", "kinds", "rule"),
    [
        ("symmetric", ["zic"], "lob"),
        ("symmetric", ["zip", "shvr"], "lob"),
        ("flat-supply", ["snpr", "gvwy", "zic"], "lob"),
        ("symmetric", ["zic", "zip"], "gs"),
    ],
)
def test_the_simulator_matches_as_the_rules_core_does(
    schedule: str, kinds: list[str], rule: str
) -> None:
    sched = SCHEDULES[schedule]
    days: dict[str, list[tuple[int, list[int]]]] = {}
    for name, book in (("dict", DictBook(len(sched.demand))), ("core", CoreBook())):
        rng = np.random.default_rng(21)
        traders = traders_for(sched, kinds, rng)
        days[name] = []
        for _ in range(3):
            result = run_day(traders, 250, rng, gs=rule == "gs", book=book)
            days[name].append((result.surplus, result.prices))
    assert days["dict"] == days["core"]
    assert sum(len(prices) for _, prices in days["core"]) >= 6  # they did trade
