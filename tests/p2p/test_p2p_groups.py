"""Groups on a ring with real ``auctionhouse peer --ring`` processes on loopback: auctions spread
over several groups of 3, each auction on exactly its group's replicas with identical,
audit-clean ledgers; requests through a peer outside the group forwarded; a peer joining
changes the affected groups' membership while auctions stay where they are; kill -9 of a
group's leader during a stream of signed bids loses no acknowledged bid."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from peer_helpers import Bidder, Cluster, PeerProcess, wait_for

pytestmark = pytest.mark.e2e
RING = ["--ring"]
REPLACE_AFTER = 3.0  # s a dead peer stays in the ring before its groups replace it


class Ring:
    """A ``Cluster`` of ring peers, and what a test reads of each group's replicas."""

    def __init__(self, root: Path, n: int) -> None:
        self.cluster = Cluster(root, n)
        self.seeds = self.cluster.members

    @property
    def peers(self) -> list[PeerProcess]:
        return self.cluster.peers

    def start(self) -> Ring:
        try:
            for peer in self.peers:
                peer.start(self.seeds, replace_after=REPLACE_AFTER, extra_args=RING)
            for peer in self.peers:
                peer.wait_up(deadline=90)
            self.wait_settled(len(self.peers))
        except BaseException:
            self.cluster.stop()
            raise
        return self

    def by_address(self, address: str) -> PeerProcess:
        return next(p for p in self.peers if p.address == address)

    def directory(self, via: PeerProcess | None = None) -> dict[str, Any]:
        peer = via or next(p for p in self.peers if p.alive)
        return dict(httpx.get(f"{peer.url}/api/v1/peer/directory", timeout=10).json())

    def wait_settled(self, n_peers: int, deadline: float = 90.0) -> dict[str, Any]:
        """Until the directory has ``n_peers`` peers and every live member of every group
        runs its node, agrees on the leader, and counts exactly the plan's members."""

        def settled() -> dict[str, Any] | None:
            d = self.directory()
            if len(d["peers"]) != n_peers:
                return None
            for gid, members in d["groups"].items():
                leaders = set()
                for address in members:
                    peer = self.by_address(address)
                    if not peer.alive:
                        continue
                    group = peer.status()["groups"].get(gid)
                    if group is None or sorted(group["members"]) != sorted(members):
                        return None
                    leaders.add(group["leader"])
                if len(leaders) != 1 or None in leaders:
                    return None
            return d

        return wait_for("the ring to settle", settled, deadline)

    def wait_applied(self, gid: str, members: list[PeerProcess]) -> None:
        def same() -> bool:
            views = [p.status()["groups"][gid] for p in members]
            applied = {v["last_applied"] for v in views}
            return len(applied) == 1 and applied == {v["commit_index"] for v in views}

        wait_for(f"group {gid}'s replicas to apply the same log", same, 30)

    def stop(self) -> None:
        self.cluster.stop()


def replica(peer: PeerProcess, gid: str) -> Path:
    return peer.data / "groups" / gid / "house.db"


def rows(db: Path, auction: str | None = None) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        where, args = ("WHERE auction_id = ?", (auction,)) if auction else ("", ())
        query = f"SELECT auction_id, seq, hash FROM ledger_events {where} ORDER BY auction_id, seq"
        return list(conn.execute(query, args))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "auctionhouse", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def audit(db: Path) -> bool:
    from auctionhouse.ledger import audit_database

    return bool(audit_database(db).ok)


def holders(ring: Ring, auction: str) -> set[str]:
    """The peers with a replica (of any group) whose ledger holds ``auction``."""
    out = set()
    for peer in ring.peers:
        for db in (peer.data / "groups").glob("*/house.db"):
            if rows(db, auction):
                out.add(peer.address)
    return out


def check_groups(ring: Ring, d: dict[str, Any], auctions: list[str]) -> None:
    """Each auction lives on exactly its group's members, whose ledgers are identical and
    audit-clean."""
    for gid, members in d["groups"].items():
        if gid == "dir":
            continue
        live = [ring.by_address(a) for a in members if ring.by_address(a).alive]
        ring.wait_applied(gid, live)
        first = rows(replica(live[0], gid))
        for peer in live[1:]:
            assert rows(replica(peer, gid)) == first, f"{peer.name}'s replica of {gid} differs"
        for peer in live:
            assert audit(replica(peer, gid)), f"{peer.name}'s replica of {gid} fails the audit"
    for aid in auctions:
        gid = d["auctions"][aid]
        live = {a for a in d["groups"][gid] if ring.by_address(a).alive}
        assert holders(ring, aid) - {p.address for p in ring.peers if not p.alive} == live


