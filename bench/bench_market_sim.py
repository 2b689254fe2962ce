"""Simulated continuous double auctions: trading days per second; prints one JSON object.

    python bench/bench_market_sim.py [--markets N] [--days D]

Figures: trading days simulated per second (``markets x days / seconds``) and order turns per
second, for ZIC and for ZIP traders (ZIP learns on every event, so it costs more) on the
symmetric schedule (22 one-unit traders, 550 turns a day), BSE's book, and ZIC under Gode and
Sunder's rules on the 48-unit gs-style schedule. Each figure is the best of three runs, so a
busy shared machine disturbs it less; ``days_per_cpu_second`` divides by the process's CPU time,
which a loaded machine disturbs less than the wall clock.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from auctionhouse.sim.market import MarketConfig, simulate


def best(cfg: MarketConfig) -> dict[str, float]:
    runs, cpu = [], []
    for _ in range(3):
        began = time.process_time()
        runs.append(simulate(cfg))
        cpu.append(time.process_time() - began)
    fastest = min(runs, key=lambda r: r.seconds)
    days = cfg.markets * cfg.days
    return {
        "days_per_second": round(fastest.days_per_second, 1),
        "days_per_cpu_second": round(days / min(cpu), 1),
        "turns_per_second": round(fastest.days_per_second * cfg.turns()),
        "seconds": round(fastest.seconds, 3),
        "efficiency": round(float(fastest.efficiency.mean()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markets", type=int, default=1000)
    parser.add_argument("--days", type=int, default=2)
    args = parser.parse_args()
    m, d = args.markets, args.days
    cells = {
        "zic_symmetric_lob": MarketConfig(traders="zic", markets=m, days=d, seed=1),
        "zip_symmetric_lob": MarketConfig(traders="zip", markets=m, days=d, seed=1),
        "zic_gs_style_gs": MarketConfig(
            schedule="gs-style", traders="zic", rule="gs", markets=m, days=d, seed=1
        ),
    }
    out: dict[str, object] = {"markets": m, "days": d}
    out.update({name: best(cfg) for name, cfg in cells.items()})
    out["simulated_cda_days_per_second"] = min(
        v["days_per_second"] for k, v in out.items() if isinstance(v, dict)
    )
    out["python"] = platform.python_version()
    out["machine"] = platform.machine()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
