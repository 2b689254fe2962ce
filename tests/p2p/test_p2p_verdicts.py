"""A replica applies a committed signed bid with its signature worker's verdict: it waits for
the verdict rather than verifying the bid again on its loop while the worker verifies it too
(decision 0028). Three peers run in this process; the followers' workers are stopped
(SIGSTOP) while bids are proposed through the leader, so their verdicts cannot be back when the
entries commit: the followers must hold their applies until the workers answer."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from nacl.signing import SigningKey
from test_p2p_failover import until

from auctionhouse.house import HouseConfig, bid_message, sign
from auctionhouse.house import house as house_module
from auctionhouse.p2p.peer import Peer, PeerConfig
from auctionhouse.p2p.tls import init_cluster, issue_peer
from free_ports import free_port

BIDS = 12


async def scenario(root: Path, inline: list[int]) -> None:
    init_cluster(root / "cluster")
    members = tuple(f"127.0.0.1:{free_port()}" for _ in range(3))
    house = HouseConfig.for_tests(account_rate=1e9, account_burst=1e9)
    peers: list[Peer] = []
    for i, member in enumerate(members):
        issue_peer(root / "cluster", root / f"p{i}", f"p{i}")
        config = PeerConfig(
            data=root / f"p{i}",
            peer_address=member,
            members=members,
            house=house,
            verdict_wait=60.0,  # bounded by the test's own deadlines, not by this
        )
        peers.append(Peer(config))
    for peer in peers:
        await peer.start()
    stopped: list[int] = []
    try:
        leader = await until(
            "a leader", lambda: next((p for p in peers if p.status()["is_leader"]), None)
        )
        followers = [p for p in peers if p is not leader]
        key = SigningKey.generate()
        await leader.propose(
            "account",
            {"name": "seller", "password_hash": "x", "role": "user", "public_key": None},
        )
        public = key.verify_key.encode().hex()
        await leader.propose(
            "account", {"name": "b", "password_hash": "x", "role": "user", "public_key": public}
        )
        rules = {"starting_price": 1, "min_increment": 1, "duration": 600, "signed_bids": True}
        create = {"seller_id": "seller", "item_name": "lot", "method": "english", "rules": rules}
        auction = (await leader.propose("create_auction", {**create, "description": ""}))["id"]
        await until(
            "the followers to apply",
            lambda: all(
                f.status()["last_applied"] == leader.status()["commit_index"] for f in followers
            ),
        )
        for peer in peers:
            assert peer.verifier is not None and await peer.verifier.warm()
        for follower in followers:
            proc = follower.verifier._proc  # type: ignore[union-attr]
            assert proc is not None
            os.kill(proc.pid, signal.SIGSTOP)
            stopped.append(proc.pid)
        inline[0] = 0
        bids = []
        for n in range(1, BIDS + 1):  # the leader's replica uses its own, running worker
            ts = time.time()
            signature = sign(key, bid_message(auction, "b", n, n, ts, None))
            bid = {"bidder_id": "b", "auction_id": auction, "amount": n, "proxy_max": None}
            bids.append({**bid, "nonce": n, "ts": ts, "signature": signature})
        # Proposed together: one entry whose checks go to the worker as one batch (a batch
        # of one or two a replica verifies on its loop at once, house/verifier.py).
        await asyncio.gather(*(leader.propose("place_bid", bid) for bid in bids))
        committed = leader.status()["commit_index"]
        await until(
            "the followers to hold the entries",
            lambda: all(f.status()["commit_index"] == committed for f in followers),
        )
        for follower in followers:  # committed, and held until their verdicts come
            assert follower.status()["last_applied"] < committed
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        stopped.clear()
        await until(
            "the followers to apply the bids",
            lambda: all(f.status()["last_applied"] == committed for f in followers),
        )
        for follower in followers:
            assert follower.status()["verdicts_missed"] == 0
            assert len(follower.house.events(auction)) == 1 + BIDS
        assert inline[0] == 0  # no replica verified a bid on its loop
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        for peer in peers:
            await peer.stop()


def test_a_replica_applies_with_its_workers_verdicts_not_its_own_verify(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    inline = [0]
    real = house_module.verify

    def counting(*args):  # type: ignore[no-untyped-def]
        inline[0] += 1
        return real(*args)

    monkeypatch.setattr(house_module, "verify", counting)
    asyncio.run(asyncio.wait_for(scenario(tmp_path, inline), 120))
