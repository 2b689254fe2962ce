"""Groups on a ring (``auctionhouse peer --ring``): real peer processes on loopback.

Prints one JSON object:

- ``load``: ``--bidders`` clients, each on one WebSocket to peer ``i % peers`` and its own
  English auction (placed by the directory, so spread over every group), send
  ``--per-client`` signed bids with ``--window`` in flight: most go to a peer outside the
  auction's group and are relayed to a member (p2p/wsrelay.py). Acknowledged bids/s, ack
  p50/p99 (ms), the peers' CPU per bid (all peers with their signature workers), refusals;
  ``lost``: acknowledged bids missing from a live replica of their group (goal 0).
  ``auctions_per_group``: how the directory spread them.
- ``failover``: ``--kills`` times, kill -9 the leader of a loaded auction's group and time until
  a bid on it through another peer is acknowledged again (s); the killed peer is started again
  and the ring settles before the next kill.
- ``join``: a new peer joins through one seed: seconds until the directory counts it and every
  group it lands in runs it, caught up, agreeing on the leader.

The machine's load average is printed with the figures: on a shared machine the peers get a
slice of the CPU; their CPU per bid is the figure that carries over.

Usage: python bench/bench_ring.py [--peers 4] [--bidders 12] [--per-client 200] [--window 16]
       [--kills 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # free_ports
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "p2p"))
from peer_helpers import wait_for
from test_p2p_groups import RING, Ring

from bench_p2p import Load, pct

REPLACE_AFTER = 120.0  # a killed peer is started again, not replaced, during the bench


def start_ring(root: Path, n: int) -> Ring:
    ring = Ring(root, n)
    try:
        for peer in ring.peers:
            peer.start(ring.seeds, replace_after=REPLACE_AFTER, extra_args=RING)
        for peer in ring.peers:
            peer.wait_up(deadline=180)
        ring.wait_settled(n, deadline=180)
    except BaseException:
        ring.stop()
        raise
    return ring


def lost(ring: Ring, acked: list[tuple[str, int]]) -> int:
    """Acknowledged bids missing from a live replica of their auction's group (each replica's
    own ledger file, read directly)."""
    d = ring.directory()
    present: dict[tuple[str, str], set[tuple[str, int]]] = {}
    missing = 0
    for auction, amount in acked:
        gid = d["auctions"][auction]
        for address in d["groups"][gid]:
            peer = ring.by_address(address)
            if not peer.alive:
                continue
            key = (peer.name, gid)
            if key not in present:
                bids: set[tuple[str, int]] = set()
                db = peer.data / "groups" / gid / "house.db"
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                    for aid, body in conn.execute("SELECT auction_id, body FROM ledger_events"):
                        event = orjson.loads(body)
                        if event.get("type") == "BidPlaced":
                            bids.add((aid, event["amount"]))
                present[key] = bids
            if (auction, amount) not in present[key]:
                missing += 1
    return missing


def failover(ring: Ring, load: Load, kills: int) -> dict[str, Any]:
    times: list[float] = []
    for k in range(kills):
        auction = load.auctions[k % len(load.auctions)]
        d = ring.directory()
        gid = d["auctions"][auction]
        members = [ring.by_address(a) for a in d["groups"][gid]]
        leader_address = wait_for(
            f"group {gid}'s leader",
            lambda m=members[0], g=gid: m.status()["groups"][g]["leader"],
            30,
        )
        leader = ring.by_address(leader_address)
        via = next(p for p in ring.peers if p is not leader and p.alive)
        i = load.auctions.index(auction)

        def bid(i: int = i, via: Any = via) -> bool:
            amount = load.next_amount[i] = load.next_amount[i] + 1
            r = load.bidders[i].bid(via.url, load.auctions[i], amount, timeout=10)
            if r.status_code == 201:
                load.acked.append((load.auctions[i], amount))
                return True
            return False

        leader.kill()
        killed = time.monotonic()
        wait_for("a bid acknowledged after the kill", bid, 60)
        times.append(time.monotonic() - killed)
        leader.start(ring.seeds, replace_after=REPLACE_AFTER, extra_args=RING)
        leader.wait_up(deadline=300)
        ring.wait_settled(len(ring.peers), deadline=300)
    return {
        "kills": kills,
        "p50_s": round(pct(times, 0.5), 3),
        "max_s": round(max(times), 3) if times else None,
        "seconds": [round(t, 3) for t in times],
    }


def join(ring: Ring) -> dict[str, Any]:
    newcomer = ring.cluster.new_peer()
    ring.peers.append(newcomer)
    started = time.monotonic()
    newcomer.start([ring.seeds[0]], replace_after=REPLACE_AFTER, extra_args=RING)
    newcomer.wait_up(deadline=300)
    up = time.monotonic() - started
    d = ring.wait_settled(len(ring.peers), deadline=300)
    return {
        "seconds": round(time.monotonic() - started, 2),
        "process_up_s": round(up, 2),
        "groups_joined": sum(1 for m in d["groups"].values() if newcomer.address in m),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peers", type=int, default=4)
    parser.add_argument("--bidders", type=int, default=12)
    parser.add_argument("--per-client", type=int, default=200)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--kills", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ring-") as tmp:
        ring = start_ring(Path(tmp), args.peers)
        try:
            load = Load(ring.cluster, args.bidders)
            d = ring.directory()
            spread = Counter(d["auctions"][a] for a in load.auctions)
            urls = [p.url for p in ring.peers]
            outside = sum(
                1
                for i, a in enumerate(load.auctions)
                if ring.peers[i % len(urls)].address not in d["groups"][d["auctions"][a]]
            )
            figures = asyncio.run(load.run_ws(urls, args.per_client, args.window))
            figures["lost"] = lost(ring, load.acked)
            figures["auctions_per_group"] = dict(sorted(spread.items()))
            figures["clients_outside_their_auctions_group"] = outside
            result: dict[str, Any] = {"peers": args.peers, "load": figures}
            result["failover"] = failover(ring, load, args.kills)
            result["join"] = join(ring)
            result["lost_after_all"] = lost(ring, load.acked)
            result["loadavg"] = os.getloadavg()
            print(json.dumps(result, indent=2))
        finally:
            ring.stop()


if __name__ == "__main__":
    main()
