"""Agents against one networked house. Prints one JSON object.

    python bench/bench_agents.py [--agents 1000] [--auctions 100] [--duration 30]
                                 [--increment 100] [--reaction 0.5] [--via ws|http]
                                 [--english-bidders 80] [--english-duration 5]

A real ``auctionhouse serve`` runs in a subprocess (SQLite, fsync'd group commit, signed bids
required); this process hosts every agent on one agent runtime. Each agent is a full remote
agent: its own account, Ed25519 key, session, WebSocket subscription, and its own connection
for bids (a second WebSocket with ``--via ws``, HTTP with ``--via http``).

- ``concurrent``: ``--agents`` bidders spread over ``--auctions`` English auctions (values
  U[50.00, 150.00], increment ``--increment``), a quarter each market-value, conservative
  (increment bidders: each re-bids whenever it is outbid, after a random reaction time of up
  to ``--reaction`` s), truthful and equilibrium (proxy maxima). Reports the set-up time, bids
  accepted and refused, bids per second, the bid round trip (p50/p99 ms), how many auctions
  sold by the rules (to a bidder whose limit is within one increment of the highest, at no more
  than the best loser's limit plus one increment), and the agents' failures.
- ``english_80``: ``--english-bidders`` bidders in one English auction; after its close, the
  seconds until the house has closed it and until the last bidder has heard the result.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from auctionhouse.agents.bidder import BidderAgent, Want
from auctionhouse.agents.bidding import make_strategy
from auctionhouse.agents.market import SignedBid
from auctionhouse.agents.remote import RemoteMarket
from auctionhouse.agents.runtime import Runtime
from auctionhouse.client import BidKey

PASSWORD = "bench-agent-password"


class TimedMarket(RemoteMarket):
    """A remote market that times each bid's round trip."""

    latencies: ClassVar[list[float]] = []

    async def send_bid(self, bid: SignedBid) -> dict[str, Any]:
        start = time.perf_counter()
        try:
            return await super().send_bid(bid)
        finally:
            TimedMarket.latencies.append(time.perf_counter() - start)


