"""Simulator throughput on one core; prints one JSON object.

    /work/venv/bin/python bench/bench_sim.py [--auctions N] [--evolutions K]

Figures: sealed-bid auctions/s (FPSB and Vickrey, 10 bidders, equilibrium bids, values drawn
inside the timing), clock auctions/s (English and Dutch with an increment of 0.01; also English
with the house's proxy rule), and full
thesis default evolutions/s (population 100 x generations 100 x auctions 100, 10 opponents),
and the seconds of one such evolution under the appendix H ``code`` rule (PV and CV), whose
members each play their own auctions (100 times the draws of the ``text`` rule's shared round).
Each figure is the best of three runs, so a busy shared machine disturbs it less.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from auctionhouse.sim.evolve import evolve
from auctionhouse.sim.textbook import TextbookConfig, simulate
from auctionhouse.sim.thesis import ThesisConfig


def best_rate(cfg: TextbookConfig) -> float:
    return max(simulate(cfg).auctions_per_second for _ in range(3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--auctions", type=int, default=4_000_000)
    parser.add_argument("--evolutions", type=int, default=10)
    args = parser.parse_args()
    n = args.auctions
    sealed = {
        m: best_rate(TextbookConfig(method=m, bidders=10, auctions=n, seed=1))
        for m in ("fpsb", "vickrey")
    }
    clock = {
        m: best_rate(TextbookConfig(method=m, bidders=10, auctions=n, increment=0.01, seed=1))
        for m in ("english", "dutch")
    }
    proxy = best_rate(
        TextbookConfig(method="english", english="proxy", auctions=n, increment=0.01, seed=1)
    )
    seconds = []
    for i in range(args.evolutions):
        began = time.perf_counter()
        evolve(ThesisConfig(seed=i))
        seconds.append(time.perf_counter() - began)
    code: dict[str, float] = {}
    for values in ("pv", "cv"):
        runs = []
        for i in range(args.evolutions):
            began = time.perf_counter()
            evolve(ThesisConfig(seed=i, decision="code", values=values))
            runs.append(time.perf_counter() - began)
        code[values] = round(min(runs), 4)
    print(
        json.dumps(
            {
                "bidders": 10,
                "auctions_per_run": n,
                "sealed_bid_auctions_per_second": round(min(sealed.values())),
                "sealed_bid_by_method": {k: round(v) for k, v in sealed.items()},
                "clock_auctions_per_second": round(min(clock.values())),
                "clock_by_method": {k: round(v) for k, v in clock.items()},
                "english_proxy_auctions_per_second": round(proxy),
                "thesis_default_evolution_seconds": round(min(seconds), 4),
                "thesis_default_evolutions_per_second": round(1 / min(seconds), 2),
                "thesis_code_rule_evolution_seconds": code,
                "python": platform.python_version(),
                "machine": platform.machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
