"""Lists read from maintained sort keys (house/listing.py ``ListingIndex``) answer exactly what
sorting every candidate would: every sort x filter, ties newest first, after bids, the clock
(openings, Dutch steps, due closes), pauses, cancels and a restart.

The reference here is the plain way: every auction's key computed at ``now`` and a stable
sort of the newest-first list, the way the house answered before it kept the keys.
"""

from __future__ import annotations

import itertools
import math
import random
from pathlib import Path
from typing import Any

import pytest

from auctionhouse.auction import AuctionState, close_due_at
from auctionhouse.errors import AuctionhouseError
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig, listing
from auctionhouse.house.listing import METHODS, SORTS, STATES, listed_price
from auctionhouse.ledger.search import query_terms, words

CFG = HouseConfig.for_tests(
    account_rate=1e12, account_burst=1e12, min_bidders=1, max_concurrent_auctions=10_000
)
SELLERS = ("sam", "sue")
BIDDERS = ("ann", "bob", "cat")
WORDS = ("vase", "oak", "lamp", "clock")


def _reference(
    h: AuctionHouse,
    *,
    state: str | None = None,
    method: str | None = None,
    seller: str | None = None,
    bidder: str | None = None,
    viewer: str | None = None,
    query: str | None = None,
    sort: str = "newest",
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[str], int]:
    now = h.clock.now()
    ids = h.auction_ids()[::-1]  # newest first
    if query:  # by hand: every term begins one of the item's words
        terms = query_terms(query)

        def matches(aid: str) -> bool:
            s = h.state(aid)
            known = words(f"{s.item_name} {s.item_description}")
            return bool(terms) and all(any(w.startswith(t) for w in known) for t in terms)

        ids = [a for a in ids if matches(a)]
    chosen: list[AuctionState] = []
    for aid in ids:
        s = h.state(aid)
        if state is not None and s.phase(now).value != state:
            continue
        if method is not None and s.method.value != method:
            continue
        if seller is not None and s.seller != seller:
            continue
        if bidder is not None:
            if bidder not in s.bidders:
                continue
            if s.method.sealed and s.outcome is None and viewer != bidder:
                continue
        chosen.append(s)

    def ending(s: AuctionState) -> float:
        due = close_due_at(s)
        return math.inf if s.outcome is not None or due is None or due <= now else due

    def unsold(s: AuctionState) -> bool:
        return s.outcome is not None and s.final_price is None

    keys: dict[str, Any] = {
        "newest": lambda s: 0,
        "ending_soonest": ending,
        "price_low": lambda s: math.inf if unsold(s) else listed_price(s, now),
        "price_high": lambda s: math.inf if unsold(s) else -listed_price(s, now),
        "most_bids": lambda s: -len(s.bids),
    }
    ranked = sorted(chosen, key=keys[sort])  # stable: ties stay newest first
    return [s.auction_id for s in ranked[offset : offset + limit]], len(chosen)


def _found(h: AuctionHouse, **kw: Any) -> tuple[list[str], int]:
    views, total = h.find_auctions(**kw)
    return [v["id"] for v in views], total


def _stock(h: AuctionHouse, rng: random.Random, n: int) -> None:
    """``n`` auctions of every method, with few distinct prices and closes (many ties),
    some scheduled to open later, some with a quiet period or a soft close."""
    for _ in range(n):
        method = rng.choice(METHODS)
        seller = rng.choice(SELLERS)
        rules: dict[str, Any] = {"starting_price": rng.choice((100, 200, 300))}
        if method == "dutch":
            rules |= {"decrement": rng.choice((10, 50)), "tick_seconds": rng.choice((5, 7))}
        else:
            rules["duration"] = rng.choice((60, 120, 400))
        if rng.random() < 0.25:
            rules["opens_at"] = h.clock.now() + rng.choice((20, 45))
        if method == "english" and rng.random() < 0.3:
            rules["quiet_seconds"] = 30
        name = f"{rng.choice(WORDS)} {rng.choice(WORDS)}"
        h.create_auction(seller, name, method, rules, description=rng.choice(WORDS))
        h.clock.advance(rng.choice((0, 0, 1)))  # same-second creations too


