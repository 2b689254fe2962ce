"""Signed, durable market orders/s into the live book, beside signed bids/s, in the same run.

Both go through ``HouseService`` (the server's path: signatures verified in batches by the
worker process, decisions on the event loop, pipelined group commit into the fsync'd SQLite
ledger), as the server's commands (``place_bid_command``, ``place_order_command``):

- ``bids``: signed English bids (``place_bid``) into 100 auctions, each auction's bids rising
  by 1.
- ``orders``: signed limit orders (``markets.place_order``) from 400 traders into CDA markets,
  prices drawn around 100 so that about half of them trade at once (matching, partial fills,
  self-trade cancels: the whole book's work).

Everything is signed before the clock starts (the house's work is measured, not the client's).
The two are run alternately ``--rounds`` times and the best of each is kept, so a load spike
from other work on a shared machine does not decide the ratio. Prints one JSON object.

Usage: python bench/bench_markets.py [--n 20000] [--markets 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from auctionhouse.house import AuctionHouse, HouseConfig
from auctionhouse.house.markets import place_order_command
from auctionhouse.house.service import HouseService
from auctionhouse.house.signing import bid_message, order_message, sign
from auctionhouse.house.verifier import place_bid_command

CFG = HouseConfig.for_tests(account_rate=1e12, account_burst=1e12, max_pending=200_000)
TRADERS = 400
LANES = 200
TS = 1_000.0


def setup(
    db: Path, markets: int, auctions_n: int = 100
) -> tuple[list[str], list[str], dict[str, SigningKey]]:
    from auctionhouse.house import FakeClock

    house = AuctionHouse.open(db, config=CFG, clock=FakeClock(TS))
    house.create_account("owner", "correct horse")
    keys: dict[str, SigningKey] = {}
    for i in range(TRADERS):
        key = SigningKey.generate()
        name = f"t{i}"
        house.create_account(name, "correct horse", public_key=bytes(key.verify_key).hex())
        keys[name] = key
    auctions = [
        house.create_auction("owner", f"lot {i}", "english", {"duration": 10**6})["id"]
        for i in range(auctions_n)
    ]
    market_ids = [house.markets.create_market("owner", f"m {i}")["id"] for i in range(markets)]
    house.close()
    return auctions, market_ids, keys


def signed_bids(
    n: int, auctions: list[str], keys: dict[str, SigningKey], nonce0: int, price: dict[str, int]
) -> list[tuple[str, str, int, int, str]]:
    """``n`` signed bids; ``price`` holds each auction's last bid (carried across rounds)."""
    names = list(keys)
    out = []
    for i in range(n):
        k = i % len(auctions)
        aid = auctions[k]
        price[aid] += 1
        # two bidders of its own per auction, taking turns: every bid is valid in order
        bidder = names[2 * k + (i // len(auctions)) % 2]
        nonce = nonce0 + i
        sig = sign(keys[bidder], bid_message(aid, bidder, price[aid], nonce, TS))
        out.append((bidder, aid, price[aid], nonce, sig))
    return out


def signed_orders(
    n: int, markets: list[str], keys: dict[str, SigningKey], nonce0: int, seed: int
) -> list[tuple[str, str, str, int, int, int, str]]:
    rng = random.Random(seed)
    names = list(keys)
    out = []
    for i in range(n):
        trader = names[rng.randrange(len(names))]
        market = markets[i % len(markets)]
        side = "buy" if rng.random() < 0.5 else "sell"
        price = rng.randint(90, 110)
        qty = rng.randint(1, 5)
        nonce = nonce0 + i
        sig = sign(keys[trader], order_message(market, trader, side, price, qty, nonce, TS))
        out.append((trader, market, side, price, qty, nonce, sig))
    return out


async def _run(db: Path, work: list[Any], kind: str) -> float:
    from auctionhouse.house import FakeClock

    service = HouseService(lambda: AuctionHouse.open(db, config=CFG, clock=FakeClock(TS)))
    await service.start()
    # Nonces only grow per account, so each account's items go in order on one lane (and
    # an auction's two bidders share its lane, so its bids rise in order).
    lanes: list[list[Any]] = [[] for _ in range(LANES)]
    for item in work:
        lanes[int(item[0][1:]) // 2 % LANES].append(item)

    # The server's commands: each signature goes to the batched verifier (decision 0017)
    async def bids(items: list[Any]) -> None:
        for b, a, amount, nonce, sig in items:
            await service.call(place_bid_command(b, a, amount, nonce=nonce, ts=TS, signature=sig))

    async def orders(items: list[Any]) -> None:
        for t, m, side, price, qty, nonce, sig in items:
            await service.call(
                place_order_command(t, m, side, price, qty, nonce=nonce, ts=TS, signature=sig)
            )

    run = bids if kind == "bids" else orders
    start = time.perf_counter()
    await asyncio.gather(*(run(items) for items in lanes))
    rate = len(work) / (time.perf_counter() - start)
    await service.stop()
    return rate


def core_rate(n: int, seed: int = 0) -> tuple[float, int]:
    """Orders/s through the pure rules core alone (``decide_market`` + ``apply_market``, the
    book's own cost, no signature and no disk), on the same kind of order flow."""
    from auctionhouse.auction.market import (
        CreateMarket,
        PlaceOrder,
        apply_market,
        decide_market,
    )

    rng = random.Random(seed)
    flow = [
        (
            f"t{rng.randrange(TRADERS)}",
            "buy" if rng.random() < 0.5 else "sell",
            rng.randint(90, 110),
            rng.randint(1, 5),
        )
        for _ in range(n)
    ]
    state = None
    for event in decide_market(None, CreateMarket("m1", "owner", "bench"), 0.0):
        state = apply_market(state, event)
    start = time.perf_counter()
    for trader, side, price, qty in flow:
        for event in decide_market(state, PlaceOrder("m1", trader, side, price, qty), 1.0):
            state = apply_market(state, event)
    rate = n / (time.perf_counter() - start)
    assert state is not None
    return rate, state.trade_count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000, help="bids and orders per round")
    parser.add_argument("--markets", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    best = {"bids": 0.0, "orders": 0.0}
    trades = 0
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "bench.db"
        auctions, markets, keys = setup(db, args.markets)
        nonce = 1
        price = dict.fromkeys(auctions, 0)
        for r in range(args.rounds):
            # Bids of one round interleave nonces with the orders of the next: the same
            # accounts sign both, from one rising nonce sequence (as a real trader's key does).
            work_bids = signed_bids(args.n, auctions, keys, nonce, price)
            nonce += args.n
            work_orders = signed_orders(args.n, markets, keys, nonce, seed=r)
            nonce += args.n
            for kind, work in (("bids", work_bids), ("orders", work_orders)):
                best[kind] = max(best[kind], asyncio.run(_run(db, work, kind)))
        house = AuctionHouse.open(db, config=CFG)
        trades = sum(house.markets.view(m)["trades"] for m in markets)
        house.close()
    core, core_trades = core_rate(100_000)
    print(
        json.dumps(
            {
                "bench": "markets",
                "n_per_round": args.n,
                "rounds": args.rounds,
                "markets": args.markets,
                "signed_bids_per_s": round(best["bids"]),
                "signed_orders_per_s": round(best["orders"]),
                "orders_to_bids": round(best["orders"] / best["bids"], 3),
                "trades": trades,
                "core_orders_per_s": round(core),
                "core_trades": core_trades,
                "path": "HouseService (the server's write path), batched verifier, fsync'd",
            }
        )
    )


if __name__ == "__main__":
    main()
