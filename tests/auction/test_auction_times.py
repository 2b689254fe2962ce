"""Refusals that name a time say it readably: the house in UTC with the epoch seconds in a
field, every face people read (CLI, agents' lines, classic clients, the page) in local time."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from auctionhouse.auction import (
    CancelAuction,
    CloseAuction,
    Method,
    PauseAuction,
    Rules,
)
from auctionhouse.auction.market import CreateMarket, PlaceOrder, apply_market, decide_market
from auctionhouse.errors import AuctionhouseError
from auctionhouse.times import local_time, local_times, utc_time

from .helpers import Run

T0 = 1_900_000_000.0  # 2030-03-17 17:46:40 UTC


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_house_time_in_utc_and_as_a_local_time(tokyo: None) -> None:
    assert utc_time(T0) == "2030-03-17 17:46:40 UTC"
    assert local_time(T0) == "2030-03-18 02:46:40 JST"
    assert local_time(None) == "-"
    said = "auction 7 opens at 2030-03-17 17:46:40 UTC; house time 2030-03-17 17:40:00 UTC"
    assert local_times(said) == (
        "auction 7 opens at 2030-03-18 02:46:40 JST; house time 2030-03-18 02:40:00 JST"
    )
    assert local_times("no time here, 2030-03-17 alone") == "no time here, 2030-03-17 alone"
    assert local_times(f"at {utc_time(T0 + 0.9)}") == f"at {local_time(T0)}"  # what it writes


def _refusal(run: object, command: object, now: float) -> AuctionhouseError:
    try:
        run.do(command, now)  # type: ignore[attr-defined]
    except AuctionhouseError as exc:
        return exc
    raise AssertionError("not refused")


def test_every_refusal_of_a_closed_or_unopened_auction_says_when() -> None:
    run = Run(Method.ENGLISH, Rules(opens_at=T0 + 10, duration=100))
    early = run.try_bid("ann", 5, T0 + 5)
    assert early is not None and early.code == "auction_not_open"
    assert early.message == "auction a1 opens at 2030-03-17 17:46:50 UTC"
    assert early.fields["opens_at"] == T0 + 10
    late = run.try_bid("ann", 5, T0 + 120)  # past its close, not yet closed
    assert late is not None and late.code == "auction_closed"
    assert (late.message, late.fields) == (
        "auction a1 closed at 2030-03-17 17:48:30 UTC",
        {"closed_at": T0 + 110},
    )
    paused = _refusal(run, PauseAuction("a1", "root", as_admin=True), T0 + 120)
    assert paused.message == late.message and paused.fields == late.fields
    run.do(CloseAuction("a1"), T0 + 130)  # recorded 20 s after it was due
    for refused in (
        run.try_bid("ann", 5, T0 + 140),
        _refusal(run, CloseAuction("a1"), T0 + 140),
        _refusal(run, CancelAuction("a1", "seller"), T0 + 140),
        _refusal(run, PauseAuction("a1", "root", as_admin=True), T0 + 140),
    ):
        assert refused is not None and refused.code == "auction_closed"
        assert refused.message == "auction a1 closed at 2030-03-17 17:48:50 UTC (no_bids)"
        assert refused.fields == {"closed_at": T0 + 130}


def test_an_order_on_a_market_past_its_close_says_when() -> None:
    state = None
    for event in decide_market(None, CreateMarket("m1", "owner", "Wheat", closes_at=T0 + 60), T0):
        state = apply_market(state, event)
    with pytest.raises(AuctionhouseError) as caught:
        decide_market(state, PlaceOrder("m1", "ann", "buy", 100, 1), T0 + 61)
    assert caught.value.code == "market_closed"
    assert caught.value.message == "market m1 closed at 2030-03-17 17:47:40 UTC"
    assert caught.value.fields == {"closed_at": T0 + 60}
