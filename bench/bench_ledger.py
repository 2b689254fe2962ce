"""Benchmark of the durable ledger: group-commit append and replay speed. Prints one JSON object.

    python bench/bench_ledger.py [--events 200000] [--auctions 200] [--dir DIR] [--repeat 3]

Events are real English-auction bids made by ``auction.decide``; appends go to a real SQLite file
(WAL, synchronous=FULL: one fsync per batch). Replay reads every event back with
``Ledger.events()`` and folds it with ``auction.apply``; then the audit re-verifies the file.
Each rate is the best of ``--repeat`` runs (the machine is shared; the best run is the least
disturbed one).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from auctionhouse import auction
from auctionhouse.auction import AuctionState, Event
from auctionhouse.ledger import HouseKey, Ledger, SQLiteStore, audit_database


def make_events(n_auctions: int, n_events: int, now: float = 1_000.0) -> list[Event]:
    """``n_events`` events round-robin over ``n_auctions`` English auctions (creates + bids)."""
    states: dict[str, AuctionState] = {}
    out: list[Event] = []
    rules = auction.Rules(starting_price=100, duration=10**9)
    for i in range(n_auctions):
        aid = f"auction-{i:05d}"
        cmd = auction.CreateAuction(aid, "seller", f"item {i}", auction.Method.ENGLISH, rules)
        events = auction.decide(None, cmd, now)
        states[aid] = auction.replay(events)  # type: ignore[assignment]
        out.extend(events)
    i = 0
    while len(out) < n_events:
        aid = f"auction-{i % n_auctions:05d}"
        state = states[aid]
        bid = auction.PlaceBid(aid, f"bidder-{i % 7}", max(state.price, 100) + 1 + i % 5)
        for event in auction.decide(state, bid, now + i * 1e-3):
            state = auction.apply(state, event)
            out.append(event)
        i += 1
    return out[:n_events]


def batches(events: list[Event], size: int) -> Iterator[list[Event]]:
    for start in range(0, len(events), size):
        yield events[start : start + size]


def bench_append(directory: Path, events: list[Event], size: int, limit: int, run: int) -> float:
    """Durable events/s appending ``events[:limit]`` in batches of ``size`` to a new file."""
    db = directory / f"append-{size}-{run}.db"
    ledger = Ledger(SQLiteStore(db), HouseKey.load_or_create(f"{db}.key"))
    chunk = events[:limit]
    start = time.perf_counter()
    for batch in batches(chunk, size):
        ledger.append(batch)
    elapsed = time.perf_counter() - start
    ledger.close()
    return len(chunk) / elapsed


def bench_replay(db: Path) -> tuple[int, float]:
    ledger = Ledger(SQLiteStore(db), HouseKey.load_or_create(f"{db}.key"))
    apply = auction.apply
    states: dict[str, AuctionState] = {}
    get = states.get
    start = time.perf_counter()
    n = 0
    for event in ledger.events():
        states[event.auction_id] = apply(get(event.auction_id), event)
        n += 1
    elapsed = time.perf_counter() - start
    ledger.close()
    return n, n / elapsed


def bench_audit(db: Path) -> float:
    start = time.perf_counter()
    report = audit_database(db)
    assert report.ok, report.findings[:3]
    return report.events / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--auctions", type=int, default=200)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3, help="report the best of N runs")
    args = parser.parse_args()
    runs = range(args.repeat)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        directory = Path(tmp)
        events = make_events(args.auctions, args.events)
        result: dict[str, object] = {
            "events": len(events),
            "auctions": args.auctions,
            "cpu_count": os.cpu_count(),
            "repeat": args.repeat,
            "append_events_per_s": {
                f"batch_{size}": round(
                    max(bench_append(directory, events, size, limit, r) for r in runs)
                )
                for size, limit in ((1, 2_000), (100, 50_000), (1000, len(events)))
            },
        }
        del events  # replay runs as on a house start: without the writer's objects alive
        gc.collect()
        full = directory / "append-1000-0.db"
        replays = [bench_replay(full) for _ in runs]
        result["replay_events"] = replays[0][0]
        result["replay_events_per_s"] = round(max(rate for _n, rate in replays))
        result["audit_events_per_s"] = round(bench_audit(full))
        print(json.dumps(result))


if __name__ == "__main__":
    main()
