"""A scalar CDA of ``agents.traders`` objects: the reference the simulator's market kernels are
checked against (same turn order, same matching, one market at a time, pure Python)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auctionhouse.agents.traders import BookTop, Shout, Trade, Trader, make_trader
from auctionhouse.sim.market import Schedule


@dataclass
class DayResult:
    surplus: int
    prices: list[int]


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


def run_day(traders: list[Trader], steps: int, rng: np.random.Generator, gs: bool) -> DayResult:
    """One trading day: ``steps`` turns, each giving one trader drawn uniformly the chance to
    place an order that replaces its resting one."""
    for t in traders:
        t.restock()
    resting: dict[int, tuple[int, int]] = {}  # trader index -> (price, turn)
    surplus, prices = 0, []
    last: int | None = None
    for step in range(steps):
        top = _top(traders, resting, last, steps - step, steps)
        i = int(rng.integers(0, len(traders)))
        t = traders[i]
        price = t.order(float(step), top)
        if price is None:
            continue
        side = "buy" if t.is_buyer else "sell"
        opposite = _best(traders, resting, not t.is_buyer)
        crosses = opposite is not None and (
            price >= resting[opposite][0] if t.is_buyer else price <= resting[opposite][0]
        )
        if crosses:
            assert opposite is not None
            q = resting[opposite][0]
            other = traders[opposite]
            buyer, seller = (t, other) if t.is_buyer else (other, t)
            surplus += buyer.limit - seller.limit
            t.filled(float(step), q)
            other.filled(float(step), q)
            resting.pop(opposite)
            resting.pop(i, None)
            if gs:
                resting.clear()
            prices.append(q)
            last = q
            after = _top(traders, resting, last, steps - step, steps)
            trade = Trade(q, 1, resting="sell" if t.is_buyer else "buy")
            for every in traders:
                every.respond(float(step), after, trade)
            continue
        own = _best(traders, resting, t.is_buyer)
        if gs and own is not None:
            best = resting[own][0]
            if (t.is_buyer and price <= best) or (not t.is_buyer and price >= best):
                continue
        resting[i] = (price, step)
        after = _top(traders, resting, last, steps - step, steps, Shout(side, price))
        for every in traders:
            every.respond(float(step), after, None)
    return DayResult(surplus, prices)


def _best(traders: list[Trader], resting: dict[int, tuple[int, int]], bids: bool) -> int | None:
    side = [(i, p, at) for i, (p, at) in resting.items() if traders[i].is_buyer == bids]
    if not side:
        return None
    key = (lambda x: (-x[1], x[2])) if bids else (lambda x: (x[1], x[2]))
    return min(side, key=key)[0]


def _top(
    traders: list[Trader],
    resting: dict[int, tuple[int, int]],
    last: int | None,
    left: int,
    steps: int,
    shout: Shout | None = None,
) -> BookTop:
    bid = _best(traders, resting, True)
    ask = _best(traders, resting, False)
    return BookTop(
        best_bid=resting[bid][0] if bid is not None else None,
        best_ask=resting[ask][0] if ask is not None else None,
        last_price=last,
        time_left=float(left),
        duration=float(steps),
        shout=shout,
    )
