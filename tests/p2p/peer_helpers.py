"""A real cluster of ``auctionhouse peer`` processes on loopback (or in network namespaces),
with the cluster CA and keys made here, and helpers that wait on conditions with deadlines."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from nacl.signing import SigningKey

from auctionhouse.house import bid_message, sign
from auctionhouse.p2p.tls import init_cluster, issue_peer
from free_ports import START_DEADLINE, free_port

T = TypeVar("T")
PASSWORD = "correct horse battery"
FAST_ENV = {
    "AUCTIONHOUSE_HOUSE_ARGON2_TIME_COST": "1",
    "AUCTIONHOUSE_HOUSE_ARGON2_MEMORY_KIB": "1024",
    "AUCTIONHOUSE_HOUSE_ACCOUNT_RATE": "5000",
    "AUCTIONHOUSE_HOUSE_ACCOUNT_BURST": "5000",
    "AUCTIONHOUSE_HOUSE_ADDRESS_RATE": "50000",
    "AUCTIONHOUSE_HOUSE_ADDRESS_BURST": "50000",
    "AUCTIONHOUSE_HOUSE_MAX_CONCURRENT_AUCTIONS": "100000",
}


def wait_for(what: str, check: Callable[[], T | None], deadline: float = 20.0) -> T:
    """Poll ``check`` until it returns something truthy, or fail naming ``what``."""
    end = time.monotonic() + deadline
    last: Any = None
    while time.monotonic() < end:
        try:
            last = check()
        except (httpx.HTTPError, OSError, sqlite3.Error, KeyError, ValueError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.05)  # polling real processes, bounded by the deadline above
    raise AssertionError(f"timed out after {deadline} s waiting for {what} (last: {last!r})")


class PeerProcess:
    def __init__(
        self,
        name: str,
        data: Path,
        host: str = "127.0.0.1",
        netns: str | None = None,
        api_port: int | None = None,
        peer_port: int | None = None,
    ) -> None:
        self.name = name
        self.data = data
        self.host = host
        self.netns = netns
        self.api_port = api_port or free_port()
        self.peer_port = peer_port or free_port()
        self.url = f"http://{host}:{self.api_port}"
        self.address = f"{host}:{self.peer_port}"
        self.log = data.parent / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(
        self,
        members: list[str],
        extra_env: dict[str, str] | None = None,
        replace_after: float | None = None,
        snapshot_every: int | None = None,
        extra_args: list[str] | None = None,
    ) -> PeerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUCTIONHOUSE_")}
        env.update(FAST_ENV)
        env.update(extra_env or {})
        cmd = [sys.executable, "-m", "auctionhouse", "peer", "--data", str(self.data)]
        cmd += ["--listen", f"{self.host}:{self.api_port}", "--peer-listen", self.address]
        for member in members:
            cmd += ["--join", member]
        cmd += ["--log-level", "info"]
        if replace_after is not None:
            cmd += ["--replace-after", str(replace_after)]
        if snapshot_every is not None:
            cmd += ["--snapshot-every", str(snapshot_every)]
        cmd += extra_args or []
        if self.netns is not None:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        return self

    def wait_up(self, deadline: float = START_DEADLINE) -> None:
        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"peer {self.name} exited: {self.log.read_text()[-3000:]}")
            return httpx.get(f"{self.url}/api/v1/peer", timeout=1.0).status_code == 200

        wait_for(f"peer {self.name} to answer", up, deadline)

    def status(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/api/v1/peer", timeout=2.0).json())

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    # ---------------------------------------------------------------- the replica's ledger

    def ledger_rows(self) -> list[tuple[Any, ...]]:
        """(auction, seq, hash) of every event in this replica's ledger file, in order."""
        with sqlite3.connect(f"file:{self.data / 'house.db'}?mode=ro", uri=True) as db:
            return list(
                db.execute(
                    "SELECT auction_id, seq, hash FROM ledger_events ORDER BY auction_id, seq"
                )
            )

    def signed_bids(self, auction: str) -> list[tuple[str, int]]:
        """(bidder, nonce) of every bid of ``auction`` in this replica's ledger file."""
        import orjson

        with sqlite3.connect(f"file:{self.data / 'house.db'}?mode=ro", uri=True) as db:
            bodies = [
                orjson.loads(row[0])
                for row in db.execute(
                    "SELECT body FROM ledger_events WHERE auction_id = ? ORDER BY seq", (auction,)
                )
            ]
        return [(b["bidder"], b["nonce"]) for b in bodies if b.get("type") == "BidPlaced"]

    def audit(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "auctionhouse", "audit", "--db", str(self.data / "house.db")],
            capture_output=True,
            text=True,
            timeout=60,
        )


