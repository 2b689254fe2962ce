"""A follower that loses a crashed leader's connection elects at once, without waiting out the
election timeout (docs/decisions/0019-failover-on-disconnect.md). Three peers run in this
process (their Raft nodes, TLS tunnels and replicas); the survivors' election timeouts are set
to a minute, so only the dropped connection can explain an election within the deadline."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from auctionhouse.house import HouseConfig
from auctionhouse.p2p.peer import Peer, PeerConfig
from auctionhouse.p2p.tls import init_cluster, issue_peer

DEADLINE = 20.0  # s: bounded waits (a loaded machine), far below the one-minute timeout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def until(what: str, check, deadline: float = DEADLINE):  # type: ignore[no-untyped-def]
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        await asyncio.sleep(0.02)  # polling in-process peers, bounded by the deadline
    raise AssertionError(f"timed out after {deadline} s waiting for {what}")


async def scenario(root: Path) -> None:
    init_cluster(root / "cluster")
    members = tuple(f"127.0.0.1:{free_port()}" for _ in range(3))
    house = HouseConfig.for_tests()
    peers: list[Peer] = []
    for i, member in enumerate(members):
        issue_peer(root / "cluster", root / f"p{i}", f"p{i}")
        peers.append(
            Peer(PeerConfig(data=root / f"p{i}", peer_address=member, members=members, house=house))
        )
    for peer in peers:
        await peer.start()
    stopped: list[Peer] = []
    try:
        leader = await until(
            "a leader", lambda: next((p for p in peers if p.status()["is_leader"]), None)
        )
        survivors = [p for p in peers if p is not leader]
        await until(
            "every replica to know the leader",
            lambda: all(p.status()["leader"] == leader.config.peer_address for p in survivors),
        )
        term = leader.status()["term"]
        for peer in survivors:  # a minute of silence before a timeout election
            assert peer.syncobj is not None
            peer.syncobj.conf.raftMinTimeout = 60.0
            peer.syncobj.conf.raftMaxTimeout = 90.0
            peer.syncobj._SyncObj__raftElectionDeadline = time.monotonic() + 60.0
        stopped.append(leader)
        await leader.stop()  # its sockets close, as a killed process's do
        started = time.monotonic()
        new = await until(
            "a new leader among the survivors",
            lambda: next((p for p in survivors if p.status()["is_leader"]), None),
        )
        assert time.monotonic() - started < 30.0  # the election timeout could not have passed
        assert new.status()["term"] > term
        other = next(p for p in survivors if p is not new)
        await until(
            "the other survivor to follow it",
            lambda: other.status()["leader"] == (new.config.peer_address),
        )
        assert await new.propose("tick", {}) == 0  # and the group writes again
    finally:
        for peer in peers:
            if peer not in stopped:
                await peer.stop()


def test_the_survivors_elect_as_soon_as_the_leaders_connection_drops(tmp_path: Path) -> None:
    asyncio.run(asyncio.wait_for(scenario(tmp_path), 120))


async def stalled_follower(root: Path) -> None:
    """A follower's election timer runs out while the leader is alive (as after a stall of
    the follower's process): its pre-vote is refused, so no term changes and the leader
    stays; without the pre-vote the library would have started an election at once."""
    init_cluster(root / "cluster")
    members = tuple(f"127.0.0.1:{free_port()}" for _ in range(3))
    house = HouseConfig.for_tests()
    peers: list[Peer] = []
    for i, member in enumerate(members):
        issue_peer(root / "cluster", root / f"p{i}", f"p{i}")
        peers.append(
            Peer(PeerConfig(data=root / f"p{i}", peer_address=member, members=members, house=house))
        )
    for peer in peers:
        await peer.start()
    try:
        leader = await until(
            "a leader", lambda: next((p for p in peers if p.status()["is_leader"]), None)
        )
        follower = next(p for p in peers if p is not leader)
        await until(
            "the follower to hear the leader",
            lambda: (
                follower.status()["leader"] == leader.config.peer_address
                and any(follower.prevote.heard.values())
            ),
        )
        term = leader.status()["term"]
        so = follower.syncobj
        assert so is not None
        for _ in range(3):  # three timeouts in a row, each answered by both others
            replies = follower.prevote.replies
            so._SyncObj__raftElectionDeadline = 0.0  # the timer ran out
            follower._step()
            await until("both answers", lambda r=replies: follower.prevote.replies >= r + 2)
        assert follower.prevote.rounds >= 3
        assert follower.prevote.elections == 0
        assert all(p.status()["term"] == term for p in peers)
        assert leader.status()["is_leader"]
        assert await leader.propose("tick", {}) == 0  # the group never stopped writing
    finally:
        for peer in peers:
            await peer.stop()


def test_a_stalled_follower_does_not_depose_a_live_leader(tmp_path: Path) -> None:
    asyncio.run(asyncio.wait_for(stalled_follower(tmp_path), 120))
