"""Photos on real peer processes (p2p/photos.py): a photo uploaded through one peer is spread
to a majority before its registration is replicated, any replica serves it (and its
thumbnail), every replica's audit covers it, and a replica that was down when it was added
fetches it from the others, verified by its digest, when it catches up."""

from __future__ import annotations

import hashlib
import io
import socket
import ssl
from pathlib import Path

import httpx
import pytest
from peer_helpers import Bidder, Cluster, PeerProcess, wait_for
from PIL import Image

from auctionhouse.p2p.photos import MAGIC
from auctionhouse.p2p.tls import PeerFiles, contexts, issue_peer

pytestmark = pytest.mark.e2e


def jpeg(color: tuple[int, int, int], size: tuple[int, int] = (1200, 800)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


def upload(peer: PeerProcess, who: Bidder, data: bytes) -> str:
    r = httpx.post(f"{peer.url}/api/v1/photos", content=data, headers=who.headers, timeout=30)
    assert r.status_code == 201, r.text
    return str(r.json()["photo"])


def sell(peer: PeerProcess, who: Bidder, photos: list[str]) -> httpx.Response:
    body = {"item": {"name": "jug", "photos": photos}, "method": "english", "rules": {}}
    return httpx.post(f"{peer.url}/api/v1/auctions", json=body, headers=who.headers, timeout=30)


def served(peer: PeerProcess, digest: str) -> None:
    """``peer`` serves the photo (its bytes hash to ``digest``) and a thumbnail of it."""
    full = httpx.get(f"{peer.url}/api/v1/photos/{digest}", timeout=30)
    assert full.status_code == 200, full.text
    assert full.headers["content-type"] == "image/jpeg"
    assert hashlib.sha256(full.content).hexdigest() == digest
    thumb = httpx.get(f"{peer.url}/api/v1/photos/{digest}?thumbnail=true", timeout=30)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
    assert max(Image.open(io.BytesIO(thumb.content)).size) <= 400


def ask(peer: PeerProcess, ctx: ssl.SSLContext, request: bytes) -> bytes:
    """One raw request on ``peer``'s TLS peer port; its whole answer."""
    host, _, port = peer.address.rpartition(":")
    with (
        socket.create_connection((host, int(port)), timeout=20) as raw,
        ctx.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(request)
        chunks = []
        while chunk := tls.recv(1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)


def held(peer: PeerProcess, digest: str) -> bool:
    return (peer.data / "house.db.photos" / f"{digest}.jpg").is_file()


def test_photos_on_every_replica_and_fetched_on_catch_up(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path).start()
    try:
        p1, p2, p3 = cluster.peers
        seller = Bidder(p1.url, "seller")
        first = upload(p1, seller, jpeg((10, 90, 200)))
        # Spread before it was registered: a majority holds it when the upload answers.
        assert sum(held(p, first) for p in cluster.peers) >= 2
        r = sell(p2, seller, [first])  # named through another peer than the one uploaded to
        assert r.status_code == 201, r.text
        assert r.json()["item"]["photos"] == [first]
        for peer in (p2, p3, p1):
            served(peer, first)
        unknown = sell(p3, seller, ["ab" * 32])
        assert unknown.status_code == 400 and "not uploaded" in unknown.text

        # A replica down while a photo is added gets it when it catches up, unasked.
        p3.kill()
        cluster.wait_leader([p1, p2])
        second = upload(p2, seller, jpeg((200, 40, 40)))
        r = sell(p1, seller, [second, first])
        assert r.status_code == 201, r.text
        assert not held(p3, second)
        p3.start(cluster.members)
        p3.wait_up()
        cluster.wait_applied()
        wait_for("p3 to fetch the photo it missed", lambda: held(p3, second), 30)
        wait_for("p3 to have no photo pending", lambda: p3.status()["photos_pending"] == 0, 30)
        assert p3.status()["photos_fetched"] >= 1
        served(p3, second)
        assert p3.ledger_rows() == p1.ledger_rows()
        for peer in cluster.peers:
            wait_for(f"{peer.name} to hold every photo", lambda p=peer: held(p, second), 30)
            audit = peer.audit()
            assert audit.returncode == 0, audit.stdout + audit.stderr
        # The photo channel keeps only bytes that hash to their digest and decode as a photo.
        issue_peer(tmp_path / "cluster", tmp_path / "tester", "tester")
        ctx = contexts(PeerFiles.in_dir(tmp_path / "tester"))[1]
        answer = ask(p1, ctx, MAGIC + f"GET {second}\n".encode())
        assert answer.startswith(b"OK jpg ")
        assert hashlib.sha256(answer.split(b"\n", 1)[1]).hexdigest() == second
        assert ask(p1, ctx, MAGIC + f"GET {'cd' * 32}\n".encode()) == b"NO\n"
        lie = f"PUT {'ef' * 32} jpg 5\n".encode() + b"hello"
        assert ask(p1, ctx, MAGIC + lie) == b"NO not its digest\n"
        junk = b"not an image at all"
        put = f"PUT {hashlib.sha256(junk).hexdigest()} jpg {len(junk)}\n".encode() + junk
        assert ask(p1, ctx, MAGIC + put) == b"NO not a photo\n"
        assert not (
            p1.data / "house.db.photos" / f"{hashlib.sha256(junk).hexdigest()}.jpg"
        ).exists()
        # The audit of a replica covers its photo files: one changed is reported.
        (p3.data / "house.db.photos" / f"{second}.jpg").write_bytes(jpeg((0, 0, 0)))
        audit = p3.audit()
        assert audit.returncode != 0 and "photo" in audit.stdout, audit.stdout
    finally:
        cluster.stop()


def test_a_newcomer_rebuilt_from_a_snapshot_fetches_the_photos(tmp_path: Path) -> None:
    """The snapshot holds the registrations, not the bytes: a newcomer sent it fetches every
    registered photo from the members before it audits its own copy."""
    cluster = Cluster(tmp_path).start(replace_after=2.0, snapshot_every=10)
    try:
        p1, p2, p3 = cluster.peers
        seller = Bidder(p1.url, "seller")
        bob = Bidder(p2.url, "bob")
        digest = upload(p1, seller, jpeg((30, 160, 60)))
        assert sell(p2, seller, [digest]).status_code == 201
        auction = seller.create_auction(
            p1.url, {"starting_price": 1, "min_increment": 1, "duration": 120, "signed_bids": True}
        )
        for i in range(15):
            assert bob.bid(cluster.peers[i % 3].url, auction, 1 + i).status_code == 201
        wait_for("a snapshot on disk", lambda: (p1.data / "raft.dump").is_file(), 40)
        p3.kill()
        p4 = cluster.new_peer()
        cluster.peers.append(p4)
        p4.start([p1.address], replace_after=2.0, snapshot_every=10)
        p4.wait_up()
        wait_for("the newcomer to verify its copy", lambda: p4.status()["verified"] is True, 60)
        status = p4.status()
        assert status["rebuilds"] >= 1 and status["photos_pending"] == 0
        assert held(p4, digest)  # fetched before it audited, not on demand
        served(p4, digest)
        assert p4.audit().returncode == 0
    finally:
        cluster.stop()
