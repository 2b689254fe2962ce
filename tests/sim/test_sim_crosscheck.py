"""The live rules (``auction/``, the reference path) and the vectorized kernels agree.

For each method, a few thousand auctions with integer values are run twice: bidder by bidder
through ``decide``/``apply`` exactly as the house would, and all at once through
``auctionhouse.sim.kernels``. Winners, prices and sold/unsold must be identical.

Bidders in the reference path: sealed bids are the bidder's value; in English each bidder, in
registration order, bids the least allowed amount with its value as ``proxy_max`` (if its value
reaches that amount); in Dutch each bidder accepts at the first tick whose clock price is at most
its value, earlier registrants first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from auctionhouse.auction import (
    AuctionState,
    CloseAuction,
    CreateAuction,
    Method,
    Outcome,
    PlaceBid,
    Rules,
    apply,
    close_due_at,
    decide,
    dutch_price,
)
from auctionhouse.sim import kernels

T0 = 1_000.0
AUCTIONS_PER_CASE = 500  # x 6 cases = 3,000 auctions per method


@dataclass(frozen=True)
class Result:
    winner: int  # bidder row, -1 when unsold
    price: int  # 0 when unsold


def run(state: AuctionState | None, command: object, now: float) -> AuctionState:
    for event in decide(state, command, now):  # type: ignore[arg-type]
        state = apply(state, event)
    assert state is not None
    return state


def reference(method: Method, rules: Rules, values: list[int]) -> Result:
    """One auction through the rules core."""
    state = run(None, CreateAuction("a", "seller", "item", method, rules), T0)
    if method is Method.DUTCH:
        tick = 0
        while state.outcome is None:
            now = T0 + tick * rules.tick_seconds
            due = close_due_at(state)
            assert due is not None
            if now >= due:
                state = run(state, CloseAuction("a"), now)
                break
            price = dutch_price(state, now)
            taker = next((i for i, v in enumerate(values) if v >= price), None)
            if taker is not None:
                state = run(state, PlaceBid("a", f"b{taker}", values[taker]), now)
            tick += 1
    else:
        for i, value in enumerate(values):
            now = T0 + 1 + i
            if method is Method.ENGLISH:
                least = (
                    max(1, rules.starting_price)
                    if state.leader is None
                    else state.price + rules.increment_at(state.price)
                )
                if value >= least:
                    state = run(state, PlaceBid("a", f"b{i}", least, proxy_max=value), now)
            else:
                state = run(state, PlaceBid("a", f"b{i}", value), now)
        assert state.closes_at is not None
        state = run(state, CloseAuction("a"), state.closes_at)
    if state.outcome is not Outcome.SOLD:
        return Result(-1, 0)
    assert state.winner is not None and state.final_price is not None
    return Result(int(state.winner[1:]), state.final_price)


def vectorized(method: Method, rules: Rules, values: np.ndarray) -> list[Result]:
    """All auctions at once; ``values`` is ``(bidders, auctions)``."""
    reserve = rules.reserve_price
    if method is Method.ENGLISH:
        price, sold, winner = kernels.english_proxy(
            values, rules.starting_price, reserve, rules.min_increment, min_amount=1
        )
    else:
        m1, m2, winner = kernels.top_two(values)
        if method is Method.DUTCH:
            price, sold = kernels.dutch_clock(
                m1, rules.starting_price, reserve or 0, rules.decrement, floor=rules.dutch_floor
            )
            winner = kernels.first_above(values, price, strict=False)
        else:
            lone = max(1, rules.starting_price)
            price, sold = kernels.sealed_price(method.value, m1, m2, reserve or 0, lone)
    return [
        Result(int(w), int(p)) if s else Result(-1, 0)
        for w, p, s in zip(winner, price, sold, strict=True)
    ]


def rules_for(method: Method, reserve: int | None, increment: int) -> Rules:
    if method is Method.DUTCH:
        return Rules(
            starting_price=300,
            reserve_price=reserve,
            decrement=increment,
            tick_seconds=2.0,
            floor_price=None if reserve is None else 40,  # public, and below some values
        )
    if method is Method.ENGLISH:
        return Rules(starting_price=20, reserve_price=reserve, min_increment=increment, duration=60)
    return Rules(starting_price=1, reserve_price=reserve, duration=60)


CASES = [(1, None, 1), (2, None, 7), (3, 120, 1), (5, None, 10), (5, 150, 3), (8, 90, 25)]


@pytest.mark.parametrize("method", list(Method))
def test_rules_core_and_kernels_agree(method: Method) -> None:
    rng = np.random.default_rng(2026)
    checked = mismatches = 0
    for bidders, reserve, increment in CASES:
        rules = rules_for(method, reserve, increment)
        # integer values; a narrow range makes ties and reserve edges common
        values = rng.integers(1, 260, size=(bidders, AUCTIONS_PER_CASE))
        if bidders > 1:
            values[1, ::7] = values[0, ::7]  # exact ties for the top in some auctions
        fast = vectorized(method, rules, values)
        for k in range(AUCTIONS_PER_CASE):
            slow = reference(method, rules, [int(v) for v in values[:, k]])
            checked += 1
            if slow != fast[k]:
                mismatches += 1
                assert slow == fast[k], (method, bidders, reserve, increment, values[:, k].tolist())
    assert checked == 3000 and mismatches == 0


@pytest.mark.parametrize(
    "extra",
    [
        {
            "increment_table": [
                {"below": 50, "increment": 2},
                {"below": 150, "increment": 5},
                {"increment": 11},
            ]
        },
        {"increment_table": [{"below": 100, "increment": 3}]},
        {"increment_percent": 7.5},
        {"increment_percent": 1.1, "min_increment": 2},
    ],
)
def test_english_kernel_follows_increment_tables_and_percentages(
    extra: dict[str, object],
) -> None:
    """The English kernel with the house's increment as a function of the price
    (``kernels.increment_steps``) agrees with the rules core, auction by auction."""
    rng = np.random.default_rng(17)
    rules = Rules.from_dict({"starting_price": 20, "duration": 60, **extra})
    bands = rules.increment_table
    steps = kernels.increment_steps(
        rules.min_increment,
        [(b.below, b.increment) for b in bands] if bands else None,
        rules.increment_percent,
    )
    for bidders, reserve in ((2, None), (4, 120), (7, None)):
        values = rng.integers(1, 300, size=(bidders, 300))
        rules_r = Rules.from_dict({**rules.to_dict(), "reserve_price": reserve})
        price, sold, winner = kernels.english_proxy(values, 20, reserve, steps, min_amount=1)
        for k in range(values.shape[1]):
            slow = reference(Method.ENGLISH, rules_r, [int(v) for v in values[:, k]])
            fast = Result(int(winner[k]), int(price[k])) if sold[k] else Result(-1, 0)
            assert slow == fast, (extra, values[:, k].tolist())
