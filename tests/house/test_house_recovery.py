"""Timers, group commit, isolation, and recovery by replaying the ledger."""

from __future__ import annotations

import gc
import random
from pathlib import Path

import pytest

from auctionhouse.auction import Event, replay
from auctionhouse.errors import AuctionhouseError
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig
from auctionhouse.ledger import audit_database

CFG = HouseConfig.for_tests(account_rate=1e9, account_burst=1e9)


def _populate(h: AuctionHouse, rng: random.Random, clock: FakeClock, n_auctions: int) -> None:
    for name in ("seller", "ann", "bob", "cat", "dan"):
        h.create_account(name, "correct horse")
    methods = [
        (
            "english",
            {
                "duration": 50,
                "reserve_price": 30,
                "soft_close": {"window": 5, "extension": 5, "cap": 20},
            },
        ),
        ("english", {"quiet_seconds": 7}),
        ("dutch", {"starting_price": 200, "decrement": 7, "tick_seconds": 1, "reserve_price": 20}),
        ("fpsb", {"duration": 40}),
        ("vickrey", {"duration": 45, "reserve_price": 15}),
    ]
    for i in range(n_auctions):
        method, rules = methods[i % len(methods)]
        h.create_auction("seller", f"item {i}", method, dict(rules))
    for _ in range(300):
        clock.advance(rng.choice([0.1, 0.5, 1.0, 2.0]))
        h.tick()
        aid = str(rng.randint(1, n_auctions))
        bidder = rng.choice(["ann", "bob", "cat", "dan"])
        view = h.view(aid)
        base = view["min_next_bid"] or 1
        try:
            h.place_bid(bidder, aid, base + rng.randint(0, 10), proxy_max=None)
        except AuctionhouseError:
            pass


def test_reopening_replays_to_exactly_the_live_state(tmp_path: Path, clock: FakeClock) -> None:
    h = AuctionHouse.open(tmp_path / "h.db", config=CFG, clock=clock)
    _populate(h, random.Random(7), clock, 10)
    live = {aid: h.state(aid).snapshot() for aid in h.auction_ids()}
    h.ledger.close()  # no clean shutdown: as after a crash
    again = AuctionHouse.open(tmp_path / "h.db", config=CFG, clock=clock)
    assert {aid: again.state(aid).snapshot() for aid in again.auction_ids()} == live
    for aid in again.auction_ids():
        assert replay(again.ledger.events_for(aid)) == again.state(aid)


def test_auctions_due_while_down_close_with_the_outcome_their_log_implies(
    tmp_path: Path, clock: FakeClock
) -> None:
    h = AuctionHouse.open(tmp_path / "h.db", config=CFG, clock=clock)
    for name in ("seller", "ann", "bob"):
        h.create_account(name, "correct horse")
    eng = h.create_auction("seller", "Clock", "english", {"duration": 60, "reserve_price": 50})[
        "id"
    ]
    vic = h.create_auction("seller", "Map", "vickrey", {"duration": 60})["id"]
    low = h.create_auction("seller", "Cup", "english", {"duration": 60, "reserve_price": 500})["id"]
    h.place_bid("ann", eng, 20, proxy_max=80)
    h.place_bid("bob", eng, 60)
    h.place_bid("ann", vic, 70)
    h.place_bid("bob", vic, 30)
    h.place_bid("bob", low, 100)
    h.ledger.close()
    clock.advance(3600)  # the house was down past every deadline
    back = AuctionHouse.open(tmp_path / "h.db", config=CFG, clock=clock)
    closed = back.tick()
    assert len(closed) == 3
    assert back.view(eng)["result"] | {"closed_at": 0} == {
        "outcome": "sold",
        "winner": "ann",
        "price": 61,
        "closed_at": 0,
    }
    assert back.view(vic)["result"]["price"] == 30
    assert back.view(low)["result"]["outcome"] == "reserve_not_met"
    back.close()
    report = audit_database(tmp_path / "h.db")
    assert report.ok, report.findings


def test_timers_close_every_method_on_the_fake_clock(house: AuctionHouse, clock: FakeClock) -> None:
    for name in ("seller", "ann"):
        house.create_account(name, "correct horse")
    d = house.create_auction(
        "seller", "Rug", "dutch", {"starting_price": 50, "decrement": 10, "tick_seconds": 2}
    )["id"]
    q = house.create_auction("seller", "Pen", "english", {"quiet_seconds": 10})["id"]
    clock.advance(9.9)
    assert house.tick() == []
    clock.advance(0.1)
    assert [e.auction_id for e in house.tick()] == [q]
    clock.advance(100)
    house.tick()
    assert house.view(d)["result"]["outcome"] == "no_bids"
    assert house.view(q)["result"]["outcome"] == "no_bids"


def test_a_bid_after_the_deadline_closes_the_auction_first(
    house: AuctionHouse, clock: FakeClock
) -> None:
    for name in ("seller", "ann", "bob"):
        house.create_account(name, "correct horse")
    aid = house.create_auction("seller", "Pen", "english", {"duration": 10})["id"]
    house.place_bid("ann", aid, 5)
    clock.advance(10)  # the timer has not run yet
    try:
        house.place_bid("bob", aid, 50)
    except AuctionhouseError as exc:
        assert exc.code == "auction_closed"
    assert house.view(aid)["result"]["winner"] == "ann"


