"""Child process of the ledger crash test: appends big batches forever, acking each on stdout.

    python ledger_crash_worker.py DB BATCH_SIZE

Batch ``n`` holds ``BATCH_SIZE`` bids spread over 10 auctions, every one with ``at == n``, so the
parent can tell whether a batch is whole. A line ``n`` is printed only after ``append`` returned;
a line ``mid n`` is printed from SQLite's progress handler while batch ``n``'s transaction is
open (rows being inserted, not committed), so the parent can kill inside a transaction.
"""

from __future__ import annotations

import sys

from auctionhouse.auction import BidPlaced
from auctionhouse.ledger import HouseKey, Ledger, SQLiteStore

AUCTIONS = 10


def main() -> None:
    db, size = sys.argv[1], int(sys.argv[2])
    store = SQLiteStore(db)
    ledger = Ledger(store, HouseKey.load_or_create(f"{db}.key"))
    current = {"batch": -1, "told": -1}

    def inside_transaction() -> int:
        if store._db.in_transaction and current["told"] != current["batch"]:
            current["told"] = current["batch"]
            print("mid", current["batch"], flush=True)
        return 0  # go on

    store._db.set_progress_handler(inside_transaction, 2000)
    heads = {a: seq for a, (seq, _h) in ledger.heads().items()}
    batch = max((int(e.at) for e in ledger.events_for("a0")[-1:]), default=-1) + 1
    while True:
        events = []
        for i in range(size):
            auction_id = f"a{i % AUCTIONS}"
            seq = heads.get(auction_id, 0) + 1
            heads[auction_id] = seq
            events.append(BidPlaced(auction_id, seq, float(batch), f"b{i}", seq, seq))
        current["batch"] = batch
        ledger.append(events)
        print(batch, flush=True)
        batch += 1


if __name__ == "__main__":
    main()
