"""A partition made with network namespaces: the majority goes on, the isolated minority
refuses writes (no_quorum), and after healing every replica holds the same ledger."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from netns import Net, NetnsUnavailable
from peer_helpers import Bidder, Cluster, wait_for

pytestmark = pytest.mark.e2e


def test_an_isolated_minority_refuses_writes_and_agrees_after_healing(tmp_path: Path) -> None:
    try:
        net = Net(3)
    except NetnsUnavailable as exc:
        pytest.fail(f"the partition test needs network namespaces (root, iproute2): {exc}")
    cluster = Cluster(tmp_path, n=3, hosts=net.hosts, netns=net.names)
    try:
        cluster.start()
        leader = cluster.wait_leader()
        seller = Bidder(leader.url, "seller")
        bob = Bidder(leader.url, "bob")
        auction = seller.create_auction(
            leader.url, {"starting_price": 100, "min_increment": 1, "duration": 300}
        )
        assert bob.bid(leader.url, auction, 100).status_code == 201

        # Isolate the leader: it is the minority now.
        minority = leader
        majority = [p for p in cluster.peers if p is not minority]
        net.isolate(cluster.peers.index(minority))
        new_leader = cluster.wait_leader(majority, deadline=30)
        assert new_leader is not minority
        for i, peer in enumerate(majority * 2):
            r = bob.bid(peer.url, auction, 101 + i)
            assert r.status_code == 201, r.text
        refused = bob.bid(minority.url, auction, 500, timeout=30)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "no_quorum"
        view = httpx.get(f"{minority.url}/api/v1/auctions/{auction}", timeout=5).json()
        assert view["bid_count"] == 1  # the minority decided nothing alone
        assert not minority.status()["has_quorum"]

        net.heal()
        cluster.wait_leader(cluster.peers, deadline=20)
        cluster.wait_applied(cluster.peers, deadline=20)
        rows = [p.ledger_rows() for p in cluster.peers]
        assert all(r == rows[0] for r in rows)
        final = httpx.get(f"{minority.url}/api/v1/auctions/{auction}", timeout=5).json()
        assert final["bid_count"] == 5
        assert bob.bid(minority.url, auction, 600).status_code == 201  # it writes again
        for peer in cluster.peers:
            assert peer.audit().returncode == 0
        wait_for(
            "every replica to hold the last bid",
            lambda: all(
                httpx.get(f"{p.url}/api/v1/auctions/{auction}", timeout=5).json()["bid_count"] == 6
                for p in cluster.peers
            ),
        )
    finally:
        cluster.stop()
        net.close()
