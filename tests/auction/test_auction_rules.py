"""Each rule of DESIGN.md section 2, by example, on explicit times (no clock, no sleeps)."""

from __future__ import annotations

import pytest

from auctionhouse.auction import (
    CancelAuction,
    CloseAuction,
    CreateAuction,
    DeadlineExtended,
    Method,
    Outcome,
    PauseAuction,
    PlaceBid,
    ResumeAuction,
    Rules,
    SoftClose,
    close_due_at,
    decide,
    dutch_price,
    event_from_dict,
    event_to_dict,
    public_view,
)
from auctionhouse.errors import (
    AuctionhouseError,
    InvalidRequest,
    InvalidRules,
    NotFound,
)

from .helpers import T0, Run


def code_of(run: Run, command: object, now: float) -> str:
    with pytest.raises(AuctionhouseError) as info:
        run.do(command, now)
    return info.value.code


def test_english_starting_price_and_increment() -> None:
    run = Run(Method.ENGLISH, Rules(starting_price=100, min_increment=10, duration=60))
    assert run.try_bid("ann", 99, T0 + 1).code == "bid_too_low"  # type: ignore[union-attr]
    run.bid("ann", 100, T0 + 1)
    err = run.try_bid("bob", 109, T0 + 2)
    assert err is not None and err.code == "bid_too_low" and err.fields["minimum"] == 110
    run.bid("bob", 110, T0 + 2)
    assert (run.state.price, run.state.leader) == (110, "bob")


def test_english_proxy_bids_the_least_needed() -> None:
    run = Run(Method.ENGLISH, Rules(starting_price=10, min_increment=5, duration=60))
    run.bid("ann", 10, T0 + 1, proxy_max=200)
    assert (run.state.price, run.state.leader) == (10, "ann")
    run.bid("bob", 50, T0 + 2)  # ann's proxy answers at 55
    assert (run.state.price, run.state.leader) == (55, "ann")
    run.bid("bob", 200, T0 + 3)  # a tie at ann's maximum goes to the earlier bid
    assert (run.state.price, run.state.leader) == (200, "ann")
    run.bid("bob", 205, T0 + 4)
    assert (run.state.price, run.state.leader) == (205, "bob")


def test_english_secret_reserve_and_reserve_met() -> None:
    run = Run(Method.ENGLISH, Rules(starting_price=10, reserve_price=100, duration=60))
    run.bid("ann", 50, T0 + 1)
    view = public_view(run.state, T0 + 1)
    assert view["reserve_met"] is False and "reserve_price" not in view["rules"]
    run.bid("bob", 60, T0 + 2, proxy_max=500)  # the maximum covers the reserve...
    view = public_view(run.state, T0 + 2)
    assert view["reserve_met"] is True
    assert view["price"] == 60  # ...but the price does not jump to it: that would reveal it
    run.do(CloseAuction("a1"), T0 + 60)
    assert (run.state.outcome, run.state.winner, run.state.final_price) == (
        Outcome.SOLD,
        "bob",
        100,  # a winner whose maximum covers the reserve pays at least the reserve
    )


def test_english_reserve_not_met() -> None:
    run = Run(Method.ENGLISH, Rules(reserve_price=100, duration=60))
    run.bid("ann", 50, T0 + 1, proxy_max=99)
    assert run.state.price == 50  # a maximum under the reserve is not revealed
    run.do(CloseAuction("a1"), T0 + 60)
    assert run.state.outcome is Outcome.RESERVE_NOT_MET and run.state.winner is None


def test_soft_close_extends_up_to_the_hard_cap() -> None:
    rules = Rules(duration=100, soft_close=SoftClose(window=10, extension=30, cap=50))
    run = Run(Method.ENGLISH, rules)
    assert run.bid("ann", 1, T0 + 50)[-1].__class__.__name__ == "BidPlaced"  # not in window
    events = run.bid("bob", 2, T0 + 95)
    assert isinstance(events[-1], DeadlineExtended) and run.state.closes_at == T0 + 130
    run.bid("ann", 3, T0 + 125)
    assert run.state.closes_at == T0 + 150  # capped at 100 + 50
    assert not any(isinstance(e, DeadlineExtended) for e in run.bid("bob", 4, T0 + 149))
    assert run.try_bid("ann", 5, T0 + 150).code == "auction_closed"  # type: ignore[union-attr]
    run.do(CloseAuction("a1"), T0 + 150)
    assert run.state.winner == "bob"


def test_quiet_period_close() -> None:
    run = Run(Method.ENGLISH, Rules(starting_price=50, quiet_seconds=10))
    assert close_due_at(run.state) == T0 + 10
    run.bid("ann", 60, T0 + 5)
    assert close_due_at(run.state) == T0 + 15
    assert code_of(run, CloseAuction("a1"), T0 + 14) == "rule_violation"  # not due yet
    run.do(CloseAuction("a1"), T0 + 15)
    assert (run.state.winner, run.state.final_price) == ("ann", 60)