@pytest.fixture
def ring4(tmp_path: Path) -> Iterator[Ring]:
    ring = Ring(tmp_path, 4).start()
    try:
        yield ring
    finally:
        ring.stop()


def outsider(ring: Ring, d: dict[str, Any], auction: str) -> PeerProcess:
    members = d["groups"][d["auctions"][auction]]
    return next(p for p in ring.peers if p.address not in members and p.alive)


def test_auctions_spread_over_groups_and_live_on_exactly_their_replicas(ring4: Ring) -> None:
    ring = ring4
    p = ring.peers
    seller = Bidder(p[0].url, "sam")
    bob = Bidder(p[1].url, "bob")
    rules = {"starting_price": 100, "min_increment": 10, "duration": 300, "signed_bids": True}
    auctions = [seller.create_auction(p[i % 4].url, rules) for i in range(8)]
    d = ring.directory(p[3])
    assert set(auctions) <= set(d["auctions"])
    used = {d["auctions"][a] for a in auctions}
    assert len(used) >= 2, f"8 auctions all in one group: {used}"
    assert len(d["groups"]) == 5 and all(len(m) == 3 for m in d["groups"].values())

    for i, aid in enumerate(auctions):
        # through a peer outside the auction's group: forwarded, acknowledged
        away = outsider(ring, d, aid)
        before = away.status()["forwarded"]
        r = bob.bid(away.url, aid, 200 + i)
        assert r.status_code == 201, r.text
        assert r.json()["accepted"] and r.json()["price"] == 200 + i
        assert away.status()["forwarded"] > before
        # a read through it is forwarded too, and sees the bid
        view = httpx.get(f"{away.url}/api/v1/auctions/{aid}", timeout=10).json()
        assert view["price"] == 200 + i
        # and through a member
        member = ring.by_address(d["groups"][d["auctions"][aid]][0])
        r = bob.bid(member.url, aid, 300 + i)
        assert r.status_code == 201, r.text
    # any peer lists every group's auctions, merged in the order asked
    newest = sorted(auctions, key=lambda a: -int(a[1:]))
    for peer in p:
        listed = httpx.get(f"{peer.url}/api/v1/auctions", timeout=10).json()
        assert [v["id"] for v in listed["auctions"]] == newest and listed["total"] == 8
    page = httpx.get(f"{p[1].url}/api/v1/auctions", params={"limit": 3, "offset": 2}, timeout=10)
    assert [v["id"] for v in page.json()["auctions"]] == newest[2:5]
    dear = httpx.get(f"{p[2].url}/api/v1/auctions", params={"sort": "price_high"}, timeout=10)
    assert [v["id"] for v in dear.json()["auctions"]] == list(reversed(auctions))
    deep = httpx.get(f"{p[2].url}/api/v1/auctions", params={"offset": 450, "limit": 100})
    assert deep.status_code == 400 and deep.json()["error"]["code"] == "invalid_request"
    # a connection without the cluster's certificate is refused before it can name a group
    before = p[0].status()["refused_connections"]
    host, port = p[0].address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(b"rpc\n" + orjson.dumps({"t": "directory"}) + b"\n")
        raw.settimeout(10)
        try:
            answer = raw.recv(4096)
        except ConnectionResetError:
            answer = b""
        assert answer == b""  # closed, nothing answered
    wait_for("the refusal counted", lambda: p[0].status()["refused_connections"] > before, 10)
    # an auction the directory never placed is 404 on every peer
    r = httpx.get(f"{p[2].url}/api/v1/auctions/p999", timeout=10)
    assert r.status_code == 404
    watch_across_groups(ring, seller, bob, auctions, rules)
    check_groups(ring, ring.directory(), auctions)

    # a planned leave: the peer's groups move to the others, it keeps no replica, the
    # auctions stay in their groups and their ledgers agree
    leaving = p[3]
    placed = ring.directory()["auctions"]
    done = cli("peer-leave", leaving.address, "--data", str(leaving.data), "--via", p[0].address)
    assert done.returncode == 0, done.stderr
    final = ring.wait_settled(3, deadline=120)
    assert leaving.address not in final["peers"] and final["auctions"] == placed
    wait_for("the leaver to hold no replica", lambda: not leaving.status()["groups"], 60)
    check_groups(ring, final, auctions)
    refused = cli("peer-leave", p[0].address, "--data", str(p[0].data))
    assert refused.returncode != 0 and "at least 3 peers" in refused.stderr + refused.stdout


