"""A ring peer is a whole house for auctions of groups it is not in, with real peer processes:
a WebSocket on a peer outside an auction's group watches it and bids on it (relayed to a
member over the peer channel), and the members' per-address rate limits count the client that
reached the forwarding peer, never the peer (HTTP forwarding and the WebSocket relay).

Clients here connect from their own loopback addresses (127.0.0.x) so that the limits' buckets
can be told apart; the peers forward from 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from peer_helpers import Bidder, PeerProcess, wait_for
from test_p2p_groups import RING, Ring, audit, replica
from test_p2p_photos import jpeg, served, upload

pytestmark = pytest.mark.e2e
BURST = 20  # requests an address may send at once to one replica (then 0.5 a second)
LIMITS = {"AUCTIONHOUSE_HOUSE_ADDRESS_RATE": "0.5", "AUCTIONHOUSE_HOUSE_ADDRESS_BURST": str(BURST)}
RULES = {"starting_price": 100, "min_increment": 10, "duration": 600, "signed_bids": True}


class LimitedRing(Ring):
    def start(self) -> LimitedRing:
        try:
            for peer in self.peers:
                peer.start(self.seeds, replace_after=300.0, extra_args=RING, extra_env=LIMITS)
            for peer in self.peers:
                peer.wait_up(deadline=90)
            self.wait_settled(len(self.peers))
        except BaseException:
            self.cluster.stop()
            raise
        return self


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LimitedRing]:
    ring = LimitedRing(Path(tmp_path_factory.mktemp("ring")), 4).start()
    try:
        yield ring
    finally:
        ring.stop()


def client(source: str) -> httpx.Client:
    """An HTTP client whose connections come from ``source`` (a loopback address)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=15)


def far_auction(ring: Ring, seller: Bidder) -> tuple[str, PeerProcess, list[PeerProcess]]:
    """A new auction, a peer outside its group, and the group's members."""
    aid = seller.create_auction(seller.url, RULES)
    d = ring.directory()
    members = [ring.by_address(a) for a in d["groups"][d["auctions"][aid]]]
    outside = next(p for p in ring.peers if p not in members)
    return aid, outside, members


def ws_url(peer: PeerProcess) -> str:
    return peer.url.replace("http", "ws") + "/api/v1/ws"


async def answer(ws: Any, request_id: Any, seen: list[dict[str, Any]], deadline: float) -> Any:
    """Read until the answer to ``request_id`` (keeping every event frame in ``seen``)."""
    end = time.monotonic() + deadline
    while True:
        left = end - time.monotonic()
        assert left > 0, f"no answer to {request_id} in {deadline} s"
        message = json.loads(await asyncio.wait_for(ws.recv(), left))
        if message.get("type") in ("event", "snapshot"):
            seen.append(message)
        if message.get("id") == request_id and message.get("type") != "error":
            return message
        if message.get("id") == request_id:
            return message


def test_forwarded_http_requests_count_against_the_client_not_the_peer(ring: LimitedRing) -> None:
    seller = Bidder(ring.peers[0].url, "sara")
    aid, outside, members = far_auction(ring, seller)
    flood, other = client("127.0.0.3"), client("127.0.0.4")
    with flood, other:
        url = f"{outside.url}/api/v1/auctions/{aid}"
        codes = [flood.get(url).status_code for _ in range(BURST + 10)]
        assert codes[: BURST - 4].count(200) == BURST - 4 and 429 in codes
        # (0.5 tokens a second come back meanwhile: a few more asks empty the bucket again)
        asks = [flood.get(url) for _ in range(10)]
        refused = next(r for r in asks if r.status_code == 429)
        assert refused.json()["error"]["code"] == "rate_limited"
        # the flood is tied to its source on the member: asked there directly, the same
        # client is in the same (empty) bucket
        direct = [flood.get(f"{members[0].url}/api/v1/auctions/{aid}") for _ in range(10)]
        assert 429 in [r.status_code for r in direct]
        # and another client of the same peer has its own bucket there
        assert other.get(url).status_code == 200
        assert outside.status()["forwarded"] > BURST


