"""Benchmark of finding auctions: search, filters and sort over a house of 100,000 auctions,
through the HTTP API of a real ``auctionhouse serve``. Prints one JSON object.

    python bench/bench_search.py [--auctions 100000] [--queries 40]

The house file is filled with ``--auctions`` auctions (all four methods, 20 sellers; item names
and descriptions drawn from a vocabulary of 2,000 words with a seeded generator, so common words
match thousands of items and rare ones a handful; some scheduled to open later, some cancelled,
some paused, and bids from 50 bidders on a fifth of them), then the server starts on it and each
kind of query is sent ``--queries`` times, one at a time, with httpx (``GET /api/v1/auctions``,
limit 25, the web page's page size). Per kind: the median and p95 latency in ms, and how many
auctions matched (``total``). Goal: every kind answers in under 50 ms p95: the search box
(words, newest first: ``SEARCH_KINDS``) and every sort order with every kind of filter the API
offers (none, a state, a method, both, a seller, a bidder, words, words with a state and a
method; states and methods taken in turn across the queries).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from auctionhouse.house import AuctionHouse, HouseConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import serve_process
from serve_process import ServeProcess

serve_process.START_DEADLINE = 600.0  # replaying 100,000 auctions on a loaded machine

METHODS = ("english", "dutch", "fpsb", "vickrey")
GOAL_MS = 50.0
SEARCH_KINDS = ("common_word", "rare_word", "two_words", "prefix", "all_newest")
SORTS = ("newest", "ending_soonest", "price_low", "price_high", "most_bids")
STATES = ("scheduled", "open", "paused", "closed")


def vocabulary(rng: random.Random, n: int = 2000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(4, 9))))
    return sorted(words)


SELLERS = 20
BIDDERS = 50


def fill(db: Path, n: int, words: list[str], rng: random.Random) -> None:
    config = HouseConfig(
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        max_concurrent_auctions=n + 1,
        account_rate=1e12,
        account_burst=1e12,
    )
    house = AuctionHouse.open(db, config=config)
    weights = [1 / (i + 1) for i in range(len(words))]  # Zipf-like: a few words are common
    try:
        for i in range(SELLERS):
            house.create_account(f"seller{i}", "bench-password")
        for i in range(BIDDERS):
            house.create_account(f"bidder{i}", "bench-password")
        house.create_account("admin", "bench-password", role="admin")
        now = house.clock.now()
        with house.batch():
            for i in range(n):
                method = METHODS[i % 4]
                rules: dict[str, Any] = {
                    "starting_price": rng.randint(100, 100_000),
                    "duration": rng.randint(600, 864_000),
                }
                if method == "dutch":
                    rules = {"starting_price": 100_000, "decrement": 10, "tick_seconds": 60}
                if rng.random() < 0.05:
                    rules["opens_at"] = now + rng.randint(3_600, 86_400)  # scheduled
                name = " ".join(rng.choices(words, weights, k=3)).capitalize()
                description = " ".join(rng.choices(words, weights, k=12))
                seller = f"seller{i % SELLERS}"
                aid = house.create_auction(seller, name, method, rules, description=description)[
                    "id"
                ]
                roll = rng.random()
                if roll < 0.05:
                    house.cancel_auction(seller, aid)  # closed
                elif roll < 0.07:
                    house.pause_auction("admin", aid)
                elif roll < 0.27 and method in ("english", "fpsb") and "opens_at" not in rules:
                    price = rules["starting_price"]
                    for bidder in rng.sample(range(BIDDERS), rng.randint(1, 6)):
                        price += rng.randint(1, 500)
                        house.place_bid(f"bidder{bidder}", aid, price)
    finally:
        house.close()


def query_kinds(words: list[str], queries: int) -> dict[str, list[dict[str, Any]]]:
    """Every kind of query timed, each a list of parameter sets taken in turn."""
    kinds: dict[str, list[dict[str, Any]]] = {
        "common_word": [{"q": words[0]}],
        "rare_word": [{"q": w} for w in words[-queries:]],
        "two_words": [{"q": f"{words[i]} {words[i + 1]}"} for i in range(queries)],
        "prefix": [{"q": w[:3]} for w in words[:queries]],
    }
    methods = [{"method": m} for m in METHODS]
    both = [{"state": s, "method": m} for s in STATES for m in METHODS]
    filters: dict[str, list[dict[str, Any]]] = {
        "all": [{}],
        "state": [{"state": s} for s in STATES],
        "method": methods,
        "state_method": both,
        "seller": [{"seller": f"seller{i}"} for i in range(SELLERS)],
        "bidder": [{"bidder": f"bidder{i}"} for i in range(BIDDERS)],
        "word": [{"q": words[i]} for i in range(4)],  # the commonest: the most matches
        "word_state_method": [{"q": words[i % 4], **b} for i, b in enumerate(both)],
    }
    for sort in SORTS:
        for name, params in filters.items():
            kinds[f"{name}_{sort}"] = [{**p, "sort": sort} for p in params]
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--auctions", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    words = vocabulary(rng)
    kinds = query_kinds(words, args.queries)
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        home = Path(tmp)
        t0 = time.perf_counter()
        fill(home / "house.db", args.auctions, words, rng)
        fill_s = time.perf_counter() - t0
        env = {"AUCTIONHOUSE_HOUSE_ADDRESS_RATE": "1e9", "AUCTIONHOUSE_HOUSE_ADDRESS_BURST": "1e9"}
        server = ServeProcess(home / "house.db", home / "serve.log", env)
        t0 = time.perf_counter()
        server.start()
        start_s = time.perf_counter() - t0
        results: dict[str, Any] = {}
        try:
            with httpx.Client(base_url=server.url, timeout=60) as http:
                for kind, params_list in kinds.items():
                    times, totals = [], []
                    for i in range(args.queries):
                        params = {**params_list[i % len(params_list)], "limit": 25}
                        started = time.perf_counter()
                        response = http.get("/api/v1/auctions", params=params)
                        times.append((time.perf_counter() - started) * 1000)
                        response.raise_for_status()
                        totals.append(response.json()["total"])
                    times.sort()
                    results[kind] = {
                        "median_ms": round(statistics.median(times), 2),
                        "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 2),
                        "matched_median": int(statistics.median(totals)),
                    }
        finally:
            server.stop()
    print(
        json.dumps(
            {
                "bench": "search",
                "auctions": args.auctions,
                "queries_per_kind": args.queries,
                "kinds": results,
                "goal_p95_ms": GOAL_MS,
                "under_goal": all(r["p95_ms"] < GOAL_MS for r in results.values()),
                "over_goal": sorted(k for k, r in results.items() if r["p95_ms"] >= GOAL_MS),
                "worst_p95_ms": max(r["p95_ms"] for r in results.values()),
                "fill_seconds": round(fill_s, 1),
                "server_start_seconds": round(start_s, 1),
            },
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    main()
