"""Accepted bids/s through the house into the durable SQLite ledger, and replay speed.

Prints one JSON object. Paths measured:
- ``sync_single``: one fsync'd transaction per bid (the plain sync API).
- ``group_commit``: ``house.batch()`` of 500 bids per transaction (how the async service runs).
- ``service``: ``HouseService`` with many concurrent submitters on one event loop: decisions on
  the loop, fsyncs pipelined on the writer thread.
- ``replay``: ``AuctionHouse.open`` rebuilding every auction from the ledger.
No signatures here (issue 2's figure); the server bench measures signed bids.

Usage: python bench/bench_house.py [--bids 100000] [--auctions 100]

The goal verdicts are printed to stderr, one line per goal, after the JSON on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from auctionhouse.house import AuctionHouse, HouseConfig
from auctionhouse.house.service import HouseService

CFG = HouseConfig.for_tests(account_rate=1e12, account_burst=1e12, max_pending=100_000)
BIDDERS = [f"b{i}" for i in range(50)]


def setup(db: Path, auctions: int) -> tuple[AuctionHouse, list[str]]:
    house = AuctionHouse.open(db, config=CFG)
    house.create_account("seller", "correct horse")
    for name in BIDDERS:
        house.create_account(name, "correct horse")
    ids = [
        house.create_auction("seller", f"lot {i}", "english", {"duration": 10**6})["id"]
        for i in range(auctions)
    ]
    return house, ids


def bid_stream(n: int, ids: list[str]) -> list[tuple[str, str, int]]:
    # Each auction's price rises by 1 per bid; bidders alternate so every bid is valid.
    out = []
    price = dict.fromkeys(ids, 0)
    for i in range(n):
        aid = ids[i % len(ids)]
        price[aid] += 1
        out.append((BIDDERS[(i // len(ids)) % len(BIDDERS)], aid, price[aid]))
    return out


def run_sync(tmp: Path, n: int, auctions: int) -> float:
    house, ids = setup(tmp / "sync.db", auctions)
    stream = bid_stream(n, ids)
    t = time.perf_counter()
    for bidder, aid, amount in stream:
        house.place_bid(bidder, aid, amount)
    rate = n / (time.perf_counter() - t)
    house.close()
    return rate


def run_group(tmp: Path, n: int, auctions: int, batch: int = 500) -> tuple[float, Path]:
    db = tmp / "group.db"
    house, ids = setup(db, auctions)
    stream = bid_stream(n, ids)
    t = time.perf_counter()
    for start in range(0, n, batch):
        with house.batch():
            for bidder, aid, amount in stream[start : start + batch]:
                house.place_bid(bidder, aid, amount)
    rate = n / (time.perf_counter() - t)
    house.close()
    return rate, db


async def _service(db: Path, n: int, auctions: int, clients: int) -> float:
    house, ids = setup(db, auctions)
    house.close()
    service = HouseService(lambda: AuctionHouse.open(db, config=CFG))
    await service.start()
    stream = bid_stream(n, ids)
    # one submitter per auction group keeps each auction's bids in order
    lanes: list[list[tuple[str, str, int]]] = [[] for _ in range(clients)]
    for item in stream:
        lanes[ids.index(item[1]) % clients].append(item)

    async def lane(items: list[tuple[str, str, int]]) -> None:
        for bidder, aid, amount in items:
            await service.call(lambda h, b=bidder, a=aid, m=amount: h.place_bid(b, a, m))

    t = time.perf_counter()
    await asyncio.gather(*(lane(items) for items in lanes))
    rate = n / (time.perf_counter() - t)
    await service.stop()
    return rate


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_replay(db: Path, repeat: int = 3) -> tuple[float, float, float, int]:
    """A whole restart (open the files, replay and verify every event, rebuild indexes and
    timers); the best of ``repeat`` runs, since a shared machine only ever slows a run down.
    Returns events per second of wall time, of the replaying process's CPU time and of all
    CPU time (with the chain worker's, ledger/chain_worker.py), and the events."""
    best = best_cpu = best_all = 0.0
    events = 0
    for _ in range(repeat):
        t, cpu, child = time.perf_counter(), time.process_time(), children_cpu()
        house = AuctionHouse.open(db, config=CFG)
        elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
        child = children_cpu() - child
        events = sum(len(house.events(aid)) for aid in house.auction_ids())
        house.ledger.close()
        best = max(best, events / elapsed)
        best_cpu = max(best_cpu, events / cpu)
        best_all = max(best_all, events / (cpu + child))
    return best, best_cpu, best_all, events


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bids", type=int, default=100_000)
    parser.add_argument("--auctions", type=int, default=100)
    parser.add_argument("--sync-bids", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        sync_rate = run_sync(tmp, args.sync_bids, args.auctions)
        group_rate, db = run_group(tmp, args.bids, args.auctions)
        service_rate = asyncio.run(_service(tmp / "service.db", args.bids, args.auctions, 100))
        replay_rate, replay_cpu_rate, replay_all_rate, events = run_replay(db)
    goals = {
        "group_commit_bids_per_s>=20000": (group_rate, 20_000),
        "replay_events_per_s>=200000": (replay_rate, 200_000),
    }
    print(
        json.dumps(
            {
                "bench": "house",
                "bids": args.bids,
                "auctions": args.auctions,
                "sync_single_bids_per_s": round(sync_rate),
                "group_commit_bids_per_s": round(group_rate),
                "service_bids_per_s": round(service_rate),
                "replay_events": events,
                "replay_events_per_s": round(replay_rate),
                # the same restarts per second of CPU (what a loaded machine blurs least): of
                # the replaying process, and of it and its chain worker together
                "replay_events_per_cpu_s": round(replay_cpu_rate),
                "replay_events_per_total_cpu_s": round(replay_all_rate),
                "goal_bids_per_s": 20_000,
                "goal_replay_events_per_s": 200_000,
                "goals": {name: value >= goal for name, (value, goal) in goals.items()},
                "load_average": round(os.getloadavg()[0], 2),
            }
        ),
        flush=True,
    )
    for name, (value, goal) in goals.items():
        verdict = "MET" if value >= goal else "NOT MET"
        print(f"goal {name}: {verdict} (measured {value:,.0f})", file=sys.stderr)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", file=sys.stderr)


if __name__ == "__main__":
    main()
