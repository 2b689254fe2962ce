"""Helpers of the ledger tests: real auctions made by the rules core, and store factories."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pg_cluster
from auctionhouse import auction
from auctionhouse.auction import AuctionState, Event
from auctionhouse.ledger import MemoryStore, SQLiteStore, Store
from auctionhouse.ledger.postgres import PostgresStore

T0 = 1_000.0

StoreFactory = Callable[[], Store]


def store_factories(tmp_path: Path) -> dict[str, StoreFactory]:
    """One factory per backend; a PostgreSQL store plugs in here (and nowhere else)."""
    return {
        "memory": MemoryStore,
        "sqlite": lambda: SQLiteStore(tmp_path / "ledger.db"),
        "postgres": lambda: PostgresStore(pg_cluster.new_database()),
    }


def english(auction_id: str, bids: int, *, close: bool = False, at: float = T0) -> list[Event]:
    """An English auction with ``bids`` bids (and its close when ``close``), made by decide."""
    rules = auction.Rules(starting_price=10, duration=1_000)
    create = auction.CreateAuction(auction_id, "seller", "a lamp", auction.Method.ENGLISH, rules)
    events = auction.decide(None, create, at)
    state: AuctionState | None = auction.replay(events)
    assert state is not None
    for i in range(bids):
        bid = auction.PlaceBid(auction_id, f"bidder-{i % 3}", max(state.price, 10) + 1 + i)
        for event in auction.decide(state, bid, at + 1 + i):
            state = auction.apply(state, event)
            events.append(event)
    if close:
        for event in auction.decide(state, auction.CloseAuction(auction_id), at + 2_000):
            events.append(event)
    return events


def bid(auction_id: str, seq: int, amount: int, at: float = T0) -> auction.BidPlaced:
    """A bare bid event (for store and durability tests, where rules do not matter)."""
    return auction.BidPlaced(auction_id, seq, at, f"bidder-{amount % 5}", amount, amount)
