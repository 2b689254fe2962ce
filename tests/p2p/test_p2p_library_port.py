"""A peer whose Raft library's loopback port is taken by another socket before the library
binds it still starts (on another port), instead of hanging its event loop.

The port is picked at the start of ``Peer.start`` and bound by the library's server seconds
later (after the tunnels and the members' status); a ring peer starts several groups' nodes at
once, each opening connections meanwhile. pysyncobj's constructor (``autoTick=False``) retried
a bind that failed in a busy loop on the peer's only thread, for ever by default: the peer
stopped answering and logging (seen twice in about forty ring starts on the loaded machine).

The start runs in a child process with a deadline: a start that hangs spins that process's only
thread, which nothing in this process could interrupt."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import asyncio, json, socket, sys
from pathlib import Path

from auctionhouse.house import HouseConfig
from auctionhouse.p2p.machine import HouseMachine
from auctionhouse.p2p.peer import Peer, PeerConfig
from auctionhouse.p2p.tls import Tunnels, init_cluster, issue_peer

root = Path(sys.argv[1])
ring = sys.argv[2] == "ring"
init_cluster(root / "cluster")
data = root / "p1"
issue_peer(root / "cluster", data, "p1")
with socket.socket() as s:  # the peer's public TLS port (nobody connects to it here)
    s.bind(("127.0.0.1", 0))
    public = f"127.0.0.1:{s.getsockname()[1]}"


async def main() -> dict:
    tunnels = None
    name = public
    if ring:  # one group of a ring peer: the peer's tunnels are shared, routed per group
        from auctionhouse.p2p.tls import PeerFiles

        tunnels = Tunnels(PeerFiles.in_dir(data), None)
        await tunnels.listen(*public.rsplit(":", 1))
        name = f"g0123456789@{public}"
    config = PeerConfig(
        data=data / "group" if ring else data,
        peer_address=name,
        members=(name,),
        house=HouseConfig.for_tests(),
        group="g0123456789" if ring else None,
    )
    (data / "group").mkdir(exist_ok=True)
    peer = Peer(config, tunnels=tunnels, files=PeerFiles.in_dir(data) if ring else None)
    taken = {}
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def machine(open_house):
        # Between the port's pick and the library's bind: another socket takes the port.
        blocker.bind(("127.0.0.1", peer.internal_port))
        blocker.listen(1)
        taken["port"] = peer.internal_port
        return HouseMachine(open_house)

    peer.machine_factory = machine
    await asyncio.wait_for(peer.start(), 30)
    try:
        for _ in range(200):  # a group of one elects itself
            if peer.status()["is_leader"]:
                break
            await asyncio.sleep(0.05)
        routed = (
            tunnels._groups.get("g0123456789") if ring else peer.tunnels._internal
        )
        return {
            "taken": taken["port"],
            "bound": peer.internal_port,
            "routed": list(routed),
            "leader": peer.status()["is_leader"],
        }
    finally:
        await peer.stop()
        if tunnels is not None:
            await tunnels.close()
        blocker.close()


print(json.dumps(asyncio.run(main())))
"""


def start_with_port_taken(tmp_path: Path, kind: str) -> dict[str, object]:
    script = tmp_path / "start.py"
    script.write_text(SCRIPT)
    try:
        done = subprocess.run(
            [sys.executable, str(script), str(tmp_path / "run"), kind],
            capture_output=True,
            text=True,
            timeout=90,
        )
    except subprocess.TimeoutExpired as exc:  # the child is killed by subprocess.run
        raise AssertionError(f"the peer's start hung: {exc.stderr!r}"[-3000:]) from None
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_peer_whose_library_port_was_taken_starts_on_another(tmp_path: Path) -> None:
    result = start_with_port_taken(tmp_path, "peer")
    assert result["bound"] != result["taken"]
    assert result["routed"] == ["127.0.0.1", result["bound"]]  # the tunnels follow it
    assert result["leader"] is True


def test_a_ring_group_whose_library_port_was_taken_starts_on_another(tmp_path: Path) -> None:
    result = start_with_port_taken(tmp_path, "ring")
    assert result["bound"] != result["taken"]
    assert result["routed"] == ["127.0.0.1", result["bound"]]
    assert result["leader"] is True
