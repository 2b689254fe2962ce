"""Property tests: every rule's invariant holds for any sequence of commands."""

from __future__ import annotations

import json
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from auctionhouse.auction import (
    CloseAuction,
    Method,
    Outcome,
    Rules,
    SoftClose,
    close_due_at,
    dutch_price,
    public_event,
    public_view,
    replay,
)
from auctionhouse.errors import AuctionhouseError

from .helpers import T0, Run

BIDDERS = ["ann", "bob", "cat", "dan"]

english_bid = st.tuples(
    st.sampled_from(BIDDERS),
    st.integers(min_value=1, max_value=2_000),
    st.one_of(st.none(), st.integers(min_value=0, max_value=3_000)),
)


@settings(max_examples=300, deadline=None)
@given(
    bids=st.lists(english_bid, max_size=30),
    reserve=st.one_of(st.none(), st.integers(min_value=1, max_value=2_500)),
    increment=st.integers(min_value=1, max_value=50),
    start=st.integers(min_value=1, max_value=200),
)
def test_english_price_never_falls_nor_passes_the_leaders_maximum(
    bids: list[tuple[str, int, int | None]], reserve: int | None, increment: int, start: int
) -> None:
    run = Run(
        Method.ENGLISH,
        Rules(starting_price=start, reserve_price=reserve, min_increment=increment, duration=1000),
    )
    price = 0
    for i, (bidder, amount, extra) in enumerate(bids):
        proxy = None if extra is None else amount + extra
        run.try_bid(bidder, amount, T0 + i + 1, proxy)
        s = run.state
        assert s.price >= price
        price = s.price
        if s.leader is not None:
            assert s.price <= s.maxima[s.leader]
            assert s.price >= start
    run.do(CloseAuction("a1"), T0 + 2000)
    s = run.state
    if s.outcome is Outcome.SOLD:
        assert s.winner == s.leader
        assert s.final_price is not None and s.final_price <= s.maxima[s.winner]
        assert reserve is None or s.final_price >= reserve
        # nobody else was willing to pay more than the winner's price (+ the increment)
        for other, top in s.maxima.items():
            if other != s.winner:
                assert top <= s.final_price
    elif s.leader is not None:
        assert s.outcome is Outcome.RESERVE_NOT_MET
        assert reserve is not None and s.maxima[s.leader] < reserve
    assert replay(run.log) == s


@settings(max_examples=200, deadline=None)
@given(
    maxima=st.lists(st.integers(min_value=10, max_value=10_000), min_size=2, max_size=6),
    increment=st.integers(min_value=1, max_value=25),
)
def test_english_proxy_winner_has_the_highest_maximum_and_pays_at_most_second_plus_increment(
    maxima: list[int], increment: int
) -> None:
    run = Run(Method.ENGLISH, Rules(starting_price=1, min_increment=increment, duration=100))
    for i, top in enumerate(maxima):
        amount = run.state.price + increment if run.state.leader else 1
        if amount <= top:
            run.bid(f"b{i}", amount, T0 + i + 1, proxy_max=top)
    run.do(CloseAuction("a1"), T0 + 200)
    s = run.state
    assert s.winner is not None and s.final_price is not None
    winner_max = maxima[int(s.winner[1:])]
    # Nobody whose maximum was a full increment above the winner's was left out...
    assert max(maxima) < winner_max + increment
    # ...and when maxima are further apart than that, the highest maximum wins.
    best = max(maxima)
    if all(m == best or m + increment <= best for m in maxima):
        assert s.winner == f"b{maxima.index(best)}"
    others = [m for j, m in enumerate(maxima) if f"b{j}" != s.winner]
    assert s.final_price <= min(winner_max, max(others) + increment)


