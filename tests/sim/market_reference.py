"""A scalar CDA of ``agents.traders`` objects: the reference the simulator's market kernels are
checked against (same turn order, same matching, one market at a time, pure Python).

The book is pluggable (:class:`Book`): :class:`DictBook` is the simulator's matching written
plainly (one order per trader, price-time priority, trades at the resting price)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from auctionhouse.agents.traders import BookTop, Shout, Trade, Trader, make_trader
from auctionhouse.sim.market import Schedule


@dataclass
class DayResult:
    surplus: int
    prices: list[int]


class Book(Protocol):
    def best(self, bids: bool) -> int | None:
        """The best resting price of one side."""

    def place(self, trader: int, buy: bool, price: int, turn: int) -> tuple[int, int] | None:
        """Place ``trader``'s order, replacing its resting one; ``(counterparty, price)`` if it
        traded (its order and the counterparty's then leave the book), else it rests."""

    def clear(self) -> None:
        """Cancel every resting order."""


class DictBook:
    def __init__(self, buyers: int) -> None:
        self.buyers = buyers
        self.resting: dict[int, tuple[int, int]] = {}  # trader -> (price, turn)

    def _best_index(self, bids: bool) -> int | None:
        side = [(i, p, at) for i, (p, at) in self.resting.items() if (i < self.buyers) == bids]
        if not side:
            return None
        key = (lambda x: (-x[1], x[2])) if bids else (lambda x: (x[1], x[2]))
        return min(side, key=key)[0]

    def best(self, bids: bool) -> int | None:
        i = self._best_index(bids)
        return None if i is None else self.resting[i][0]

    def place(self, trader: int, buy: bool, price: int, turn: int) -> tuple[int, int] | None:
        self.resting.pop(trader, None)
        other = self._best_index(not buy)
        if other is not None:
            q = self.resting[other][0]
            if (buy and price >= q) or (not buy and price <= q):
                self.resting.pop(other)
                return other, q
        self.resting[trader] = (price, turn)
        return None

    def clear(self) -> None:
        self.resting.clear()


def traders_for(
    schedule: Schedule, kinds: list[str], rng: np.random.Generator, **extra: object
) -> list[Trader]:
    """One trader per schedule row (one unit each), kinds dealt in turn to buyers then sellers."""
    out: list[Trader] = []
    for side, rows in (("buy", schedule.demand), ("sell", schedule.supply)):
        for i, units in enumerate(rows):
            assert len(set(units)) == 1, "the reference gives a trader one limit"
            params = {
                "side": side,
                "limit": units[0],
                "units": len(units),
                "max_price": schedule.max_price,
                **extra,
            }
            out.append(make_trader(kinds[i % len(kinds)], params, rng))
    return out


def run_day(
    traders: list[Trader],
    steps: int,
    rng: np.random.Generator,
    gs: bool,
    book: Book | None = None,
) -> DayResult:
    """One trading day: ``steps`` turns, each giving one trader drawn uniformly the chance to
    place an order that replaces its resting one (buyers come first in ``traders``)."""
    book = book if book is not None else DictBook(sum(t.is_buyer for t in traders))
    book.clear()
    for t in traders:
        t.restock()
    surplus, prices = 0, []
    last: int | None = None
    for step in range(steps):
        i = int(rng.integers(0, len(traders)))
        t = traders[i]
        price = t.order(float(step), _top(book, last, steps - step, steps))
        if price is None:
            continue
        if gs:  # Gode and Sunder: an order that neither trades nor improves its side is ignored
            own, other = book.best(t.is_buyer), book.best(not t.is_buyer)
            crosses = other is not None and (price >= other if t.is_buyer else price <= other)
            improves = own is None or (price > own if t.is_buyer else price < own)
            if not crosses and not improves:
                continue
        traded = book.place(i, t.is_buyer, price, step)
        if traded is not None:
            j, q = traded
            other_t = traders[j]
            buyer, seller = (t, other_t) if t.is_buyer else (other_t, t)
            surplus += buyer.limit - seller.limit
            t.filled(float(step), q)
            other_t.filled(float(step), q)
            if gs:
                book.clear()
            prices.append(q)
            last = q
            after = _top(book, last, steps - step, steps)
            trade = Trade(q, 1, resting="sell" if t.is_buyer else "buy")
            for every in traders:
                every.respond(float(step), after, trade)
            continue
        shout = Shout("buy" if t.is_buyer else "sell", price)
        after = _top(book, last, steps - step, steps, shout)
        for every in traders:
            every.respond(float(step), after, None)
    return DayResult(surplus, prices)


def _top(
    book: Book, last: int | None, left: int, steps: int, shout: Shout | None = None
) -> BookTop:
    return BookTop(
        best_bid=book.best(True),
        best_ask=book.best(False),
        last_price=last,
        time_left=float(left),
        duration=float(steps),
        shout=shout,
    )
