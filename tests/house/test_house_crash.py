"""kill -9 a house at random moments under a stream of commands, at least 20 times.

After each kill: every acknowledged bid is in the ledger and the audit passes. At the end every
auction closes with the outcome its log implies.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from auctionhouse.auction import BidPlaced, replay
from auctionhouse.auction.rules import outcome_now
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig
from auctionhouse.ledger import HouseKey, Ledger, SQLiteStore, audit_database

WORKER = Path(__file__).with_name("crash_worker.py")
KILLS = 22


@pytest.mark.e2e
def test_sigkill_at_random_moments_loses_no_acknowledged_bid(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    rng = random.Random(2026)
    acked: list[tuple[str, int, str, int]] = []
    for round_ in range(KILLS):
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), str(db), str(round_)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        for _ in range(rng.randint(1, 60)):
            line = proc.stdout.readline().split()
            if line and line[0] == "ACK":
                acked.append((line[1], int(line[2]), line[3], int(line[4])))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for line in proc.stdout.read().splitlines():  # acks printed before the kill landed
            parts = line.split()
            if parts and parts[0] == "ACK":
                acked.append((parts[1], int(parts[2]), parts[3], int(parts[4])))
        proc.stdout.close()

        report = audit_database(db)
        assert report.ok, (round_, report.findings)
        ledger = Ledger(SQLiteStore(db), HouseKey.load(f"{db}.key"))
        try:
            by_key = {
                (e.auction_id, e.seq): e
                for aid in {a for a, *_ in acked}
                for e in ledger.events_for(aid)
            }
        finally:
            ledger.close()
        for aid, seq, bidder, amount in acked:
            event = by_key.get((aid, seq))
            assert isinstance(event, BidPlaced), (round_, aid, seq)
            assert (event.bidder, event.amount) == (bidder, amount)
    assert len(acked) > KILLS

    # Much later: every auction closes with the outcome its log implies.
    clock = FakeClock(10**12)
    house = AuctionHouse.open(db, config=HouseConfig.for_tests(), clock=clock)
    expected = {}
    for aid in house.auction_ids():
        state = replay(house.ledger.events_for(aid))
        assert state is not None
        expected[aid] = outcome_now(state)
    house.tick()
    for aid, (outcome, winner, price, _) in expected.items():
        result = house.view(aid)["result"]
        assert (result["outcome"], result["winner"], result["price"]) == (
            outcome.value,
            winner,
            price,
        )
    house.close()
    assert audit_database(db).ok