def _act(h: AuctionHouse, rng: random.Random) -> str:
    """One random thing that happens in a house: a bid, time passing, a pause...; returns
    what happened ("refused" when the house refused it)."""
    ids = h.auction_ids()
    aid = rng.choice(ids)
    roll = rng.random()
    try:
        if roll < 0.55:
            view = h.view(aid)
            least = view.get("min_next_bid") or 100
            amount = least + rng.choice((0, 0, 10, 100))
            h.place_bid(rng.choice(BIDDERS), aid, amount)
            return "bid"
        if roll < 0.8:
            h.clock.advance(rng.choice((1, 3, 5, 11, 29)))
            if rng.random() < 0.5:
                h.tick()  # due closes recorded (else they are only past their close)
            return "clock"
        if roll < 0.88:
            h.pause_auction("root", aid)
            return "pause"
        if roll < 0.95:
            paused = [a for a in ids if h.state(a).paused]
            h.resume_auction("root", rng.choice(paused) if paused else aid)
            return "resume"
        h.cancel_auction(h.state(aid).seller, aid)
        return "cancel"
    except AuctionhouseError:
        return "refused"  # closed, paused, too low...: nothing changed


def _check_all(h: AuctionHouse, rng: random.Random) -> None:
    for state, method, sort in itertools.product((None, *STATES), (None, *METHODS), SORTS):
        kw: dict[str, Any] = {"state": state, "method": method, "sort": sort}
        offset, limit = rng.choice(((0, 100), (0, 3), (2, 4), (7, 2)))
        assert _found(h, **kw, limit=limit, offset=offset) == _reference(
            h, **kw, limit=limit, offset=offset
        ), kw
    for sort in SORTS:  # the set filters, alone and with a state or method
        for extra in (
            {"seller": rng.choice(SELLERS)},
            {"bidder": rng.choice(BIDDERS)},
            {"bidder": "ann", "viewer": "ann"},
            {"query": rng.choice(WORDS)},
            {"query": "vase oak", "state": "open"},
            {"query": rng.choice(WORDS), "method": rng.choice(METHODS), "seller": "sam"},
            {"bidder": "bob", "state": "closed"},
        ):
            kw = {"sort": sort, **extra}
            offset, limit = rng.choice(((0, 100), (1, 3)))
            assert _found(h, **kw, limit=limit, offset=offset) == _reference(
                h, **kw, limit=limit, offset=offset
            ), kw


@pytest.mark.parametrize(
    ("direct", "slack"),
    [(0, 256), (0, 0), (4, 256), (10**9, 256)],
    ids=["walk", "walk-gives-up", "mixed", "sort-direct"],
)
def test_every_sort_and_filter_matches_sorting_every_candidate(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, direct: int, slack: int
) -> None:
    """Random houses through bids, the clock, pauses and cancels: after each step, every
    combination the API offers answers as a full sort would (each way of reading a set
    filter: walking the sort order, a walk past its budget, sorting the set)."""
    monkeypatch.setattr(listing, "_DIRECT", direct)
    monkeypatch.setattr(listing, "_WALK_SLACK", slack)
    rng = random.Random(17 + direct + slack)
    h = AuctionHouse.open(tmp_path / "h.db", config=CFG, clock=clock)
    for name in SELLERS + BIDDERS:
        h.create_account(name, "correct horse")
    h.create_account("root", "correct horse", role="admin")
    _stock(h, rng, 40)
    _check_all(h, rng)
    happened: set[str] = set()
    for step in range(120):
        happened.add(_act(h, rng))
        if step % 12 == 0:
            _check_all(h, rng)
        if step == 60:  # new auctions join a house already listed
            _stock(h, rng, 5)
    _check_all(h, rng)
    assert happened >= {"bid", "clock", "pause", "resume", "cancel"}
    h.close()
    again = AuctionHouse.open(tmp_path / "h.db", config=CFG, clock=clock)  # rebuilt at start
    _check_all(again, rng)
    clock.advance(500)
    _check_all(again, rng)
    again.close()