def test_relayed_websocket_frames_count_against_the_client(ring: LimitedRing) -> None:
    seller = Bidder(ring.peers[0].url, "sue")
    aid, outside, _ = far_auction(ring, seller)

    async def flood(source: str, n: int) -> list[str]:
        codes = []
        async with websockets.connect(ws_url(outside), local_addr=(source, 0)) as ws:
            for i in range(n):  # unauthenticated bids: each refused by the member, counted
                await ws.send(json.dumps({"op": "bid", "id": i, "auction": aid, "amount": 1}))
                got = await answer(ws, i, [], 15)
                codes.append(got["error"]["code"] if got["type"] == "error" else got["type"])
        return codes

    codes = asyncio.run(flood("127.0.0.5", BURST + 5))
    assert "rate_limited" in codes and codes[0] == "unauthorized"
    assert asyncio.run(flood("127.0.0.6", 1)) == ["unauthorized"]  # its own bucket
    wait_for("the ring to stay up", lambda: outside.status()["groups"], 5)


def test_photos_through_any_peer_and_a_member_that_was_down_fetches_them(
    ring: LimitedRing,
) -> None:
    p = ring.peers
    ann = Bidder(p[1].url, "ann")
    digest = upload(p[2], ann, jpeg((200, 40, 40)))  # kept by a group p2 is in
    # a group member down while an auction of its group names the photo
    down = p[3]
    down.kill()
    body = {"item": {"name": "jug", "photos": [digest]}, "method": "english", "rules": RULES}
    placed: dict[str, str] = {}
    for i in range(30):  # until one lands in a group of the peer that is down
        via = p[i % 3]
        r = httpx.post(f"{via.url}/api/v1/auctions", json=body, headers=ann.headers, timeout=30)
        assert r.status_code == 201, r.text
        assert r.json()["item"]["photos"] == [digest]
        d = ring.directory(p[0])
        aid = r.json()["id"]
        placed[aid] = d["auctions"][aid]
        if down.address in d["groups"][placed[aid]] and len(set(placed.values())) >= 2:
            break
    assert down.address in d["groups"][placed[aid]]
    for peer in p[:3]:
        served(peer, digest)  # through any peer, whichever group holds it
    down.start(ring.seeds, replace_after=300.0, extra_args=RING, extra_env=LIMITS)
    down.wait_up(deadline=120)
    ring.wait_settled(4)
    served(down, digest)
    # every live member of every group that holds an auction naming the photo keeps the
    # file (the one that was down fetched it on catch-up) and its ledger passes the audit,
    # which hashes the photo files again
    assert sum(peer.status()["photos_brought"] for peer in p) >= 1  # to other groups
    for gid in set(placed.values()):
        for address in d["groups"][gid]:
            peer = ring.by_address(address)
            files = replica(peer, gid).parent / "house.db.photos"
            wait_for(
                f"{peer.name}'s replica of {gid} to hold the photo",
                lambda f=files: (f / f"{digest}.jpg").is_file(),
                30,
            )
            ring.wait_applied(gid, [ring.by_address(a) for a in d["groups"][gid]])
            assert audit(replica(peer, gid)), f"{peer.name}'s replica of {gid}"
    # a photo nobody uploaded is refused, through any peer
    bad = {"item": {"name": "jug", "photos": ["0" * 64]}, "method": "english", "rules": RULES}
    r = httpx.post(f"{p[0].url}/api/v1/auctions", json=bad, headers=ann.headers, timeout=30)
    assert r.status_code == 400 and "was not uploaded" in r.text
    assert httpx.get(f"{p[1].url}/api/v1/photos/{'0' * 64}", timeout=30).status_code == 404
    # markets have no group on a ring yet: refused with a stable code, nothing replicated
    market = {"name": "tin"}
    r = httpx.post(f"{p[0].url}/api/v1/markets", json=market, headers=ann.headers, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request", r.text


def test_a_websocket_on_a_peer_outside_the_group_watches_and_bids(ring: LimitedRing) -> None:
    seller = Bidder(ring.peers[0].url, "sam")
    bob = Bidder(ring.peers[1].url, "bob")
    eve = Bidder(ring.peers[2].url, "eve")
    aid, outside, members = far_auction(ring, seller)
    d = ring.directory()
    near = ""  # an auction of a group the outside peer is in: one socket, a split subscribe
    for _ in range(20):
        near = seller.create_auction(seller.url, RULES)
        d = ring.directory()
        if outside.address in d["groups"][d["auctions"][near]]:
            break
    assert outside.address in d["groups"][d["auctions"][near]]
    token = bob.headers["Authorization"].split()[1]
    seen: list[dict[str, Any]] = []

    async def run() -> None:
        async with websockets.connect(ws_url(outside), local_addr=("127.0.0.2", 0)) as ws:
            await ws.send(json.dumps({"op": "auth", "id": "a", "token": token}))
            assert (await answer(ws, "a", seen, 15))["type"] == "auth"
            subscribe = {"op": "subscribe", "id": "s", "auctions": [near, aid]}
            await ws.send(json.dumps(subscribe))
            assert (await answer(ws, "s", seen, 15))["type"] == "subscribed"
            price = 100
            for i in range(4):
                price += 10
                await ws.send(
                    json.dumps({"op": "bid", "id": i, "auction": aid, **bob.signed(aid, price)})
                )
                ack = await answer(ws, i, seen, 20)
                assert ack["type"] == "ack", ack
                # an ack means committed: a member of the group already shows the bid
                view = httpx.get(f"{members[0].url}/api/v1/auctions/{aid}", timeout=10).json()
                assert view["price"] >= price
                # another client bids through another peer: heard here too
                price += 10
                r = eve.bid(members[1].url, aid, price)
                assert r.status_code == 201, r.text
            # the group's member the relay uses dies: the relay takes the socket to another
            # member and resubscribes from the last seq heard (no event lost or repeated)
            used = members[0]
            used.kill()
            price += 10
            acked = None
            resent = bob.signed(aid, price)  # the same signed bid each time: applied once
            for attempt in range(40):
                bid = {"op": "bid", "id": f"k{attempt}", "auction": aid, **resent}
                await ws.send(json.dumps(bid))
                got = await answer(ws, f"k{attempt}", seen, 30)
                if got["type"] == "ack":
                    acked = got
                    break
                assert got["error"]["code"] in ("no_quorum", "overloaded"), got
                await asyncio.sleep(0.5)
            assert acked is not None
            await ws.send(
                json.dumps({"op": "bid", "id": "near", "auction": near, **bob.signed(near, 500)})
            )
            assert (await answer(ws, "near", seen, 20))["type"] == "ack"
            last_seq = acked["ack"]["seq"]
            end = time.monotonic() + 20
            while max((m.get("seq", 0) for m in seen if m["auction"] == aid), default=0) < last_seq:
                assert time.monotonic() < end, "the last bid's event never came"
                message = json.loads(await asyncio.wait_for(ws.recv(), 20))
                if message.get("type") in ("event", "snapshot"):
                    seen.append(message)

    asyncio.run(run())
    events = [m["seq"] for m in seen if m["type"] == "event" and m["auction"] == aid]
    assert events == list(range(1, len(events) + 1)), events  # in order, none lost or twice
    bids = [
        m
        for m in seen
        if m["type"] == "event" and m["auction"] == aid and m["event"]["type"] == "BidPlaced"
    ]
    assert len(bids) == 9  # bob's 5 over the socket (the resent one once), eve's 4 over HTTP
    assert any(m["auction"] == near and m["type"] == "event" for m in seen)
    assert d["auctions"][aid] not in {g for g, m in d["groups"].items() if outside.address in m}