def test_group_commit_and_isolation(house: AuctionHouse, clock: FakeClock) -> None:
    for name in ("seller", "ann", "bob"):
        house.create_account(name, "correct horse")
    ids = [
        house.create_auction("seller", f"i{i}", "english", {"duration": 99})["id"]
        for i in range(20)
    ]
    with house.batch():
        for i, aid in enumerate(ids):
            house.place_bid("ann", aid, i + 1)
        assert house.ledger.head(ids[-1])[0] == 1  # type: ignore[index]  # not durable yet
    for i, aid in enumerate(ids):
        assert house.ledger.head(aid)[0] == 2  # type: ignore[index]
        assert house.view(aid)["price"] == i + 1  # each auction saw only its own bid


def test_listeners_hear_only_durable_events(house: AuctionHouse, clock: FakeClock) -> None:
    heard: list[str] = []
    house.subscribe(lambda event, state: heard.append(type(event).__name__))
    for name in ("seller", "ann"):
        house.create_account(name, "correct horse")
    with house.batch():
        aid = house.create_auction("seller", "Pen", "fpsb", {"expected_bids": 1})["id"]
        house.place_bid("ann", aid, 5)
        assert heard == []
    assert heard == ["AuctionCreated", "BidPlaced", "AuctionClosed"]


def test_a_failing_listener_stops_neither_the_others_nor_the_command(
    house: AuctionHouse, clock: FakeClock
) -> None:
    heard: list[str] = []

    def broken(event: object, state: object) -> None:
        raise RuntimeError("a face with a bug")

    house.subscribe(broken)
    house.subscribe(lambda event, state: heard.append(type(event).__name__))
    for name in ("seller", "ann"):
        house.create_account(name, "correct horse")
    aid = house.create_auction("seller", "Pen", "english", {"duration": 10})["id"]
    assert house.place_bid("ann", aid, 5)["price"] == 5
    assert heard == ["AuctionCreated", "BidPlaced"]


def test_reputation_history_is_the_same_live_and_after_replay(
    tmp_path: Path, clock: FakeClock
) -> None:
    h = AuctionHouse.open(tmp_path / "h.db", config=CFG, clock=clock)
    for name in ("seller", "ann", "bob"):
        h.create_account(name, "correct horse")
    a = h.create_auction("seller", "A", "english", {"duration": 10})["id"]
    b = h.create_auction("seller", "B", "english", {"duration": 10})["id"]
    h.place_bid("ann", a, 1)
    h.place_bid("bob", a, 2)
    h.place_bid("ann", a, 3)
    h.place_bid("ann", b, 1)
    clock.advance(10)
    h.tick()
    live = h.reputation("ann")
    assert (live["bids"], live["auctions"], live["wins"]) == (3, 2, 2)
    h.close()
    again = AuctionHouse.open(tmp_path / "h.db", config=CFG, clock=clock)
    assert again.reputation("ann") == live
    assert again.reputation("bob")["auctions"] == 1


def test_a_start_with_the_chain_worker_replays_to_exactly_the_live_state(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path a large ledger takes (issue 14): chains hashed by the chain worker, which
    streams the pages it read as one JSON array each, decoded by msgspec into records (every
    ``AuctionCreated`` among them through its exact constructor), the replayed heap frozen out
    of the collector's sight. The state, the event logs and the reputations equal the
    live house's."""
    from auctionhouse.house import house as house_module
    from auctionhouse.ledger import chain_worker, store, verify

    h = AuctionHouse.open(tmp_path / "h.db", config=CFG, clock=clock)
    _populate(h, random.Random(11), clock, 12)
    live = {aid: h.state(aid).snapshot() for aid in h.auction_ids()}
    logs = {aid: h.events(aid) for aid in h.auction_ids()}
    people = {name: h.reputation(name) for name in ("ann", "bob", "cat", "dan")}
    h.ledger.close()  # no clean shutdown: as after a crash
    monkeypatch.setattr(chain_worker, "MIN_EVENTS", 0)
    monkeypatch.setattr(house_module, "FREEZE_AFTER", 0)
    for module in (store, verify):  # pages of 16 events: the exact rows fall in several
        monkeypatch.setattr(module, "PAGE", 16)
    pages: list[int | None] = []  # per page read as arrays: its events (None: read by rows)
    next_events = verify._Pages.next_events

    def counted(self: verify._Pages, chains: verify._Chains) -> list[Event] | None:
        events = next_events(self, chains)
        pages.append(None if events is None else len(events))
        return events

    monkeypatch.setattr(verify._Pages, "next_events", counted)
    taken: list[bool] = []  # the worker's heads taken: it streamed every page to its end
    result = verify._Chains.result

    def recorded(self: verify._Chains, rows: int) -> dict[str, bytes] | None:
        heads = result(self, rows)
        taken.append(heads is not None)
        return heads

    monkeypatch.setattr(verify._Chains, "result", recorded)
    try:
        again = AuctionHouse.open(tmp_path / "h.db", config=CFG, clock=clock)
    finally:
        gc.unfreeze()
    total = sum(len(events) for events in logs.values())
    assert None not in pages and sum(pages) == total  # every page was read as arrays
    assert taken == [True]
    assert {aid: again.state(aid).snapshot() for aid in again.auction_ids()} == live
    assert {aid: again.events(aid) for aid in again.auction_ids()} == logs
    assert {name: again.reputation(name) for name in people} == people
    again.close()
    assert audit_database(tmp_path / "h.db").ok