def test_open_time_pause_and_resume_stop_the_clocks() -> None:
    run = Run(Method.ENGLISH, Rules(opens_at=T0 + 10, duration=100))
    assert run.try_bid("ann", 5, T0 + 5).code == "auction_not_open"  # type: ignore[union-attr]
    assert public_view(run.state, T0 + 5)["state"] == "scheduled"
    run.bid("ann", 5, T0 + 10)
    assert code_of(run, PauseAuction("a1", "seller"), T0 + 20) == "forbidden"
    run.do(PauseAuction("a1", "root", as_admin=True), T0 + 20)
    assert run.try_bid("bob", 6, T0 + 21).code == "auction_paused"  # type: ignore[union-attr]
    assert close_due_at(run.state) is None
    run.do(ResumeAuction("a1", "root", as_admin=True), T0 + 70)
    assert run.state.closes_at == T0 + 160  # 50 paused seconds added


def test_dutch_clock_pause_floor_and_unsold_close() -> None:
    rules = Rules(
        starting_price=100, decrement=10, tick_seconds=2, floor_price=60, reserve_price=75
    )
    run = Run(Method.DUTCH, rules)
    assert dutch_price(run.state, T0 + 3.9) == 90
    run.do(PauseAuction("a1", "root", as_admin=True), T0 + 4)
    assert dutch_price(run.state, T0 + 100) == 80
    run.do(ResumeAuction("a1", "root", as_admin=True), T0 + 104)
    assert dutch_price(run.state, T0 + 105) == 80
    assert dutch_price(run.state, T0 + 1000) == 60  # never below the (public) floor
    assert close_due_at(run.state) == T0 + 100 + 4 * 2 + 2  # one tick at the floor
    run.do(CloseAuction("a1"), T0 + 110)
    assert run.state.outcome is Outcome.NO_BIDS


def test_dutch_first_accept_wins_at_the_clock_price() -> None:
    run = Run(Method.DUTCH, Rules(starting_price=100, decrement=10, tick_seconds=1))
    assert run.try_bid("ann", 50, T0 + 2).code == "bid_too_low"  # type: ignore[union-attr]
    run.bid("ann", 100, T0 + 2.5)  # agrees to pay up to 100; pays the clock price
    assert (run.state.winner, run.state.final_price) == ("ann", 80)
    assert run.try_bid("bob", 100, T0 + 3).code == "auction_closed"  # type: ignore[union-attr]


def test_sealed_one_bid_each_expected_bids_and_ties() -> None:
    run = Run(Method.FPSB, Rules(expected_bids=3))
    run.bid("ann", 70, T0 + 1)
    assert run.try_bid("ann", 90, T0 + 2).code == "already_bid"  # type: ignore[union-attr]
    run.bid("bob", 70, T0 + 3)
    assert run.state.outcome is None
    run.bid("cat", 20, T0 + 4)  # the third bid closes it at once
    assert (run.state.outcome, run.state.winner, run.state.final_price) == (
        Outcome.SOLD,
        "ann",  # the earlier of two equal bids
        70,
    )


def test_vickrey_pays_second_price_or_reserve() -> None:
    run = Run(Method.VICKREY, Rules(duration=10, reserve_price=50))
    run.bid("ann", 100, T0 + 1)
    run.bid("bob", 40, T0 + 2)
    run.do(CloseAuction("a1"), T0 + 10)
    assert (run.state.winner, run.state.final_price) == ("ann", 50)


def test_min_and_max_bidders() -> None:
    run = Run(Method.VICKREY, Rules(duration=10, min_bidders=3, max_bidders=3))
    for name in ("ann", "bob"):
        run.bid(name, 10, T0 + 1)
    run.do(CloseAuction("a1"), T0 + 10)
    assert run.state.outcome is Outcome.TOO_FEW_BIDDERS
    run = Run(Method.ENGLISH, Rules(duration=10, max_bidders=2))
    run.bid("ann", 1, T0 + 1)
    run.bid("bob", 2, T0 + 2)
    assert run.try_bid("cat", 3, T0 + 3).code == "auction_full"  # type: ignore[union-attr]
    run.bid("ann", 4, T0 + 4)  # a bidder already in may go on


def test_cancel_rules() -> None:
    run = Run(Method.ENGLISH, Rules(duration=10))
    assert code_of(run, CancelAuction("a1", "mallory"), T0 + 1) == "forbidden"
    run.bid("ann", 1, T0 + 1)
    assert code_of(run, CancelAuction("a1", "seller"), T0 + 2) == "cannot_cancel"
    run.do(CancelAuction("a1", "root", as_admin=True, reason="fraud"), T0 + 3)
    assert run.state.outcome is Outcome.CANCELLED
    assert code_of(run, CancelAuction("a1", "root", as_admin=True), T0 + 4) == "auction_closed"
    fresh = Run(Method.DUTCH, Rules(starting_price=10, decrement=1))
    fresh.do(CancelAuction("a1", "seller"), T0 + 1)
    assert fresh.state.outcome is Outcome.CANCELLED