def start_house(tmp: Path) -> tuple[subprocess.Popen[str], str]:
    """bench_server's house (limits lifted: one host runs every agent), with signed bids
    required and room for every auction of one seller."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_server import start_server

    os.environ["AUCTIONHOUSE_HOUSE_BID_VERIFICATION_REQUIRED"] = "true"
    os.environ["AUCTIONHOUSE_HOUSE_MAX_CONCURRENT_AUCTIONS"] = "100000"
    return start_server(tmp)


async def start_markets(
    url: str, names: list[str], via: Any, parallel: int = 64
) -> list[TimedMarket]:
    gate = asyncio.Semaphore(parallel)

    async def one(name: str) -> TimedMarket:
        market = TimedMarket(
            url,
            name,
            PASSWORD,
            key=BidKey.generate(),
            create_account=True,
            timeout=60,
            bid_via=via,
        )
        async with gate:
            await market.start()
        return market

    return await asyncio.gather(*(one(n) for n in names))


def spawn_bidders(
    rt: Runtime,
    cls: type[BidderAgent],
    markets: list[TimedMarket],
    values: Any,
    auction_ids: list[str],
    reaction: float,
) -> list[BidderAgent]:
    """One bidder per market, strategies in turn, the i-th in auction ``i mod len(ids)``."""
    bidders = []
    for i, market in enumerate(markets):
        bidder = cls(
            market.account,
            market,
            make_strategy(STRATEGIES[i % len(STRATEGIES)]),
            budget=1_000_000,
            wants=[Want("*", int(values[i]))],
            auctions=[auction_ids[i % len(auction_ids)]],
            poll=1.0,
            reaction=reaction,
        )
        bidders.append(bidder)
        rt.spawn(bidder, name=market.account)
    return bidders


async def wait_closed(seller: RemoteMarket, ids: list[str], timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        page = await seller.auctions(state="closed")
        closed = {str(v["id"]): v for v in page}
        if all(a in closed for a in ids):
            return [closed[a] for a in ids]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(ids) - len(closed)} auctions did not close in time")
        await asyncio.sleep(0.25)


STRATEGIES = ("market-value", "truthful", "conservative", "equilibrium")


async def concurrent(
    url: str,
    agents: int,
    auctions: int,
    duration: float,
    increment: int,
    reaction: float,
    via: str,
) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    began = time.perf_counter()
    seller = RemoteMarket(url, "bench-seller", PASSWORD, create_account=True, timeout=60)
    await seller.start()
    names = [f"a{i:04d}" for i in range(agents)]
    markets = await start_markets(url, names, via)
    setup = time.perf_counter() - began
    ids = []
    for i in range(auctions):
        view = await seller.create_auction(
            f"lot {i}",
            "english",
            {"duration": duration, "starting_price": 1000, "min_increment": increment},
        )
        ids.append(str(view["id"]))
    values = rng.integers(5_000, 15_001, agents)
    TimedMarket.latencies = []
    async with Runtime(seed=1) as rt:
        bidders = spawn_bidders(rt, BidderAgent, markets, values, ids, reaction)
        bidding_from = time.perf_counter()
        results = await wait_closed(seller, ids, duration + 120)
        bidding = time.perf_counter() - bidding_from
        failures = len(rt.failures)
        await rt.idle()
    await seller.close()
    limits: dict[str, dict[str, int]] = {aid: {} for aid in ids}
    for b in bidders:
        for aid, t in b.tracked.items():
            limits[aid][b.account] = t.limit or 0
    correct = 0
    for view in results:
        result = view["result"]
        if result["outcome"] != "sold":
            continue
        others = dict(limits[str(view["id"])])
        mine = others.pop(result["winner"])
        best_loser = max(others.values(), default=0)
        if mine >= best_loser - increment and result["price"] <= best_loser + increment:
            correct += 1
    accepted = sum(len(t.my_bids) for b in bidders for t in b.tracked.values())
    refused: dict[str, int] = {}
    for b in bidders:
        for code, n in b.refusals.items():
            refused[code] = refused.get(code, 0) + n
    lat = sorted(TimedMarket.latencies)
    return {
        "agents": agents,
        "auctions": auctions,
        "auction_seconds": duration,
        "setup_seconds": round(setup, 2),
        "bids_accepted": accepted,
        "bids_refused": refused,
        "accepted_bids_per_second": round(accepted / duration, 1),
        "bid_attempts_per_second": round((accepted + sum(refused.values())) / duration, 1),
        "bid_round_trip_ms": {
            "p50": round(1000 * lat[len(lat) // 2], 2) if lat else None,
            "p99": round(1000 * lat[int(len(lat) * 0.99)], 2) if lat else None,
        },
        "sold_by_the_rules": correct,
        "seconds_to_all_results": round(bidding, 2),
        "agent_failures": failures,
    }


async def english_80(
    url: str, bidders: int, duration: float, reaction: float, via: str
) -> dict[str, Any]:
    seller = RemoteMarket(url, "bench-seller-80", PASSWORD, create_account=True, timeout=60)
    await seller.start()
    names = [f"e{i:03d}" for i in range(bidders)]
    markets = await start_markets(url, names, via)
    view = await seller.create_auction(
        "lot 80", "english", {"duration": duration, "starting_price": 1000, "min_increment": 100}
    )
    aid = str(view["id"])
    closes_at = float(view["closes_at"])
    heard: dict[str, float] = {}

    class TimedBidder(BidderAgent):
        """Notes when it learns the result (every follower, whether it bid or not)."""

        def _settle(self, auction_id: str, tracked: Any) -> None:
            heard.setdefault(self.account, time.time())
            super()._settle(auction_id, tracked)

    values = np.random.default_rng(2).integers(5_000, 15_001, bidders)
    async with Runtime(seed=2) as rt:
        agents = spawn_bidders(rt, TimedBidder, markets, values, [aid], reaction)
        result = (await wait_closed(seller, [aid], duration + 60))[0]["result"]
        took_part = sum(1 for a in agents if a.tracked[aid].my_bids)
        deadline = time.monotonic() + 30
        while len(heard) < bidders and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await rt.idle()
    await seller.close()
    delays = sorted(t - closes_at for t in heard.values())
    return {
        "bidders": bidders,
        "auction_seconds": duration,
        "outcome": result["outcome"],
        "house_close_delay_seconds": round(result["closed_at"] - closes_at, 3),
        "bidders_told": len(heard),
        "bidders_that_bid": took_part,
        "result_to_last_bidder_seconds": round(delays[-1], 3) if delays else None,
        "result_to_median_bidder_seconds": round(statistics.median(delays), 3) if delays else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--auctions", type=int, default=100)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--increment", type=int, default=100)
    parser.add_argument("--reaction", type=float, default=0.5)
    parser.add_argument("--via", choices=("http", "ws"), default="ws")
    parser.add_argument("--english-bidders", type=int, default=80)
    parser.add_argument("--english-duration", type=float, default=5.0)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="bench-agents-") as tmp:
        proc, url = start_house(Path(tmp))
        try:
            out = {
                "concurrent": asyncio.run(
                    concurrent(
                        url,
                        args.agents,
                        args.auctions,
                        args.duration,
                        args.increment,
                        args.reaction,
                        args.via,
                    )
                ),
                "english_80": asyncio.run(
                    english_80(
                        url, args.english_bidders, args.english_duration, args.reaction, args.via
                    )
                ),
            }
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
