"""Restart speed: ``AuctionHouse.open`` (replay + start-up verification) now and, with
``--before REF``, at an older git revision, on the same ledger files, in alternating rounds.

Prints one JSON object. Two ledger shapes:
- ``batched``: ``--bids`` bids in group commits of 500 over ``--auctions`` auctions (the
  figure of bench_house.py's ``replay``);
- ``single``: ``--single-bids`` bids, each its own transaction (a quiet house: one signed
  batch record per event, the worst case for checking signed records).
Per shape and revision: the best wall time of the rounds, and the best CPU time of the process
(all threads) and of the replaying thread alone; ``ratio_*`` is after / before (1.2 = 20%
slower). On a loaded machine wall times vary; the CPU figures vary less.

Usage: python bench/bench_restart.py [--before REF] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MEASURE = """
import json, sys, time
from auctionhouse.house import AuctionHouse, HouseConfig
cfg = HouseConfig.for_tests(account_rate=1e12, account_burst=1e12)
wall = cpu = main = float("inf")
for _ in range(int(sys.argv[2])):
    t, c, m = time.perf_counter(), time.process_time(), time.thread_time()
    house = AuctionHouse.open(sys.argv[1], config=cfg)
    wall = min(wall, time.perf_counter() - t)
    cpu = min(cpu, time.process_time() - c)
    main = min(main, time.thread_time() - m)
    events = sum(len(house.events(a)) for a in house.auction_ids())
    house.ledger.close()
    house.accounts.close()
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "main_thread_cpu_s": main, "events": events}))
"""


def build(path: Path, bids: int, auctions: int, batch: int) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_house import bid_stream, setup

    house, ids = setup(path, auctions)
    stream = bid_stream(bids, ids)
    if batch == 1:
        for bidder, aid, amount in stream:
            house.place_bid(bidder, aid, amount)
    else:
        for start in range(0, bids, batch):
            with house.batch():
                for bidder, aid, amount in stream[start : start + batch]:
                    house.place_bid(bidder, aid, amount)
    house.close()


def source_of(ref: str, into: Path) -> Path:
    """The ``src`` directory of git revision ``ref``, extracted under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "src"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def measure(src: Path | None, db: Path, repeat: int) -> dict[str, float]:
    env_path = [str(src)] if src is not None else []
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(db), str(repeat)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": ":".join(env_path), "PATH": "/usr/bin:/bin"},
    )
    return dict(json.loads(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", help="git revision to compare with (e.g. main)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--bids", type=int, default=100_000)
    parser.add_argument("--auctions", type=int, default=100)
    parser.add_argument("--single-bids", type=int, default=3_000)
    args = parser.parse_args()
    out: dict[str, object] = {"bench": "restart", "rounds": args.rounds}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        old = source_of(args.before, tmp) if args.before else None
        shapes = {
            "batched": (args.bids, args.auctions, 500),
            "single": (args.single_bids, 10, 1),
        }
        for shape, (bids, auctions, batch) in shapes.items():
            db = tmp / f"{shape}.db"
            build(db, bids, auctions, batch)
            best: dict[str, dict[str, float]] = {}
            for _ in range(args.rounds):
                for label, src in (("before", old), ("after", None)):
                    if label == "before" and old is None:
                        continue
                    got = measure(src, db, 1)
                    mine = best.setdefault(label, {})
                    for key, value in got.items():
                        mine[key] = min(mine.get(key, value), value)
            result: dict[str, object] = {"events": best["after"]["events"]}
            for label, figures in best.items():
                result[label] = {
                    "wall_s": round(figures["wall_s"], 4),
                    "cpu_s": round(figures["cpu_s"], 4),
                    "main_thread_cpu_s": round(figures["main_thread_cpu_s"], 4),
                    "events_per_s": round(figures["events"] / figures["wall_s"]),
                }
            if "before" in best:
                for key in ("wall_s", "cpu_s", "main_thread_cpu_s"):
                    ratio = best["after"][key] / best["before"][key]
                    result[f"ratio_{key}"] = round(ratio, 3)
            out[shape] = result
    out["goal_ratio_max"] = 1.2
    print(json.dumps(out))


if __name__ == "__main__":
    main()
