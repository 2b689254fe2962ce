"""Strikes of refused signed bids: counted at once, written with the group commit (issue 14).

A refused signed bid (stale timestamp, bad signature, replayed nonce) is a strike against the
account's reputation. It used to be an account write (a transaction, an fsync and a house seal)
on the event loop per refusal: a flood of refusals was a flood of writes on the loop. Now the
count is in memory at once and every strike counted meanwhile is written by the writer thread
in the next group commit: one transaction, one seal per struck account.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from auctionhouse.errors import AuctionhouseError, BadSignature, ReplayedNonce
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig, bid_message, sign
from auctionhouse.house.service import HouseService
from auctionhouse.house.verifier import place_bid_command
from auctionhouse.ledger import audit_database

CFG = HouseConfig.for_tests(account_rate=1e9, account_burst=1e9, bid_verification_required=True)
REFUSALS = 60


def setup(path: Path, clock: FakeClock) -> SigningKey:
    house = AuctionHouse.open(path, config=CFG, clock=clock)
    key = SigningKey.generate()
    house.create_account("seller", "correct horse")
    house.create_account("alice", "correct horse", public_key=key.verify_key.encode().hex())
    house.create_auction("seller", "lamp", "english", {"duration": 10_000})
    house.close()
    return key


def stored_strikes(path: Path, account: str) -> int:
    db = sqlite3.connect(path)
    try:
        return int(
            db.execute("SELECT strikes FROM accounts WHERE id = ?", (account,)).fetchone()[0]
        )
    finally:
        db.close()


def test_refusals_write_no_strike_on_the_event_loop(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "h.db"
    key = setup(path, clock)
    writes: list[str] = []  # the thread of every strike written to the accounts table

    async def run() -> tuple[list[str], dict[str, object]]:
        service = HouseService(lambda: AuctionHouse.open(path, config=CFG, clock=clock))
        await service.start()
        accounts = service.house.accounts
        with accounts._lock:
            accounts._db.set_trace_callback(
                lambda sql: (
                    writes.append(threading.current_thread().name)
                    if sql.startswith("UPDATE accounts SET strikes")
                    else None
                )
            )
        stale = clock.now() - 3600
        commands = [
            place_bid_command(
                "alice",
                "1",
                10 + n,
                nonce=n,
                ts=stale,
                signature=sign(key, bid_message("1", "alice", 10 + n, n, stale)),
            )
            for n in range(1, REFUSALS + 1)
        ]
        answers = await asyncio.gather(*(service.call(c) for c in commands), return_exceptions=True)
        codes = [a.code for a in answers if isinstance(a, AuctionhouseError)]
        # counted at once, before any of them is written
        reputation = service.house.reputation("alice")
        await service.stop()
        return codes, reputation

    codes, reputation = asyncio.run(run())
    assert codes == ["stale_timestamp"] * REFUSALS
    assert reputation["strikes"] == REFUSALS
    loop_thread = threading.main_thread().name
    assert writes and loop_thread not in writes  # every strike written off the loop...
    assert len(writes) < REFUSALS // 4  # ...coalesced: one update per account per commit
    assert stored_strikes(path, "alice") == REFUSALS
    again = AuctionHouse.open(path, config=CFG, clock=clock)  # the seals verify on start
    assert again.reputation("alice")["strikes"] == REFUSALS
    again.close()
    assert audit_database(path).ok


def test_the_sync_api_writes_a_strike_before_the_refusal(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "h.db"
    key = setup(path, clock)
    house = AuctionHouse.open(path, config=CFG, clock=clock)
    forged = sign(SigningKey.generate(), bid_message("1", "alice", 10, 1, clock.now()))
    for nonce in (1, 2):
        with pytest.raises(BadSignature):
            house.place_bid("alice", "1", 10, nonce=nonce, ts=clock.now(), signature=forged)
        assert stored_strikes(path, "alice") == nonce  # durable as the refusal is raised
    assert house.accounts.unwritten_strikes == 0
    good = sign(key, bid_message("1", "alice", 10, 3, clock.now()))
    with house.batch():  # inside a batch: written with the batch's commit
        house.place_bid("alice", "1", 10, nonce=3, ts=clock.now(), signature=good)
        again = sign(key, bid_message("1", "alice", 11, 3, clock.now()))
        with pytest.raises(ReplayedNonce):
            house.place_bid("alice", "1", 11, nonce=3, ts=clock.now(), signature=again)
        assert house.reputation("alice")["strikes"] == 3
        assert stored_strikes(path, "alice") == 2
    assert stored_strikes(path, "alice") == 3
    house.ledger.close()  # a crash after the commit: nothing is lost
    house.accounts.close()
    reopened = AuctionHouse.open(path, config=CFG, clock=clock)
    assert reopened.reputation("alice")["strikes"] == 3
    reopened.close()


def test_a_cache_miss_counts_the_strikes_not_written_yet(tmp_path: Path, clock: FakeClock) -> None:
    """The shared house drops cached accounts when another instance changes them: a strike
    counted here and not yet written still counts when the row is read again."""
    path = tmp_path / "h.db"
    setup(path, clock)
    house = AuctionHouse.open(path, config=CFG, clock=clock)
    house.accounts.add_strike("alice")
    house.accounts._cache.clear()
    assert house.accounts.get("alice").strikes == 1
    assert house.accounts.write_strikes() == ["alice"]
    house.accounts._cache.clear()
    assert house.accounts.get("alice").strikes == 1  # not twice
    assert stored_strikes(path, "alice") == 1
    house.close()
    assert audit_database(path).ok