def watch_across_groups(
    ring: Ring, seller: Bidder, bob: Bidder, auctions: list[str], rules: dict[str, Any]
) -> None:
    """A WebSocket on a peer hears the events of the auctions of every group that peer holds,
    and of one it holds no replica of (relayed from a member, p2p/wsrelay.py)."""
    for _ in range(20):  # more auctions until some peer holds two used groups and lacks one
        d = ring.directory()
        used = {d["auctions"][a] for a in auctions}
        for peer in ring.peers:
            held = {g for g, m in d["groups"].items() if peer.address in m}
            if len(used & held) >= 2 and used - held:
                break
        else:
            auctions.append(seller.create_auction(ring.peers[0].url, rules))
            continue
        break
    g1, g2 = sorted(used & held)[:2]
    a1 = next(a for a in auctions if d["auctions"][a] == g1)
    a2 = next(a for a in auctions if d["auctions"][a] == g2)
    far = next(a for a in auctions if d["auctions"][a] not in held)
    other = next(q for q in ring.peers if q is not peer)

    async def watch() -> None:
        async with websockets.connect(peer.url.replace("http", "ws") + "/api/v1/ws") as ws:
            await ws.send(json.dumps({"op": "subscribe", "id": 1, "auctions": [a1, a2, far]}))
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert message["type"] != "error", message
                if message["type"] == "subscribed":
                    break
            acks = {}
            for aid in (a1, a2, far):  # far: relayed from a member of its group
                r = await asyncio.to_thread(bob.bid, other.url, aid, 900)
                assert r.status_code == 201, r.text
                acks[aid] = r.json()["seq"]
            heard: dict[str, int] = {}
            deadline = time.monotonic() + 20
            while any(heard.get(a, 0) < seq for a, seq in acks.items()):
                left = deadline - time.monotonic()
                message = json.loads(await asyncio.wait_for(ws.recv(), max(left, 0.1)))
                if message["type"] == "event":
                    heard[message["auction"]] = max(
                        heard.get(message["auction"], 0), message["seq"]
                    )

    asyncio.run(watch())


def test_a_joining_peer_changes_the_affected_groups_and_auctions_stay(ring4: Ring) -> None:
    ring = ring4
    p = ring.peers
    seller = Bidder(p[0].url, "sam")
    bob = Bidder(p[2].url, "bob")
    rules = {"starting_price": 100, "min_increment": 10, "duration": 300, "signed_bids": True}
    auctions = [seller.create_auction(p[i % 4].url, rules) for i in range(6)]
    for aid in auctions:
        assert bob.bid(p[1].url, aid, 500).status_code == 201
    before = ring.directory()

    newcomer = ring.cluster.new_peer()
    ring.peers.append(newcomer)
    # its one seed is outside the directory group: the seed relays the directory and the join
    seed = next(q for q in p if q.address not in before["groups"]["dir"])
    newcomer.start([seed.address], replace_after=REPLACE_AFTER, extra_args=RING)
    newcomer.wait_up(deadline=90)
    after = ring.wait_settled(5, deadline=120)

    # auctions stay in their groups; the old groups keep their ids, one more group exists
    assert {a: after["auctions"][a] for a in auctions} == {
        a: before["auctions"][a] for a in auctions
    }
    assert set(after["groups"]) == set(before["groups"]) | {
        next(g for g in after["groups"] if g not in before["groups"])
    }
    changed = [g for g in before["groups"] if before["groups"][g] != after["groups"][g]]
    assert changed, "a join on a ring of 4 changes the groups it lands in"
    assert all(newcomer.address in after["groups"][g] for g in changed)
    # a peer out of a group's plan no longer keeps a replica of it
    for gid in changed:
        for address in set(before["groups"][gid]) - set(after["groups"][gid]):
            wait_for(
                f"{address} to drop its replica of {gid}",
                lambda a=address, g=gid: not replica(ring.by_address(a), g).exists(),
                30,
            )
    # the newcomer serves bids on every auction (its own groups' and forwarded ones)
    for aid in auctions:
        r = bob.bid(newcomer.url, aid, 600)
        assert r.status_code == 201, r.text
    check_groups(ring, after, auctions)