def test_seller_cannot_bid_and_bad_amounts_are_refused() -> None:
    run = Run(Method.ENGLISH, Rules(duration=10))
    assert run.try_bid("seller", 5, T0 + 1).code == "seller_cannot_bid"  # type: ignore[union-attr]
    for amount in (0, -3, 2.5, True, "7"):
        err = run.try_bid("ann", amount, T0 + 1)  # type: ignore[arg-type]
        assert err is not None and err.code == "invalid_request"
    err = run.try_bid("ann", 10, T0 + 1, proxy_max=5)
    assert err is not None and err.code == "invalid_request"
    assert len(run.log) == 1  # nothing half-written


@pytest.mark.parametrize(
    ("method", "rules", "message"),
    [
        (Method.ENGLISH, {}, "needs closes_at"),
        (Method.DUTCH, {"starting_price": 10}, "decrement"),
        (Method.DUTCH, {"starting_price": 5, "decrement": 1, "reserve_price": 9}, "reserve"),
        (Method.FPSB, {"quiet_seconds": 5, "duration": 5}, "not a sealed-bid rule"),
        (Method.VICKREY, {}, "needs closes_at"),
        (Method.ENGLISH, {"duration": -1}, "positive"),
        (Method.ENGLISH, {"duration": 5, "min_bidders": 3, "max_bidders": 2}, "max_bidders"),
        (Method.ENGLISH, {"duration": 5, "starting_price": 1.5}, "integer"),
        (Method.ENGLISH, {"duration": 5, "colour": "red"}, "unknown rule"),
        (Method.ENGLISH, {"closes_at": T0 - 5}, "closes_at is in the past"),
        (Method.ENGLISH, {"opens_at": T0 + 9, "closes_at": T0 + 5}, "close after it opens"),
        (Method.DUTCH, {"starting_price": 9, "decrement": 1, "tick_seconds": None}, "tick_seconds"),
        (Method.ENGLISH, {"opens_at": float("nan"), "duration": 5}, "time in seconds"),
    ],
)
def test_bad_rules_are_refused_with_a_clear_error(
    method: Method, rules: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidRules, match=message):
        decide(None, CreateAuction("a1", "s", "x", method, Rules.from_dict(rules)), T0)


def test_commands_on_unknown_auctions_and_bad_creates() -> None:
    with pytest.raises(NotFound):
        decide(None, PlaceBid("nope", "ann", 5), T0)
    with pytest.raises(InvalidRequest):
        decide(None, CreateAuction("a1", "s", " ", Method.ENGLISH, Rules(duration=1)), T0)
    with pytest.raises(InvalidRequest):
        decide(None, CreateAuction("a1", "s", "x", "barter", Rules(duration=1)), T0)  # type: ignore[arg-type]


def test_events_round_trip_through_their_dict_form() -> None:
    run = Run(Method.ENGLISH, Rules(duration=100, soft_close=SoftClose(10, 5, 20)))
    run.bid("ann", 3, T0 + 95, proxy_max=10)
    for event in run.log:
        assert event_from_dict(event_to_dict(event)) == event
    with pytest.raises(InvalidRequest):
        event_from_dict({"type": "BidPlaced", "seq": 1})


def test_next_dutch_step_follows_the_clock_pauses_and_floor() -> None:
    from auctionhouse.auction.rules import next_dutch_step

    rules = Rules(
        starting_price=100,
        decrement=10,
        tick_seconds=2,
        floor_price=80,
        reserve_price=95,  # secret: the clock's steps do not depend on it
        opens_at=T0 + 5,
    )
    run = Run(Method.DUTCH, rules)
    assert next_dutch_step(run.state, T0) == T0 + 5  # not open yet: the opening
    assert next_dutch_step(run.state, T0 + 5) == T0 + 7
    assert next_dutch_step(run.state, T0 + 6.5) == T0 + 7
    run.do(PauseAuction("a1", "root", as_admin=True), T0 + 6)
    assert next_dutch_step(run.state, T0 + 6) is None  # paused: the clock stands
    run.do(ResumeAuction("a1", "root", as_admin=True), T0 + 16)
    assert next_dutch_step(run.state, T0 + 16) == T0 + 17  # 10 paused seconds later
    assert next_dutch_step(run.state, T0 + 19) is None  # at the floor (80): no more steps
    assert next_dutch_step(Run(Method.FPSB, Rules(duration=5)).state, T0) is None