sealed_bids = st.lists(
    st.tuples(st.sampled_from([*BIDDERS, "eve", "fay"]), st.integers(min_value=1, max_value=1000)),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(
    bids=sealed_bids,
    reserve=st.one_of(st.none(), st.integers(min_value=1, max_value=1000)),
    vickrey=st.booleans(),
)
def test_sealed_price_rules(
    bids: list[tuple[str, int]], reserve: int | None, vickrey: bool
) -> None:
    method = Method.VICKREY if vickrey else Method.FPSB
    run = Run(method, Rules(reserve_price=reserve, duration=100))
    accepted: list[tuple[str, int]] = []
    for i, (bidder, amount) in enumerate(bids):
        err = run.try_bid(bidder, amount, T0 + i + 1)
        if err is None:
            accepted.append((bidder, amount))
        else:
            assert err.code == "already_bid"
            assert bidder in [b for b, _ in accepted]
    run.do(CloseAuction("a1"), T0 + 100)
    s = run.state
    if not accepted:
        assert s.outcome is Outcome.NO_BIDS
        return
    ranked = sorted(enumerate(accepted), key=lambda x: (-x[1][1], x[0]))
    top_bidder, top = ranked[0][1]
    if reserve is not None and top < reserve:
        assert s.outcome is Outcome.RESERVE_NOT_MET
        return
    assert s.outcome is Outcome.SOLD and s.winner == top_bidder
    if vickrey:
        second = ranked[1][1][1] if len(ranked) > 1 else 1
        assert s.final_price == max(second, reserve or 0)
    else:
        assert s.final_price == top
    assert replay(run.log) == s


@settings(max_examples=200, deadline=None)
@given(
    start=st.integers(min_value=10, max_value=10_000),
    decrement=st.integers(min_value=1, max_value=500),
    tick=st.sampled_from([0.1, 0.5, 1.0, 2.5]),
    floor=st.integers(min_value=1, max_value=10),
    reserve=st.one_of(st.none(), st.integers(min_value=1, max_value=10_000)),
    wait=st.floats(min_value=0, max_value=500, allow_nan=False),
)
def test_dutch_price_is_the_clock_price_at_the_accept(
    start: int, decrement: int, tick: float, floor: int, reserve: int | None, wait: float
) -> None:
    reserve = None if reserve is None else min(reserve, start)
    rules = Rules(starting_price=start, decrement=decrement, tick_seconds=tick, floor_price=floor)
    secret = Run(Method.DUTCH, replace(rules, reserve_price=reserve))
    public = Run(Method.DUTCH, rules)
    # The clock's path and its close do not depend on the secret reserve.
    assert close_due_at(secret.state) == close_due_at(public.state)
    now = T0 + wait
    clock_price = dutch_price(secret.state, now)
    assert clock_price == dutch_price(public.state, now)
    err = secret.try_bid("ann", start, now)
    if err is not None:  # the clock ran out and the auction closed unsold
        assert err.code == "auction_closed"
        return
    steps = int((wait + 1e-9) // tick)
    assert clock_price == max(floor, start - steps * decrement)
    assert floor <= clock_price <= start
    if reserve is not None and clock_price < reserve:
        assert secret.state.outcome is Outcome.RESERVE_NOT_MET
        assert secret.state.final_price is None and secret.state.winner is None
        return
    assert secret.state.outcome is Outcome.SOLD
    assert secret.state.final_price == clock_price


SECRET = 987_653  # an amount no public number can equal by chance here


@settings(max_examples=100, deadline=None)
@given(
    others=st.lists(st.integers(min_value=1, max_value=900), max_size=5),
    vickrey=st.booleans(),
)
def test_sealed_bids_and_proxy_maxima_appear_in_no_public_view_before_close(
    others: list[int], vickrey: bool
) -> None:
    sealed = Run(Method.VICKREY if vickrey else Method.FPSB, Rules(duration=100))
    sealed.bid("ann", SECRET, T0 + 1)
    english = Run(Method.ENGLISH, Rules(duration=100, reserve_price=SECRET + 1))
    english.bid("ann", 1, T0 + 1, proxy_max=SECRET)
    covered = Run(Method.ENGLISH, Rules(duration=100, reserve_price=SECRET + 1))
    covered.bid("ann", 1, T0 + 1, proxy_max=SECRET + 500)  # the reserve is met, yet secret
    for i, amount in enumerate(others):
        sealed.try_bid(f"o{i}", amount, T0 + 2 + i)
        english.try_bid(f"o{i}", amount, T0 + 2 + i)
        covered.try_bid(f"o{i}", amount, T0 + 2 + i)
    assert public_view(covered.state, T0 + 50)["reserve_met"] is True
    for run in (sealed, english, covered):
        s = run.state
        text = json.dumps(public_view(s, T0 + 50)) + json.dumps(
            [public_event(e, s.method, revealed=False) for e in run.log]
        )
        assert str(SECRET) not in text
        assert str(SECRET + 1) not in text  # the reserve is secret too
        assert str(SECRET + 500) not in text


@settings(max_examples=100, deadline=None)
@given(
    commands=st.lists(
        st.tuples(st.sampled_from(["bid", "pause", "resume", "wait"]), st.integers(1, 300)),
        max_size=25,
    )
)
def test_replaying_the_log_gives_exactly_the_live_state(commands: list[tuple[str, int]]) -> None:
    from auctionhouse.auction import PauseAuction, ResumeAuction

    run = Run(
        Method.ENGLISH,
        Rules(duration=500, soft_close=SoftClose(window=30, extension=20, cap=60)),
    )
    now = T0
    for i, (kind, x) in enumerate(commands):
        now += 1
        try:
            if kind == "bid":
                run.bid(BIDDERS[i % 4], run.state.price + x, now, proxy_max=None)
            elif kind == "pause":
                run.do(PauseAuction("a1", "admin", as_admin=True), now)
            elif kind == "resume":
                run.do(ResumeAuction("a1", "admin", as_admin=True), now)
            else:
                now += x
        except AuctionhouseError:
            pass
        assert replay(run.log) == run.state