def test_a_dead_peer_leaves_the_ring_and_its_groups_take_the_next_peers(ring4: Ring) -> None:
    # a peer dies: after REPLACE_AFTER s it leaves the ring, and each group it was in takes
    # the next peer round the ring, which gets the group's state; auctions stay put
    ring = ring4
    p = ring.peers
    seller = Bidder(p[0].url, "sam")
    bob = Bidder(p[2].url, "bob")
    rules = {"starting_price": 100, "min_increment": 10, "duration": 300, "signed_bids": True}
    auctions = [seller.create_auction(p[i % 4].url, rules) for i in range(6)]
    for aid in auctions:
        assert bob.bid(p[3].url, aid, 500).status_code == 201
    before = ring.directory()
    dead = p[1]
    dead.kill()
    final = ring.wait_settled(3, deadline=120)
    assert dead.address not in final["peers"]
    assert all(dead.address not in m for m in final["groups"].values())
    assert {a: final["auctions"][a] for a in auctions} == {
        a: before["auctions"][a] for a in auctions
    }
    for aid in auctions:
        r = bob.bid(p[0].url, aid, 700)
        assert r.status_code == 201, r.text
    check_groups(ring, final, auctions)


def test_kill_9_of_a_group_leader_mid_stream_loses_no_acknowledged_bid(ring4: Ring) -> None:
    ring = ring4
    p = ring.peers
    seller = Bidder(p[0].url, "sam")
    bidders = [Bidder(p[i % 4].url, f"b{i}") for i in range(3)]
    rules = {"starting_price": 100, "min_increment": 1, "duration": 40, "signed_bids": True}
    aid = seller.create_auction(p[1].url, rules)
    d = ring.directory()
    gid = d["auctions"][aid]
    members = [ring.by_address(a) for a in d["groups"][gid]]
    leader = ring.by_address(members[0].status()["groups"][gid]["leader"])
    survivors = [m for m in members if m is not leader]
    entry = [q for q in p if q is not leader]  # the clients' peers (a member or not)

    acked: list[tuple[str, int]] = []
    lock = threading.Lock()
    price = [100]
    stop = threading.Event()

    def client(i: int) -> None:
        bidder = bidders[i]
        end = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < end:
            with lock:
                price[0] += 1
                amount = price[0]
            body = bidder.signed(aid, amount)
            try:
                r = httpx.post(
                    f"{entry[i % len(entry)].url}/api/v1/auctions/{aid}/bids",
                    json=body,
                    headers=bidder.headers,
                    timeout=15,
                )
            except httpx.HTTPError:
                continue
            if r.status_code == 201 and r.json().get("accepted"):
                with lock:
                    acked.append((bidder.name, body["nonce"]))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    try:
        wait_for("bids before the kill", lambda: len(acked) >= 15, 30)
        leader.kill()
        killed_at = len(acked)
        wait_for("bids after the kill", lambda: len(acked) >= killed_at + 15, 40)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    ring.wait_applied(gid, survivors)
    for peer in survivors:
        with sqlite3.connect(f"file:{replica(peer, gid)}?mode=ro", uri=True) as db:
            bodies = [
                orjson.loads(r[0])
                for r in db.execute(
                    "SELECT body FROM ledger_events WHERE auction_id = ? ORDER BY seq", (aid,)
                )
            ]
        placed = [(b["bidder"], b["nonce"]) for b in bodies if b.get("type") == "BidPlaced"]
        assert len(placed) == len(set(placed)), "a bid applied twice"
        missing = set(acked) - set(placed)
        assert not missing, f"{len(missing)} acknowledged bids lost on {peer.name}"
    assert rows(replica(survivors[0], gid)) == rows(replica(survivors[1], gid))
    assert all(audit(replica(peer, gid)) for peer in survivors)

    # the auction closes on time with the outcome its log implies, on both survivors
    def closed() -> list[dict[str, Any]] | None:
        views = [
            httpx.get(f"{peer.url}/api/v1/auctions/{aid}", timeout=10).json() for peer in survivors
        ]
        return views if all(v["state"] == "closed" for v in views) else None

    wait_for("the auction to close", closed, 60)
    # a view shows a due auction closed (at its due time) before the close is applied: once
    # both replicas applied the same log, they show the recorded close alike
    wait_for("the close applied", lambda: ring.wait_applied(gid, survivors) or closed(), 30)
    views = closed() or []
    assert views[0]["result"] == views[1]["result"]
    assert views[0]["result"]["winner"] == views[0]["leader"]

    # the killed peer, taken out of the ring meanwhile, comes back with the same command: it
    # rejoins, its groups send it their state, and its replicas agree with the others'
    leader.start(ring.seeds, replace_after=REPLACE_AFTER, extra_args=RING)
    leader.wait_up(deadline=90)
    final = ring.wait_settled(4, deadline=120)
    assert leader.address in final["peers"]
    check_groups(ring, final, [aid])
