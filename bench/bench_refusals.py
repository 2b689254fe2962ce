"""Event-loop CPU per refused signed bid (issue 14: refusals must stay cheap under a flood).

A refused signed bid (here: a stale timestamp, one of the refusals that is a strike against the
account) goes through the async service as every bid does. Measured: the CPU time of the thread
that runs the event loop (``time.thread_time`` on it), per refusal, for a flood of refusals sent
in waves of ``--wave`` at once, and for the same number of accepted signed bids as a yardstick.
The writer thread's work (the group commit, where strikes are written now) is not the loop's.

Prints one JSON object. Runs against whichever ``auctionhouse`` is installed, so the figures of
two trees can be compared in one run on one machine: ``python bench/bench_refusals.py`` with each
tree's venv.

Usage: python bench/bench_refusals.py [--refusals 2000] [--wave 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from auctionhouse.house import AuctionHouse, HouseConfig, bid_message, sign
from auctionhouse.house.service import HouseService
from auctionhouse.house.verifier import place_bid_command

CFG = HouseConfig.for_tests(
    account_rate=1e12, account_burst=1e12, max_pending=100_000, bid_verification_required=True
)


def setup(path: Path) -> SigningKey:
    house = AuctionHouse.open(path, config=CFG)
    key = SigningKey.generate()
    house.create_account("seller", "correct horse")
    house.create_account("mallory", "correct horse", public_key=key.verify_key.encode().hex())
    house.create_auction("seller", "lamp", "english", {"duration": 10**6})
    house.close()
    return key


def commands(key: SigningKey, n: int, first_nonce: int, ts: float, amount: int) -> list[Any]:
    out = []
    for i in range(n):
        nonce, bid = first_nonce + i, amount + i
        message = bid_message("1", "mallory", bid, nonce, ts)
        out.append(
            place_bid_command("mallory", "1", bid, nonce=nonce, ts=ts, signature=sign(key, message))
        )
    return out


async def flood(service: HouseService, items: list[Any], wave: int) -> tuple[float, float, int]:
    """Loop-thread CPU seconds and wall seconds for ``items``, ``wave`` at a time; refusals."""
    refused = 0
    cpu, wall = time.thread_time(), time.perf_counter()
    for start in range(0, len(items), wave):
        answers = await asyncio.gather(
            *(service.call(c) for c in items[start : start + wave]), return_exceptions=True
        )
        refused += sum(isinstance(a, Exception) for a in answers)
    return time.thread_time() - cpu, time.perf_counter() - wall, refused


async def run(path: Path, key: SigningKey, n: int, wave: int) -> dict[str, Any]:
    service = HouseService(lambda: AuctionHouse.open(path, config=CFG))
    await service.start()
    now = time.time()
    stale = commands(key, n, 1, now - 3600, 10)  # refused: stale_timestamp, a strike each
    fresh = commands(key, n, 1, now, 10)  # accepted (nonces 1..n are not spent by refusals)
    refused_cpu, refused_wall, refused = await flood(service, stale, wave)
    accepted_cpu, _wall, not_accepted = await flood(service, fresh, wave)
    strikes = service.house.reputation("mallory")["strikes"]
    await service.stop()
    return {
        "refused": refused,
        "strikes": strikes,
        "loop_cpu_us_per_refusal": round(1e6 * refused_cpu / n, 1),
        "refusals_per_s": round(n / refused_wall),
        "accepted": n - not_accepted,
        "loop_cpu_us_per_accepted_bid": round(1e6 * accepted_cpu / n, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--refusals", type=int, default=2_000)
    parser.add_argument("--wave", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "house.db"
        key = setup(path)
        result = asyncio.run(run(path, key, args.refusals, args.wave))
    print(
        json.dumps(
            {
                "bench": "refusals",
                "wave": args.wave,
                **result,
                "load_average": round(os.getloadavg()[0], 2),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
