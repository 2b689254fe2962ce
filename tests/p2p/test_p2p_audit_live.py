"""Every replica's ledger audits clean while a stream of signed bids is being applied, and a peer
restarted under that stream verifies its own ledger (issue 16: a peer logged ``caught up, but
the own ledger audit has 144 findings`` under the bench's load; the audit had read the signed
records and the events at different moments of a ledger being written)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from peer_helpers import Bidder, Cluster, wait_for

from auctionhouse.ledger import audit_database

pytestmark = pytest.mark.e2e

BIDS_EACH = 150  # per bidder; each bidder bids on its own auction
STREAM_SECONDS = 60.0


def test_every_replica_audits_clean_while_bids_are_applied(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path).start()
    try:
        url = cluster.peers[0].url
        seller = Bidder(url, "seller")
        rules = {"starting_price": 1, "min_increment": 1, "duration": 600, "signed_bids": True}
        bidders = [Bidder(p.url, f"b{i}") for i, p in enumerate(cluster.peers)]
        auctions = [seller.create_auction(url, rules) for _ in bidders]
        acked = [0 for _ in bidders]
        deadline = time.monotonic() + STREAM_SECONDS

        def stream(i: int) -> None:
            peers = cluster.peers
            for amount in range(1, BIDS_EACH + 1):
                if time.monotonic() > deadline:
                    return
                peer = peers[(i + amount) % len(peers)]
                try:
                    r = bidders[i].bid(peer.url, auctions[i], amount, timeout=10)
                except httpx.HTTPError:
                    continue  # the restarted peer is down for a moment
                if r.status_code == 201:
                    acked[i] += 1

        threads = [threading.Thread(target=stream, args=(i,)) for i in range(len(bidders))]
        for t in threads:
            t.start()
        restarted = cluster.peers[2]
        try:
            # Audit the other replicas' files over and over while they apply the stream.
            audited = 0
            events_seen: set[int] = set()
            while any(t.is_alive() for t in threads) and audited < 200:
                for peer in cluster.peers[:2]:
                    report = audit_database(peer.data / "house.db")
                    assert report.ok, (peer.name, report.findings[:3])
                    events_seen.add(report.events)
                    audited += 1
                if audited == 6:  # a peer restarted mid-stream rebuilds, catches up, audits
                    restarted.stop()
                    restarted.start(cluster.members)
            assert len(events_seen) > 3, "the audits did not overlap the stream"
        finally:
            for t in threads:
                t.join(timeout=STREAM_SECONDS + 30)
        assert sum(acked) > BIDS_EACH, acked
        wait_for(
            "the restarted peer to audit its own ledger",
            lambda: restarted.status()["verified"] is not None,
            120,
        )
        assert restarted.status()["verified"] is True, restarted.status()
        cluster.wait_applied(deadline=60)
        heads: set[tuple[object, ...]] = set()
        for peer in cluster.peers:
            report = audit_database(peer.data / "house.db")
            assert report.ok, (peer.name, report.findings[:3])
            heads.add(tuple(peer.ledger_rows()))
        assert len(heads) == 1, "the replicas' ledgers differ"
    finally:
        cluster.stop()
