"""Faults found by outside cases (issue 9), each as the right value, by kind.

1. a leader never raises the price against itself; 2. a leader's raise is validated like any bid
and never published; 3. the Dutch clock's public path does not depend on the secret reserve;
4. a closed auction's views are frozen at the outcome; 5. impossible rules are refused at
creation naming the field, and a phase never says "open" past a due close.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from auctionhouse.auction import (
    AuctionClosed,
    CancelAuction,
    CloseAuction,
    CreateAuction,
    Method,
    Outcome,
    Rules,
    close_due_at,
    decide,
    dutch_price,
    public_event,
    public_view,
)
from auctionhouse.auction.rules import next_dutch_step
from auctionhouse.errors import InvalidRules

from .helpers import T0, Run


def public_text(run: Run, now: float) -> str:
    s = run.state
    return json.dumps(public_view(s, now)) + json.dumps(
        [public_event(e, s.method, revealed=s.outcome is not None) for e in run.log]
    )


# --------------------------------------------------------------------------- 1. the leader rule


def test_a_lone_leader_never_raises_its_own_price() -> None:
    run = Run(Method.ENGLISH, Rules(starting_price=100, min_increment=50, duration=600))
    run.bid("ann", 1000, T0 + 1, proxy_max=5000)
    for amount in (1050, 1500):  # within her maximum: nothing to raise, refused
        err = run.try_bid("ann", amount, T0 + 2)
        assert err is not None and err.code == "bid_too_low" and err.fields["minimum"] == 5001
        assert (run.state.price, run.state.leader) == (1000, "ann")
    run.bid("ann", 6000, T0 + 3)  # a plain bid above her maximum raises the maximum only
    assert (run.state.price, run.state.maxima["ann"]) == (1000, 6000)
    run.bid("bob", 1100, T0 + 4)  # someone competes: now the price moves, by the proxy
    assert (run.state.price, run.state.leader) == (1150, "ann")
    run.do(CloseAuction("a1"), T0 + 600)
    assert (run.state.winner, run.state.final_price) == ("ann", 1150)


def test_a_plain_leader_bid_raises_its_maximum_not_the_price() -> None:
    run = Run(Method.ENGLISH, Rules(duration=600))
    run.bid("ann", 1000, T0 + 1)
    events = run.bid("ann", 1500, T0 + 2)
    assert (run.state.price, run.state.maxima["ann"]) == (1000, 1500)
    assert public_event(events[0], Method.ENGLISH, False)["amount"] is None
    run.bid("bob", 1200, T0 + 3)  # ann's new maximum answers
    assert (run.state.price, run.state.leader) == (1201, "ann")


def test_a_leaders_raise_does_not_extend_a_soft_close() -> None:
    from auctionhouse.auction import SoftClose

    run = Run(Method.ENGLISH, Rules(duration=100, soft_close=SoftClose(10, 5, 20)))
    run.bid("ann", 10, T0 + 50)
    assert len(run.bid("ann", 50, T0 + 95)) == 1  # no DeadlineExtended: no price to answer
    assert run.state.closes_at == T0 + 100


# --------------------------------------------------------------------------- 2. a raise is a bid


def test_a_leaders_raise_is_validated_and_never_published() -> None:
    run = Run(Method.ENGLISH, Rules(starting_price=100, min_increment=100, duration=600))
    run.bid("alice", 1200, T0 + 1, proxy_max=2000)
    assert public_view(run.state, T0 + 1)["min_next_bid"] == 1300
    err = run.try_bid("alice", 1, T0 + 2, proxy_max=9000)
    assert err is not None and err.code == "bid_too_low" and err.fields["minimum"] == 1300
    run.bid("alice", 9000, T0 + 3, proxy_max=9000)
    run.bid("alice", 9500, T0 + 4)  # a plain raise too
    assert run.state.maxima["alice"] == 9500 and run.state.price == 1200
    text = public_text(run, T0 + 5)
    for secret in (2000, 9000, 9500):
        assert str(secret) not in text
    run.do(CloseAuction("a1"), T0 + 600)
    assert str(9000) not in public_text(run, T0 + 601)  # nor after the close


def test_a_proxy_bids_amount_is_not_in_its_public_event() -> None:
    run = Run(Method.ENGLISH, Rules(duration=600))
    run.bid("ann", 100, T0 + 1)
    events = run.bid("bob", 150, T0 + 2, proxy_max=7777)
    assert run.state.leader == "bob" and run.state.price == 150
    assert public_event(events[0], Method.ENGLISH, False)["amount"] is None
    assert "7777" not in public_text(run, T0 + 3)


# --------------------------------------------------------------------------- 3. Dutch reserve


DUTCH = Rules(starting_price=10_000, decrement=100, tick_seconds=2)


@pytest.mark.parametrize("reserve", [None, 100, 7300, 9999, 10_000])
def test_the_dutch_clock_and_close_do_not_depend_on_the_reserve(reserve: int | None) -> None:
    public = Run(Method.DUTCH, DUTCH)
    secret = Run(Method.DUTCH, replace(DUTCH, reserve_price=reserve))
    assert close_due_at(secret.state) == close_due_at(public.state) == T0 + (99 + 1 + 1) * 2
    for t in (0, 1.9, 2, 55, 56, 57, 150, 199, 200, 201.9):
        now = T0 + t
        assert dutch_price(secret.state, now) == dutch_price(public.state, now)
        assert next_dutch_step(secret.state, now) == next_dutch_step(public.state, now)
        view, plain = public_view(secret.state, now), public_view(public.state, now)
        for v in (view, plain):
            v.pop("rules")
            v.pop("reserve_met")
        assert view == plain


def test_a_dutch_accept_below_the_secret_reserve_ends_reserve_not_met() -> None:
    low = Run(Method.DUTCH, replace(DUTCH, reserve_price=7300))
    low.bid("ann", 7200, T0 + 56)  # the clock shows 7200 at 56 s
    assert low.state.outcome is Outcome.RESERVE_NOT_MET
    assert low.state.winner is None and low.state.final_price is None
    view = public_view(low.state, T0 + 56)
    assert view["price"] is None and view["leader"] is None and view["reserve_met"] is False
    high = Run(Method.DUTCH, replace(DUTCH, reserve_price=7300))
    high.bid("ann", 7400, T0 + 52)
    assert (high.state.outcome, high.state.final_price) == (Outcome.SOLD, 7400)
    assert public_view(high.state, T0 + 52)["reserve_met"] is True


def test_the_dutch_floor_is_public_and_stops_the_clock() -> None:
    run = Run(Method.DUTCH, replace(DUTCH, floor_price=9000, reserve_price=9500))
    assert public_view(run.state, T0)["rules"]["floor_price"] == 9000
    assert dutch_price(run.state, T0 + 10_000) == 9000
    assert close_due_at(run.state) == T0 + (10 + 1) * 2


# --------------------------------------------------------------------------- 4. frozen views


def ended_runs() -> list[tuple[str, Run, int | None, str | None]]:
    """One auction per way of ending: (name, run, sale price or None, winner)."""
    out: list[tuple[str, Run, int | None, str | None]] = []
    run = Run(Method.ENGLISH, Rules(starting_price=100, reserve_price=1000, duration=60))
    run.bid("ann", 600, T0 + 1, proxy_max=2000)
    run.do(CloseAuction("a1"), T0 + 60)
    out.append(("english, proxy covers the reserve", run, 1000, "ann"))
    run = Run(Method.ENGLISH, Rules(reserve_price=1000, duration=60))
    run.bid("ann", 600, T0 + 1)
    run.do(CloseAuction("a1"), T0 + 60)
    out.append(("english, reserve not met", run, None, None))
    run = Run(Method.ENGLISH, Rules(duration=60))
    run.do(CloseAuction("a1"), T0 + 60)
    out.append(("english, no bids", run, None, None))
    run = Run(Method.ENGLISH, Rules(duration=60, min_bidders=2))
    run.bid("ann", 600, T0 + 1)
    run.do(CloseAuction("a1"), T0 + 60)
    out.append(("english, too few bidders", run, None, None))
    run = Run(Method.ENGLISH, Rules(duration=60))
    run.bid("ann", 600, T0 + 1)
    run.do(CancelAuction("a1", "root", as_admin=True), T0 + 2)
    out.append(("english, cancelled", run, None, None))
    run = Run(Method.VICKREY, Rules(duration=60))
    run.bid("ann", 900, T0 + 1)
    run.bid("bob", 700, T0 + 2)
    run.do(CloseAuction("a1"), T0 + 60)
    out.append(("vickrey, second price", run, 700, "ann"))
    run = Run(Method.FPSB, Rules(expected_bids=1))
    run.bid("ann", 900, T0 + 1)
    out.append(("fpsb, closed by the bid count", run, 900, "ann"))
    run = Run(Method.FPSB, Rules(duration=60, reserve_price=1000))
    run.bid("ann", 900, T0 + 1)
    run.do(CloseAuction("a1"), T0 + 60)
    out.append(("fpsb, reserve not met", run, None, None))
    run = Run(Method.DUTCH, DUTCH)
    run.bid("ann", 10_000, T0 + 5)
    out.append(("dutch, accepted", run, 9800, "ann"))
    run = Run(Method.DUTCH, replace(DUTCH, reserve_price=9900))
    run.bid("ann", 10_000, T0 + 5)
    out.append(("dutch, reserve not met", run, None, None))
    run = Run(Method.DUTCH, DUTCH)
    run.do(CloseAuction("a1"), close_due_at(run.state))  # type: ignore[arg-type]
    out.append(("dutch, no accept", run, None, None))
    return out


@pytest.mark.parametrize("index", range(11))
def test_a_closed_auctions_view_is_frozen_at_its_outcome(index: int) -> None:
    name, run, price, winner = ended_runs()[index]
    assert run.state.closed, name
    closed = next(e for e in run.log if isinstance(e, AuctionClosed))
    assert (closed.price, closed.winner) == (price, winner), name
    for later in (0, 1, 10_000):
        view = public_view(run.state, T0 + 100 + later)
        assert view["state"] == "closed", name
        assert view["price"] == view["result"]["price"] == price, name
        assert view["leader"] == view["result"]["winner"] == winner, name
        assert view["min_next_bid"] is None and view["close_due_at"] is None, name


def test_past_a_due_close_the_view_is_closed_before_the_close_is_recorded() -> None:
    run = Run(Method.ENGLISH, Rules(starting_price=100, reserve_price=1000, duration=60))
    run.bid("ann", 600, T0 + 1, proxy_max=2000)
    assert public_view(run.state, T0 + 59)["state"] == "open"
    early = public_view(run.state, T0 + 61)  # the house's timer has not run yet
    assert early["state"] == "closed" and early["price"] == 1000
    assert early["result"] == {
        "outcome": "sold",
        "winner": "ann",
        "price": 1000,
        "closed_at": T0 + 60,
    }
    run.do(CloseAuction("a1"), T0 + 61)
    late = public_view(run.state, T0 + 61)
    assert {k: v for k, v in late.items() if k not in ("result", "seq")} == {
        k: v for k, v in early.items() if k not in ("result", "seq")
    }
    assert late["result"]["price"] == early["result"]["price"]


# --------------------------------------------------------------------------- 5. impossible rules


def create(method: Method, rules: dict[str, Any], now: float = T0) -> None:
    decide(None, CreateAuction("a1", "s", "x", method, Rules.from_dict(rules)), now)


@pytest.mark.parametrize(
    ("method", "rules", "field"),
    [
        # a wrong year or time zone: both times in the past
        (Method.ENGLISH, {"opens_at": T0 - 86_400, "closes_at": T0 - 3_600}, "closes_at"),
        (Method.ENGLISH, {"closes_at": T0}, "closes_at"),
        (Method.ENGLISH, {"opens_at": T0 - 3_600, "duration": 60}, "opens_at"),
        (Method.VICKREY, {"opens_at": T0 - 3_600, "duration": 7_200}, "opens_at"),
        (Method.ENGLISH, {"opens_at": T0 + 100, "closes_at": T0 + 50}, "closes_at"),
        (
            Method.DUTCH,
            {"starting_price": 100, "decrement": 1, "tick_seconds": 10, "duration": 5},
            "closes_at",
        ),
        (
            Method.DUTCH,
            {"starting_price": 100, "decrement": 1, "tick_seconds": 0.01},
            "tick_seconds",
        ),
        (Method.DUTCH, {"starting_price": 100, "decrement": 0}, "decrement"),
        (
            Method.DUTCH,
            {"starting_price": 100, "decrement": 1, "reserve_price": 101},
            "reserve_price",
        ),
        (
            Method.DUTCH,
            {"starting_price": 100, "decrement": 1, "floor_price": 101},
            "starting_price",
        ),
        (Method.DUTCH, {"starting_price": 100, "decrement": 1, "floor_price": 0}, "floor_price"),
        (Method.DUTCH, {"starting_price": 100, "decrement": 1, "min_bidders": 2}, "min_bidders"),
        (
            Method.DUTCH,
            {"starting_price": 100, "decrement": 1, "quiet_seconds": 5},
            "quiet_seconds",
        ),
        (Method.ENGLISH, {"duration": 60, "floor_price": 5}, "floor_price"),
        (Method.ENGLISH, {"duration": 60, "decrement": 5}, "decrement"),
        (
            Method.ENGLISH,
            {"duration": 60, "soft_close": {"window": 30, "extension": 5, "cap": 10}},
            "soft_close.cap",
        ),
        (
            Method.ENGLISH,
            {"duration": 60, "soft_close": {"window": 5, "extension": 30, "cap": 10}},
            "soft_close.extension",
        ),
        (
            Method.ENGLISH,
            {"duration": 60, "soft_close": {"window": 0, "extension": 5, "cap": 10}},
            "soft_close.window",
        ),
        (
            Method.ENGLISH,
            {"quiet_seconds": 60, "soft_close": {"window": 5, "extension": 5, "cap": 10}},
            "soft_close",
        ),
        (Method.ENGLISH, {"duration": 60, "min_increment": 0}, "min_increment"),
        (Method.ENGLISH, {"duration": 60, "expected_bids": 2}, "expected_bids"),
        (Method.ENGLISH, {"duration": 60, "min_bidders": 3, "max_bidders": 2}, "max_bidders"),
        (Method.ENGLISH, {"duration": 0}, "duration"),
        (Method.ENGLISH, {"quiet_seconds": -1}, "quiet_seconds"),
        (Method.ENGLISH, {"duration": 60, "reserve_price": -1}, "reserve_price"),
        (Method.ENGLISH, {"duration": 60, "starting_price": -1}, "starting_price"),
        (Method.ENGLISH, {}, "closes_at"),
        (Method.FPSB, {"expected_bids": 0}, "expected_bids"),
        (Method.FPSB, {"expected_bids": 1, "min_bidders": 2}, "expected_bids"),
        (Method.FPSB, {"expected_bids": 3, "max_bidders": 2}, "expected_bids"),
        (Method.VICKREY, {"duration": 60, "quiet_seconds": 5}, "quiet_seconds"),
        (Method.ENGLISH, {"duration": 60, "colour": "red"}, "colour"),
    ],
)
def test_impossible_rules_are_refused_naming_the_field(
    method: Method, rules: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRules) as info:
        create(method, rules)
    assert info.value.code == "invalid_rules"
    assert info.value.fields["field"] == field
    assert field in info.value.message


def test_natural_spellings_of_none_are_accepted() -> None:
    rules = Rules.from_dict({"duration": 60, "reserve_price": 0})
    assert rules.reserve_price is None
    run = Run(Method.ENGLISH, rules)
    assert public_view(run.state, T0)["rules"]["has_reserve"] is False
    assert public_view(run.state, T0)["reserve_met"] is None
    # an opening a few seconds late (a typed "now") opens now
    run = Run(Method.DUTCH, Rules(starting_price=100, decrement=1, opens_at=T0 - 5))
    assert run.state.opens_at == T0 and dutch_price(run.state, T0) == 100
