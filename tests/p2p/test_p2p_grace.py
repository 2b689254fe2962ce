"""The newcomer's grace (``--catch-up-grace``, decision 0024) with real peer processes: a member
that connected but never caught up (a newcomer being sent the state) is not removed after
``--replace-after`` like a dead member, only once it has been unreachable for the grace.

The newcomer here is a real pysyncobj node behind a real TLS tunnel that connects and is then
never ticked again (``StuckNewcomer``): it never answers an append, so it never catches up."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from peer_helpers import Cluster, PeerProcess, wait_for
from pysyncobj import SyncObj, SyncObjConf
from pysyncobj.utility import TcpUtility

from auctionhouse.p2p.tls import PeerFiles, Tunnels
from free_ports import free_port

pytestmark = pytest.mark.e2e
GRACE = 10.0
REPLACE_AFTER = 1.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, 3)
    try:
        for peer in cluster.peers:
            peer.start(
                cluster.members,
                replace_after=REPLACE_AFTER,
                extra_args=["--catch-up-grace", str(GRACE)],
            )
        for peer in cluster.peers:
            peer.wait_up()
        cluster.wait_leader()
        yield cluster
    finally:
        cluster.stop()


def add_member(via: PeerProcess, newcomer: PeerProcess) -> str:
    """Ask ``via`` (over its TLS port, with the newcomer's certificate) to add the newcomer:
    what a newcomer's own peer does first (``Peer._ask_to_join``)."""
    files = PeerFiles.in_dir(newcomer.data)

    async def ask() -> str:
        tunnels = Tunnels(files, None)
        try:
            port = await tunnels.outbound(via.address)
            utility = TcpUtility(files.password(), timeout=5.0)
            command = ["add", newcomer.address]
            return str(
                await asyncio.to_thread(utility.executeCommand, f"127.0.0.1:{port}", command)
            )
        finally:
            await tunnels.close()

    return asyncio.run(ask())


class StuckNewcomer:
    """A real pysyncobj node behind a real TLS tunnel (the newcomer's certificate), ticked by
    hand: it completes the connection handshake with the group, then is never ticked again,
    so it never answers an append (never catches up), as a newcomer rebuilding from a large
    snapshot does not; ``stop`` makes it unreachable."""

    def __init__(self, peer: PeerProcess, members: list[str]) -> None:
        self.files = PeerFiles.in_dir(peer.data)
        internal = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.tunnels = Tunnels(self.files, ("127.0.0.1", internal))
        host, port = peer.address.rsplit(":", 1)
        asyncio.run_coroutine_threadsafe(self.tunnels.listen(host, int(port)), self.loop).result(10)
        conf = SyncObjConf(
            autoTick=False,
            password=self.files.password(),
            bindAddress=f"127.0.0.1:{internal}",
            dynamicMembershipChange=True,
        )
        self.node = SyncObj(peer.address, members, conf)

    def tick_until_connected(self, leader: str, deadline: float = 30.0) -> None:
        """Tick until the connection with ``leader`` is made (the leader counts it connected
        before this side does); other members may connect, or not, meanwhile."""
        end = time.monotonic() + deadline
        while not any(
            n.address == leader and self.node.isNodeConnected(n) for n in self.node.otherNodes
        ):
            assert time.monotonic() < end, "the leader did not connect to the newcomer"
            self.node.doTick(0.01)

    def stop(self) -> None:
        self.node.destroy()
        self.node.doTick(0.01)  # the library closes its sockets on a tick

        async def shutdown() -> None:
            await self.tunnels.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:  # the spliced connections
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def test_a_member_that_never_caught_up_is_kept_for_the_grace_then_removed(
    cluster: Cluster,
) -> None:
    leader = cluster.wait_leader()
    newcomer = cluster.new_peer()  # keys only: its port is the socket below
    # pysyncobj connects from the greater address to the lesser: the newcomer's must be the
    # least, so that the members' (the leader's) tunnels connect to the socket below.
    lowest = min(cluster.members)
    for _ in range(500):  # bounded: about one port in three is below all three members'
        if newcomer.address < lowest:
            break
        newcomer.peer_port = free_port()
        newcomer.address = f"127.0.0.1:{newcomer.peer_port}"
    assert newcomer.address < lowest, "no free port below the members' ports"
    stuck = StuckNewcomer(newcomer, list(cluster.members))  # listening before it is added
    answer = wait_for(
        "the group to add the newcomer",
        lambda: add_member(leader, newcomer).startswith("SUCCESS") or None,
        30,
    )
    assert answer
    try:
        stuck.tick_until_connected(leader.address)
        wait_for(
            "the leader to see the newcomer connected and not caught up",
            lambda: newcomer.address in leader.status()["catching_up"],
            20,
        )
    finally:
        stuck.stop()  # unreachable from now on
    down = time.monotonic()
    # A dead member would be removed after REPLACE_AFTER (the group has 3 live members):
    # this one is still a member well after that
    while time.monotonic() - down < GRACE / 2:
        status = leader.status()
        assert newcomer.address in status["members"], "removed before its grace"
        assert status["is_leader"], "the leader changed: the test's clock is the leader's"
        time.sleep(0.2)  # sampling the leader's view over a span of real time (bounded)
    wait_for(
        "the leader to remove the newcomer once its grace is over",
        lambda: newcomer.address not in leader.status()["members"],
        GRACE + 20,
    )
    assert time.monotonic() - down >= GRACE - 1.0
    assert len(leader.status()["members"]) == 3
