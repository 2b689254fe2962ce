"""A house under a stream of commands, for the SIGKILL crash test.

Usage: python crash_worker.py DB SEED. Prints ``ACK auction seq bidder amount`` for every bid
only after it is durable (single commands, and group-committed batches of five).
"""

from __future__ import annotations

import random
import sys

from auctionhouse.errors import AuctionhouseError
from auctionhouse.house import AuctionHouse, HouseConfig

BIDDERS = ["ann", "bob", "cat", "dan"]


def main() -> None:
    db, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    cfg = HouseConfig.for_tests(account_rate=1e9, account_burst=1e9)
    house = AuctionHouse.open(db, config=cfg)
    for name in ["seller", *BIDDERS]:
        if not house.accounts.exists(name):
            house.create_account(name, "correct horse")
    methods = [
        ("english", {"duration": 10**6, "reserve_price": 300}),
        ("english", {"duration": 10**6, "soft_close": {"window": 5, "extension": 5, "cap": 50}}),
        ("fpsb", {"duration": 10**6}),
        ("vickrey", {"duration": 10**6, "reserve_price": 50}),
    ]
    while len(house.auction_ids()) < 8:
        method, rules = methods[len(house.auction_ids()) % len(methods)]
        house.create_auction("seller", "lot", method, dict(rules))
    print("READY", flush=True)
    ids = house.auction_ids()
    while True:
        group = rng.random() < 0.3
        acks: list[str] = []
        with house.batch() if group else _nothing():
            for _ in range(5 if group else 1):
                aid = rng.choice(ids)
                bidder = rng.choice(BIDDERS)
                floor = house.view(aid)["min_next_bid"] or 1
                amount = floor + rng.randint(0, 40)
                try:
                    ack = house.place_bid(bidder, aid, amount, proxy_max=None)
                except AuctionhouseError:
                    continue
                acks.append(f"ACK {aid} {ack['seq']} {bidder} {amount}")
        # the batch is durable here: only now may we acknowledge it
        for line in acks:
            print(line, flush=True)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    main()