class Cluster:
    """N peers with keys from one cluster CA, all members of one replica group."""

    def __init__(
        self, root: Path, n: int = 3, hosts: list[str] | None = None, netns: list[str] | None = None
    ) -> None:
        self.root = root
        init_cluster(root / "cluster")
        self.peers: list[PeerProcess] = []
        for i in range(n):
            self.peers.append(
                self.new_peer(hosts[i] if hosts else "127.0.0.1", netns[i] if netns else None)
            )

    def new_peer(self, host: str = "127.0.0.1", netns: str | None = None) -> PeerProcess:
        """A peer with keys from the cluster CA (not started, not yet in ``peers``)."""
        index = len([p for p in self.root.iterdir() if p.name.startswith("p") and p.is_dir()]) + 1
        name = f"p{index}"
        data = self.root / name
        issue_peer(self.root / "cluster", data, name)
        port = free_port() if netns is None else 8000
        peer_port = free_port() if netns is None else 9000
        return PeerProcess(name, data, host, netns, port, peer_port)

    @property
    def members(self) -> list[str]:
        return [p.address for p in self.peers]

    def start(
        self, replace_after: float | None = None, snapshot_every: int | None = None
    ) -> Cluster:
        try:
            for peer in self.peers:
                peer.start(self.members, replace_after=replace_after, snapshot_every=snapshot_every)
            for peer in self.peers:
                peer.wait_up()
            self.wait_leader()
        except BaseException:
            self.stop()  # no peer outlives a start that failed
            raise
        return self

    def alive(self) -> list[PeerProcess]:
        return [p for p in self.peers if p.alive]

    def wait_leader(
        self, among: list[PeerProcess] | None = None, deadline: float = 20.0
    ) -> PeerProcess:
        group = among or self.alive()

        def agreed() -> PeerProcess | None:
            views = [p.status() for p in group]
            leaders = {v["leader"] for v in views}
            if len(leaders) != 1 or None in leaders:
                return None
            (leader,) = leaders
            return next((p for p in group if p.address == leader and p.alive), None)

        return wait_for("the peers to agree on a leader", agreed, deadline)

    def wait_applied(self, group: list[PeerProcess] | None = None, deadline: float = 20.0) -> None:
        """Until every peer of ``group`` has applied the same commit index."""
        group = group or self.alive()

        def same() -> bool:
            views = [p.status() for p in group]
            applied = {v["last_applied"] for v in views}
            commits = {v["commit_index"] for v in views}
            return len(applied) == 1 and applied == commits

        wait_for("the replicas to apply the same log", same, deadline)

    def stop(self) -> None:
        for peer in self.peers:
            peer.stop()


class Bidder:
    """An account with a registered key, its session on one peer, and signed bids."""

    def __init__(self, url: str, name: str) -> None:
        self.name = name
        self.url = url  # the peer it was made through
        self.key = SigningKey.generate()
        self.nonce = 0
        body = {
            "name": name,
            "password": PASSWORD,
            "public_key": self.key.verify_key.encode().hex(),
        }
        r = httpx.post(f"{url}/api/v1/accounts", json=body, timeout=15)
        assert r.status_code == 201, r.text
        r = httpx.post(
            f"{url}/api/v1/sessions", json={"name": name, "password": PASSWORD}, timeout=15
        )
        assert r.status_code == 201, r.text
        self.headers = {"Authorization": f"Bearer {r.json()['token']}"}

    def signed(self, auction: str, amount: int) -> dict[str, Any]:
        self.nonce += 1
        ts = time.time()
        message = bid_message(auction, self.name, amount, self.nonce, ts, None)
        return {
            "amount": amount,
            "nonce": self.nonce,
            "ts": ts,
            "signature": sign(self.key, message),
        }

    def bid(self, url: str, auction: str, amount: int, timeout: float = 15.0) -> httpx.Response:
        return httpx.post(
            f"{url}/api/v1/auctions/{auction}/bids",
            json=self.signed(auction, amount),
            headers=self.headers,
            timeout=timeout,
        )

    def create_auction(self, url: str, rules: dict[str, Any], method: str = "english") -> str:
        body = {"item": {"name": "vase"}, "method": method, "rules": rules}
        r = httpx.post(f"{url}/api/v1/auctions", json=body, headers=self.headers, timeout=15)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])