def _house(tmp_path: Path, clock: FakeClock) -> AuctionHouse:
    h = AuctionHouse.open(tmp_path / "h.db", config=CFG, clock=clock)
    for name in SELLERS + BIDDERS:
        h.create_account(name, "correct horse")
    h.create_account("root", "correct horse", role="admin")
    return h


def test_ties_list_newest_first_and_a_bid_moves_an_auction(
    tmp_path: Path, clock: FakeClock
) -> None:
    h = _house(tmp_path, clock)
    rules = {"starting_price": 500, "duration": 600}
    a, b, c = (h.create_auction("sam", f"lot {i}", "english", rules)["id"] for i in range(3))
    assert _found(h, sort="price_low")[0] == [c, b, a]  # one price, one second: newest first
    assert _found(h, sort="price_high")[0] == [c, b, a]
    assert _found(h, sort="ending_soonest")[0] == [c, b, a]
    h.place_bid("ann", a, 900)  # a live bid: the oldest lot now has the highest price
    assert _found(h, sort="price_high")[0] == [a, c, b]
    assert _found(h, sort="price_low")[0] == [c, b, a]
    assert _found(h, sort="most_bids", limit=1) == ([a], 3)
    h.place_bid("bob", b, 950)
    h.place_bid("cat", b, 1000)
    assert _found(h, sort="price_high")[0] == [b, a, c]
    assert _found(h, sort="most_bids", state="open", method="english")[0] == [b, a, c]
    h.cancel_auction("sam", c)  # closed without a sale: no price, last by price either way
    assert _found(h, sort="price_low")[0] == [a, b, c]
    assert _found(h, sort="price_high")[0] == [b, a, c]
    h.close()


def test_the_clock_moves_lists_without_an_event(tmp_path: Path, clock: FakeClock) -> None:
    """A Dutch clock's steps re-rank it by price; an opening moves a scheduled auction to the
    open ones; a close falling due moves it to the closed ones, and last when ending soonest."""
    h = _house(tmp_path, clock)
    dutch = h.create_auction(
        "sue", "clock", "dutch", {"starting_price": 1000, "decrement": 100, "tick_seconds": 10}
    )["id"]
    english = h.create_auction("sam", "vase", "english", {"starting_price": 700, "duration": 55})
    later = h.create_auction(
        "sam",
        "lamp",
        "english",
        {"starting_price": 800, "duration": 600, "opens_at": clock.now() + 30},
    )
    e, s = english["id"], later["id"]
    assert _found(h, sort="price_low")[0] == [e, s, dutch]
    assert _found(h, state="scheduled")[0] == [s]
    clock.advance(25)  # the clock stepped twice: 800, tied with the lamp but older
    assert _found(h, sort="price_low")[0] == [e, s, dutch]
    clock.advance(10)  # 700 now; the lamp opened
    assert _found(h, sort="price_low")[0] == [e, dutch, s]
    assert _found(h, state="scheduled") == ([], 0)
    assert _found(h, state="open", sort="price_high")[0] == [s, e, dutch]
    clock.advance(20)  # the vase is due (55 s), not yet closed by a timer: closed, and last
    assert _found(h, sort="ending_soonest")[0] == [dutch, s, e]  # the clock ends at 110 s
    assert _found(h, state="closed")[0] == [e]
    assert _found(h, state="open", sort="price_low")[0] == [dutch, s]
    h.pause_auction("root", dutch)  # a paused clock keeps its price and leaves the open list
    clock.advance(100)
    assert _found(h, state="paused", sort="price_low") == ([dutch], 1)
    assert h.view(dutch)["price"] == 500
    h.close()
