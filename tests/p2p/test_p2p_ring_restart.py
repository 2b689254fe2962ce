"""The directory's log of identity commands (accounts, sessions, keys) across a full restart of
a ring, with real peer processes: kill -9 of every peer, then all started again. Nothing
acknowledged is lost (every account, the last key of each, the sessions), nothing is applied
twice (each group's count of applied identity commands equals the directory's, no group
refuses one as a repeat), numbering goes on after the restart without reusing a number, and
every group's replicas agree and pass the audit."""

from __future__ import annotations

import concurrent.futures
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from nacl.signing import SigningKey
from peer_helpers import PASSWORD, Bidder, wait_for
from test_p2p_groups import RING, Ring, check_groups, replica

pytestmark = pytest.mark.e2e
RULES = {"starting_price": 100, "min_increment": 10, "duration": 600, "signed_bids": True}


class SlowReplaceRing(Ring):
    """Peers killed together are restarted, not replaced: a long ``--replace-after``."""

    def start(self) -> SlowReplaceRing:
        try:
            self.start_all()
            self.wait_settled(len(self.peers))
        except BaseException:
            self.cluster.stop()
            raise
        return self

    def start_all(self) -> None:
        for peer in self.peers:
            peer.start(self.seeds, replace_after=300.0, extra_args=RING)
        for peer in self.peers:
            peer.wait_up(deadline=120)


@pytest.fixture
def ring(tmp_path: Path) -> Iterator[SlowReplaceRing]:
    ring = SlowReplaceRing(tmp_path, 4).start()
    try:
        yield ring
    finally:
        ring.stop()


def accounts(db: Path) -> dict[str, str | None]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return dict(conn.execute("SELECT id, public_key FROM accounts ORDER BY id"))


def identity_state(ring: Ring) -> tuple[int, dict[tuple[str, str], int]]:
    """The directory's count of identity commands, and each (peer, group) replica's."""
    counts = {}
    for peer in ring.peers:
        for gid, group in peer.status()["groups"].items():
            if gid != "dir":
                counts[(peer.name, gid)] = group["identity_seq"]
    return int(ring.directory()["identity_commands"]), counts


def all_applied(ring: Ring, n: int) -> bool:
    total, counts = identity_state(ring)
    return total == n and set(counts.values()) == {n}


def test_a_full_restart_loses_no_identity_command_and_applies_none_twice(
    ring: SlowReplaceRing,
) -> None:
    p = ring.peers
    seller = Bidder(p[0].url, "sam")
    # accounts made through every peer at once: the directory numbers them in one order
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda i: Bidder(p[i % 4].url, f"b{i}"), range(8)))
    bob = made[0]
    # a key changed through one peer: every group must end with the new key
    new_key = SigningKey.generate()
    r = httpx.put(
        f"{p[3].url}/api/v1/me/key",
        json={"public_key": new_key.verify_key.encode().hex()},
        headers=bob.headers,
        timeout=15,
    )
    assert r.status_code in (200, 201), r.text
    bob.key = new_key
    auctions = [seller.create_auction(p[i % 4].url, RULES) for i in range(8)]
    d = ring.directory()
    assert len({d["auctions"][a] for a in auctions}) >= 2
    for i, aid in enumerate(auctions):
        r = bob.bid(p[(i + 1) % 4].url, aid, 200)
        assert r.status_code == 201, r.text  # signed with the new key, accepted everywhere

    n = wait_for("every group to apply every identity command", lambda: identity_state(ring)[0])
    wait_for("every group to apply them", lambda: all_applied(ring, n), 30)
    before = {
        (peer.name, gid): accounts(replica(peer, gid))
        for peer in p
        for gid in peer.status()["groups"]
        if gid != "dir"
    }
    expected = {f"b{i}" for i in range(8)} | {"sam"}
    assert all(set(a) == expected for a in before.values())

    for peer in p:
        peer.kill()
    ring.start_all()
    ring.wait_settled(4, deadline=120)

    # nothing lost, nothing applied twice
    wait_for(
        "every group to have the directory's identity commands", lambda: all_applied(ring, n), 60
    )
    for peer in p:
        for gid in peer.status()["groups"]:
            if gid == "dir":
                continue
            got = accounts(replica(peer, gid))
            assert set(got) == expected, f"{peer.name}'s replica of {gid}"
            assert got["b0"] == new_key.verify_key.encode().hex()
        assert "refused by this group" not in peer.log.read_text()
    # each peer's copy of the identity log keeps only what its groups still lack
    for peer in p:
        wait_for(
            f"{peer.name} to trim its copy of the identity log",
            lambda q=peer: ring.directory(q)["identity_kept"] == 0,
            20,
        )
    # sessions from before the restart still open every group's doors
    for i, aid in enumerate(auctions):
        r = bob.bid(p[i % 4].url, aid, 300)
        assert r.status_code == 201, r.text
    # numbering goes on: the next account and its login are commands n + 1 and n + 2
    late = Bidder(p[2].url, "late")
    wait_for("the new account in every group", lambda: all_applied(ring, n + 2), 30)
    r = late.bid(p[1].url, auctions[0], 400)
    assert r.status_code == 201, r.text
    r = httpx.post(
        f"{p[1].url}/api/v1/sessions", json={"name": "b3", "password": PASSWORD}, timeout=15
    )
    assert r.status_code == 201, r.text
    check_groups(ring, ring.directory(), auctions)
