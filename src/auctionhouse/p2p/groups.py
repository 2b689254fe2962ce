"""A ring peer: one process in many replica groups, all behind one TLS port.

``auctionhouse peer --ring`` runs a ``RingPeer``. The peers form a ring (``ring``); each peer
anchors one replica group made of it and its ``group_size - 1`` successors, so N peers run N
groups of 3 (or 5), and a peer is a member of about ``group_size`` of them. Each group is one
pysyncobj cluster (a ``peer.Peer`` with its own journal, snapshot and house in
``groups/<gid>/``) carrying many auctions. One more group, ``dir``, replicates the
``directory.DirectoryMachine``: the peers, the groups, where each auction lives, and the log of
identity commands.

- **Tunnels**: node names are ``GROUP@HOST:PORT``; a tunnel names its group after the TLS
  handshake, so one peer port serves every group the peer is in (and ``rpc``, the peer's own
  requests below).
- **Placement**: a new auction gets its id and group from the directory (``place``), chosen by
  hashing the id, then fixed; its commands go to that group only.
- **Identity** (accounts, sessions, keys): applied by the directory first (the authority: a
  name taken is refused there, once), numbered, then copied by each group's leader into its
  group in that order (``HouseMachine._identity``). The proposer answers once every group has
  applied it (or after ``write_timeout``: it is durable in the directory and will arrive); a
  bid whose key is not yet in its group waits for the group to catch up.
- **Any peer serves**: a request about an auction of a group this peer is not in runs on a
  member over the peer channel (``forward.RingForwarder``, ``channel``: the client's address
  goes with it); one that it is in runs on that group's house (``current_group``); writes go
  to the group's leader through Raft. A WebSocket is relayed per group (``wsrelay``), photos
  are brought to the group of the auction that names them (``ring_photos``).
- **Membership**: a joining peer asks a member to ``join`` it in the directory; every peer
  then computes the new plan. A peer starts its node of each group it is now in (a group that
  exists already adds it with the library's own ``add`` command, asked by the newcomer); the
  group's leader removes the member that left the plan (the library's ``remove``) once every
  member of the plan is connected and caught up, one member at a time. A peer out of a group
  stops its node once the group no longer counts it. Auctions stay in their groups.
- **RPC** (JSON lines over the tunnel, members only): ``directory`` (a page of it), ``propose``
  (a command for a group this peer is in), ``wait_identity``, ``join``. The tunnel's other
  names: ``asgi`` (``channel``), ``photo`` and ``photo@GID`` (``ring_photos``, ``photos``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from auctionhouse.errors import (
    AuctionhouseError,
    ConfigError,
    InvalidRequest,
    LedgerError,
    NoQuorum,
    NotFound,
)
from auctionhouse.house import AuctionHouse, HouseConfig
from auctionhouse.house.verifier import BatchVerifier
from auctionhouse.p2p import ring
from auctionhouse.p2p.channel import CHANNEL
from auctionhouse.p2p.channel import serve as serve_channel
from auctionhouse.p2p.codec import error_result, raise_error
from auctionhouse.p2p.directory import IDENTITY_OPS, DirectoryMachine
from auctionhouse.p2p.machine import MARKET_OPS, HouseMachine
from auctionhouse.p2p.peer import Peer, PeerConfig, RaftTiming
from auctionhouse.p2p.ring_photos import CHANNEL as PHOTO_CHANNEL
from auctionhouse.p2p.ring_photos import RingPhotos
from auctionhouse.p2p.tls import RPC_GROUP, PeerFiles, Tunnels

log = logging.getLogger("auctionhouse.p2p")

# The group whose house a request is about (set by forward.RingForwarder); None: any.
current_group: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_group", default=None
)
UPKEEP_SECONDS = 0.25  # membership, directory refresh and identity copying look this often
DIRECTORY_PAGE = 5000  # auctions placed / identity commands sent per directory request
RPC_SECONDS = 10.0
START_SECONDS = 120.0
PING_SECONDS = 1.0  # the directory's leader looks for unreachable peers this often
AUCTION_OPS = frozenset({"place_bid", "cancel_auction", "pause_auction", "resume_auction"})


@dataclass(frozen=True, slots=True)
class RingConfig:
    data: Path
    address: str  # this peer's TLS address HOST:PORT (its name on the ring)
    api_url: str  # this peer's API base URL, given to other peers for forwarding
    seeds: tuple[str, ...]  # peer addresses given with --join (the founders, if founding)
    house: HouseConfig = field(default_factory=HouseConfig)
    timing: RaftTiming = field(default_factory=RaftTiming)
    group_size: int = 3
    write_timeout: float = 5.0
    replace_after: float = 30.0  # a peer unreachable this long leaves the ring (dir leader)


class DirectoryView:
    """This peer's copy of the directory (read from its own ``dir`` replica, or fetched)."""

    def __init__(self) -> None:
        self.version = -1
        self.size = 0
        self.peers: list[str] = []
        self.apis: dict[str, str] = {}
        self.founders: dict[str, list[str]] = {}
        self.groups: dict[str, list[str]] = {}
        self.where: dict[str, str] = {}
        self.placed_count = 0
        # The directory's identity commands this peer still needs: seqs ``identity_base + 1``
        # on (``trim`` drops those every group this peer holds has applied).
        self.identity: list[dict[str, Any]] = []
        self.identity_base = 0

    def merge(self, view: dict[str, Any]) -> None:
        self.version = int(view["version"])
        self.size = int(view["size"])
        self.peers = list(view["peers"])
        self.apis = dict(view["apis"])
        self.founders = {k: list(v) for k, v in view["founders"].items()}
        self.groups = {k: list(v) for k, v in view["groups"].items()}
        if view["placed_from"] == self.placed_count:
            for aid, gid in view["placed"]:
                self.where[aid] = gid
            self.placed_count += len(view["placed"])
        for entry in view["identity"]:
            if entry["seq"] == self.identity_count + 1:
                self.identity.append(entry)

    @property
    def identity_count(self) -> int:
        """How many identity commands the directory has numbered, as far as this copy knows."""
        return self.identity_base + len(self.identity)

    def identity_after(self, seq: int, count: int) -> list[dict[str, Any]] | None:
        """Up to ``count`` identity commands after number ``seq``; None when some of them
        were trimmed here (ask the directory)."""
        if seq < self.identity_base:
            return None
        start = seq - self.identity_base
        return self.identity[start : start + count]

    def trim(self, upto: int) -> None:
        """Forget the identity commands up to number ``upto`` (every group here applied them:
        a peer's copy stays as short as its slowest group's lag, not the whole history)."""
        drop = min(upto, self.identity_count) - self.identity_base
        if drop > 0:
            del self.identity[:drop]
            self.identity_base += drop

    @property
    def founded(self) -> bool:
        return self.version >= 0 and bool(self.peers)

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "size": self.size,
            "peers": self.peers,
            "apis": self.apis,
            "groups": self.groups,
            "auctions": len(self.where),
            "identity_commands": self.identity_count,
            "identity_kept": len(self.identity),
        }


class RingPeer:
    """The peer process's replicas: its nodes of the groups it is in, and the directory."""

    def __init__(self, config: RingConfig) -> None:
        self.config = config
        self.files = PeerFiles.in_dir(config.data)
        self.files.check()
        self.tunnels: Tunnels | None = None
        # The peer's one signature worker, shared by its groups' nodes (p2p/preverify.py).
        self.verifier: BatchVerifier | None = None
        self.nodes: dict[str, Peer] = {}
        self.directory = DirectoryView()
        self._stopped = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pumping: set[str] = set()
        self._changing: dict[str, float] = {}  # gid -> loop time a membership change began
        self._identity_changed = asyncio.Event()
        self._refreshing: asyncio.Task[None] | None = None
        self.forwarded = 0
        self.joined_ring = False
        self._all = RingHouse(self)
        self._kept = b""
        self._unreachable: dict[str, float] = {}  # peer -> monotonic time first seen down
        # The peer's whole app (p2p/run.py): what a member's forwarded request runs on here.
        self.app: Any = None
        self.photos = RingPhotos(self)
        self._pinged = 0.0

    # ------------------------------------------------------------------ the faces' view

    def _node_for(self, gid: str | None) -> Peer | None:
        if gid is not None:
            node = self.nodes.get(gid)
            if node is not None and node.syncobj is not None:
                return node
        for name in sorted(self.nodes):
            node = self.nodes[name]
            if name != ring.DIRECTORY and node.syncobj is not None:
                return node
        node = self.nodes.get(ring.DIRECTORY)
        return node if node is not None and node.syncobj is not None else None

    @property
    def machine(self) -> HouseMachine:
        """The replica of the request's group (``current_group``), else of any group here."""
        node = self._node_for(current_group.get())
        if node is None:
            raise NoQuorum("this peer holds no replica yet; retry in a moment")
        return node.machine

    @property
    def house(self) -> AuctionHouse:
        """The request's group's replica (``current_group``); without one, a view over all
        the replicas of this peer (``RingHouse``: the WebSocket hub's, for instance)."""
        gid = current_group.get()
        if gid is not None and self.holds(gid):
            return self.nodes[gid].machine.house
        return self._all  # type: ignore[return-value]

    @property
    def pending(self) -> int:
        return sum(node.pending for node in self.nodes.values())

    def holds(self, gid: str) -> bool:
        node = self.nodes.get(gid)
        return node is not None and node.syncobj is not None

    # ------------------------------------------------------------------ start, stop

    async def start(self) -> None:
        from auctionhouse.p2p.codec import install_restricted_unpickler
        from auctionhouse.p2p.peer import parse_address
        from auctionhouse.p2p.poller import install_epoll_poller

        install_restricted_unpickler()
        install_epoll_poller()
        cfg = self.config
        host, port = parse_address(cfg.address)
        self.tunnels = Tunnels(self.files, None)
        self.tunnels.on_rpc = self._serve_rpc
        self.tunnels.channels[CHANNEL] = self._serve_channel
        self.tunnels.channels[PHOTO_CHANNEL] = self.photos.serve
        self.verifier = BatchVerifier(cfg.house.verify_workers)
        await self.tunnels.listen(host, port)
        await self._enter_ring()
        # The faces need a replica at start (the WebSocket hub subscribes to one): start the
        # nodes of this peer's groups now, waiting (bounded) for a group to take us in.
        deadline = time.monotonic() + START_SECONDS
        while self._node_for(None) is None:
            if time.monotonic() > deadline:
                raise NoQuorum("no replica group took this peer in; are its seeds up?")
            await self.refresh_directory()
            await self._reconcile()
            if self._node_for(None) is None:
                await asyncio.sleep(UPKEEP_SECONDS)
        self._spawn(self._upkeep(), "ring-upkeep")
        log.info("ring peer %s started", cfg.address)

    async def _enter_ring(self) -> None:
        """Found the ring with the seeds, or join the one they are in, or (a restart) take the
        directory a seed has, or the one kept in ``ring.json`` when no seed answers."""
        cfg = self.config
        others = [s for s in cfg.seeds if s != cfg.address]
        for seed in others:
            try:
                view = await self.rpc(seed, {"t": "directory"}, timeout=3.0)
            except (AuctionhouseError, OSError, TimeoutError) as exc:
                log.info("seed %s gave no directory: %s", seed, exc)
                continue
            self.directory.merge(view)
            if cfg.address not in self.directory.peers:
                # A newcomer (or a peer the ring took out while it was down) starts empty:
                # replicas it kept are stale and each group it lands in sends it the state.
                shutil.rmtree(cfg.data / "groups", ignore_errors=True)
                await self._join_via(seed)
            self.joined_ring = True
            return
        kept = cfg.data / "ring.json"
        if kept.is_file():
            self.directory.merge(orjson.loads(kept.read_bytes()))
            self.joined_ring = True
            return
        # Nobody answers and nothing kept: found the ring with the seeds (all founders are
        # given the same list). The plan is computed here as the directory will compute it.
        founders = ring.ring({cfg.address, *cfg.seeds})
        plan = {
            ring.group_id(p): ring.members(ring.group_id(p), founders, cfg.group_size)
            for p in founders
        }
        plan[ring.DIRECTORY] = ring.members(ring.DIRECTORY, founders, cfg.group_size)
        self.directory.size = cfg.group_size
        self.directory.peers = founders
        self.directory.founders = {k: list(v) for k, v in plan.items()}
        self.directory.groups = plan
        self.directory.version = 0
        self.joined_ring = True
        if cfg.address in plan[ring.DIRECTORY]:
            await self._start_node(ring.DIRECTORY)
            self._spawn(self._found(founders), "ring-found")

    async def _found(self, founders: list[str]) -> None:
        deadline = time.monotonic() + 120
        while not self._stopped and time.monotonic() < deadline:
            try:
                await self.propose_in(
                    ring.DIRECTORY, "found", {"peers": founders, "size": self.config.group_size}
                )
                return
            except AuctionhouseError as exc:
                log.info("founding the ring: %s", exc.message)
                await asyncio.sleep(0.5)

    async def _join_via(self, seed: str) -> None:
        answer = await self.rpc(seed, {"t": "join", "peer": self.config.address}, timeout=20.0)
        self.directory.merge(answer)
        log.info("joined the ring through %s", seed)

    async def stop(self) -> None:
        self._stopped = True
        for task in list(self._tasks):
            task.cancel()
        for node in list(self.nodes.values()):
            with contextlib.suppress(Exception):
                await node.stop()
        if self.tunnels is not None:
            await asyncio.wait_for(self.tunnels.close(), timeout=5)
        if self.verifier is not None:
            await self.verifier.close()

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------ nodes

    def _name(self, gid: str, address: str) -> str:
        return f"{gid}@{address}"

    def _group_dir(self, gid: str) -> Path:
        return self.config.data / "groups" / gid

    async def _start_node(self, gid: str) -> None:
        """Start this peer's node of group ``gid``: with the founders if this peer is one
        (a founding or a restart: ``Peer._discover`` asks the others for the group as it is
        now), else as a newcomer once a member has told the group's membership."""
        cfg = self.config
        me = cfg.address
        founders = self.directory.founders.get(gid, [])
        target = self.directory.groups.get(gid, [])
        candidates = sorted(set(founders) | set(target))
        if me not in founders and not self._group_dir(gid).is_dir():
            status = await self._probe(gid, [m for m in candidates if m != me])
            if status is None:
                return  # nobody of the group answered yet: try again at the next upkeep
            candidates = sorted(status)
        names = tuple(sorted({self._name(gid, m) for m in candidates} | {self._name(gid, me)}))
        data = self._group_dir(gid)
        data.mkdir(parents=True, exist_ok=True)
        config = PeerConfig(
            data=data,
            peer_address=self._name(gid, me),
            members=names,
            house=cfg.house,
            timing=cfg.timing,
            write_timeout=cfg.write_timeout,
            group_size=cfg.group_size,
            replace_after=float("inf"),  # the ring's plan decides who leaves a group
            group=gid,
        )
        node = Peer(config, tunnels=self.tunnels, files=self.files)
        node.shared_verifier = self.verifier
        if gid == ring.DIRECTORY:
            node.machine_factory = DirectoryMachine
        self.nodes[gid] = node
        try:
            await node.start()
        except Exception:
            self.nodes.pop(gid, None)
            raise
        if gid != ring.DIRECTORY:
            for listener in self._all.listeners:
                node.machine.house.subscribe(listener)  # kept across rebuilds by the machine
        log.info("started the node of group %s (members %s)", gid, ", ".join(candidates))

    async def _probe(self, gid: str, members: list[str]) -> set[str] | None:
        """The peer addresses of group ``gid``'s members, as the first member to answer its
        status says; ``None`` if none answers."""
        from pysyncobj.utility import TcpUtility, UtilityException

        assert self.tunnels is not None
        loop = asyncio.get_running_loop()
        for member in members:
            port = await self.tunnels.outbound(self._name(gid, member))
            utility = TcpUtility(self.files.password(), timeout=2.0)
            try:
                status = await loop.run_in_executor(
                    None, utility.executeCommand, f"127.0.0.1:{port}", ["status"]
                )
            except (UtilityException, OSError):
                continue
            if not isinstance(status, dict) or status.get("self") is None:
                continue
            prefix = "partner_node_status_server_"
            names = {str(status["self"].address)}
            names.update(k[len(prefix) :] for k in status if k.startswith(prefix))
            return {n.split("@", 1)[1] for n in names}
        return None

    async def _drop_node(self, gid: str) -> None:
        """Stop this peer's node of a group it left, and delete its replica files."""
        node = self.nodes.pop(gid)
        await node.stop()
        shutil.rmtree(self._group_dir(gid), ignore_errors=True)
        log.info("left group %s: its node stopped and its replica deleted", gid)

    # ------------------------------------------------------------------ upkeep

    async def _upkeep(self) -> None:
        refreshed = 0.0
        while not self._stopped:
            await asyncio.sleep(UPKEEP_SECONDS)
            try:
                now = time.monotonic()
                if now - refreshed >= 0.5 or not self.directory.founded:
                    await self.refresh_directory()
                    refreshed = now
                await self._reconcile()
                self._trim_identity()
            except Exception:
                log.exception("ring upkeep failed")

    async def refresh_directory(self) -> None:
        """Bring this peer's copy of the directory up to date (one refresh at a time)."""
        if self._refreshing is not None and not self._refreshing.done():
            await asyncio.shield(self._refreshing)
            return
        self._refreshing = asyncio.get_running_loop().create_task(self._refresh())
        await asyncio.shield(self._refreshing)

    async def _refresh(self) -> None:
        before = self.directory.identity_count
        for _ in range(50):  # pages; bounded
            request = {
                "t": "directory",
                "placed_from": self.directory.placed_count,
                "identity_from": self.directory.identity_count,
            }
            view = await self._directory_page(request)
            if view is None:
                return
            self.directory.merge(view)
            if (
                self.directory.placed_count >= view["placed_count"]
                and self.directory.identity_count >= view["identity_count"]
            ):
                break
        if self.directory.identity_count != before:
            self._identity_changed.set()
            self._identity_changed = asyncio.Event()
        kept_view = orjson.dumps(self._kept_view())
        if kept_view != self._kept:  # for a full restart with no seed up
            with contextlib.suppress(OSError):
                kept = self.config.data / "ring.json"
                tmp = kept.with_suffix(".tmp")
                tmp.write_bytes(kept_view)
                tmp.replace(kept)
                self._kept = kept_view

    def _kept_view(self) -> dict[str, Any]:
        d = self.directory
        return {
            "version": d.version,
            "size": d.size,
            "peers": d.peers,
            "apis": d.apis,
            "founders": d.founders,
            "groups": d.groups,
            "placed_from": 0,
            "placed": [],
            "identity": [],
        }

    async def _directory_page(self, request: dict[str, Any]) -> dict[str, Any] | None:
        node = self.nodes.get(ring.DIRECTORY)
        if node is not None and node.syncobj is not None:
            machine = node.machine
            if isinstance(machine, DirectoryMachine) and machine.peers:
                return self._serve_directory(request)
        for member in self.directory.groups.get(ring.DIRECTORY, []) or self.config.seeds:
            if member == self.config.address:
                continue
            try:
                page: dict[str, Any] = await self.rpc(member, request, timeout=3.0)
                return page
            except (AuctionhouseError, OSError, TimeoutError):
                continue
        return None

    def _serve_directory(self, request: dict[str, Any]) -> dict[str, Any]:
        node = self.nodes.get(ring.DIRECTORY)
        if node is None or node.syncobj is None:
            raise NotFound("this peer holds no replica of the directory")
        machine = node.machine
        assert isinstance(machine, DirectoryMachine)
        if not machine.peers:
            raise NoQuorum("the ring is not founded yet")
        placed_from = int(request.get("placed_from", 0))
        identity_from = int(request.get("identity_from", 0))
        view = machine.view(placed_from, identity_from)
        view["placed"] = view["placed"][:DIRECTORY_PAGE]
        view["identity"] = view["identity"][:DIRECTORY_PAGE]
        return view

    async def _reconcile(self) -> None:
        d = self.directory
        if not d.founded:
            return
        me = self.config.address
        mine = {gid for gid, members in d.groups.items() if me in members}
        starting = sorted(mine - set(self.nodes))
        if starting:  # at once: each start may wait seconds on the group's members
            results = await asyncio.gather(
                *(self._start_node(gid) for gid in starting), return_exceptions=True
            )
            for gid, result in zip(starting, results, strict=True):
                if isinstance(result, Exception):
                    log.warning("could not start the node of group %s: %s", gid, result)
        for gid in sorted(set(self.nodes) - mine):
            await self._leave_group(gid)
        for gid, node in list(self.nodes.items()):
            so = node.syncobj
            if so is None or not so._isLeader() or gid not in mine:
                continue
            self._change_membership(gid, node, d.groups[gid])
            if gid != ring.DIRECTORY and gid not in self._pumping:
                self._pumping.add(gid)
                self._spawn(self._pump_identity(gid, node), f"identity-{gid}")
        directory = self.nodes.get(ring.DIRECTORY)
        so = directory.syncobj if directory is not None else None
        if so is not None and so._isLeader() and time.monotonic() - self._pinged >= PING_SECONDS:
            self._pinged = time.monotonic()
            self._spawn(self._replace_dead(), "ring-replace-dead")
        if me in d.peers and d.apis.get(me) != self.config.api_url:
            with contextlib.suppress(AuctionhouseError):
                await self.propose_in(
                    ring.DIRECTORY, "api", {"peer": me, "url": self.config.api_url}
                )

    async def _replace_dead(self) -> None:
        """As the directory's leader: a peer that has not answered for ``replace_after``
        seconds leaves the ring (while at least ``group_size`` peers stay), so each group it
        was in takes the next peer round the ring in its place."""
        now = time.monotonic()
        d = self.directory
        others = [p for p in d.peers if p != self.config.address]

        async def ping(peer: str) -> tuple[str, bool]:
            try:
                await self.rpc(peer, {"t": "ping"}, timeout=2.0)
                return peer, True
            except (AuctionhouseError, OSError, TimeoutError):
                return peer, False

        for peer, up in await asyncio.gather(*(ping(p) for p in others)):
            if up:
                self._unreachable.pop(peer, None)
                continue
            since = self._unreachable.setdefault(peer, now)
            if now - since < self.config.replace_after or len(d.peers) <= d.size:
                continue
            log.warning("peer %s unreachable for %.0f s: it leaves the ring", peer, now - since)
            try:
                await self.propose_in(ring.DIRECTORY, "leave", {"peer": peer})
                self._unreachable.pop(peer, None)
            except AuctionhouseError as exc:
                log.info("could not remove %s from the ring: %s", peer, exc.message)
            return  # one peer at a time

    async def _leave_group(self, gid: str) -> None:
        """This peer is no longer in group ``gid``'s plan: stop its node once the group does
        not count it (its leader removed it). A leader cannot remove itself in pysyncobj: a
        leader out of the plan stops its node once the plan's members are all in the group
        and caught up; the next leader removes it."""
        node = self.nodes[gid]
        so = node.syncobj
        target = self.directory.groups.get(gid, [])
        if so is not None and so._isLeader():
            if self._plan_ready(node, target):
                log.info("leading group %s, which no longer has us: stepping out", gid)
                await self._drop_node(gid)
            return
        status = await self._probe(gid, [m for m in target if m != self.config.address])
        if status is not None and self.config.address not in status:
            await self._drop_node(gid)

    def _plan_ready(self, node: Peer, target: list[str]) -> bool:
        """Every member of ``target`` is in the group, connected to its leader (this node)
        and has the log up to the leader's commit index."""
        so = node.syncobj
        assert so is not None
        status = so.getStatus()
        commit = status.get("commit_idx", 0)
        others = {n.address.split("@", 1)[1]: n for n in so.otherNodes}
        for member in target:
            if member == self.config.address:
                continue
            n = others.get(member)
            if n is None or not so.isNodeConnected(n):
                return False
            if status.get(f"match_idx_server_{n.id}", 0) < commit:
                return False
        return True

    def _change_membership(self, gid: str, node: Peer, target: list[str]) -> None:
        """As the group's leader: remove one member the plan no longer has, once the plan's
        members are all in and caught up (adds are asked by the newcomers themselves)."""
        so = node.syncobj
        assert so is not None
        loop_time = asyncio.get_running_loop().time()
        if loop_time - self._changing.get(gid, -1e9) < 5.0:
            return  # one change at a time: the previous one is still being committed
        current = [self.config.address, *(n.address.split("@", 1)[1] for n in so.otherNodes)]
        change = ring.next_change(current, target)
        if change is None or change[0] != "remove":
            return
        if change[1] == self.config.address or not self._plan_ready(node, target):
            return
        name = self._name(gid, change[1])
        self._changing[gid] = loop_time

        def done(result: Any, err: Any) -> None:
            self._changing.pop(gid, None)
            log.info("group %s: removed %s (%s)", gid, name, err)

        log.info("group %s: removing %s, no longer in its plan", gid, change[1])
        so.removeNodeFromCluster(name, callback=done)

    async def _identity_page(self, after: int) -> list[dict[str, Any]]:
        """Identity commands after number ``after``, asked of the directory (this peer's copy
        trimmed them); [] when the directory does not answer."""
        request = {
            "t": "directory",
            "placed_from": self.directory.placed_count,
            "identity_from": after,
        }
        view = await self._directory_page(request)
        return list(view["identity"]) if view is not None else []

    def _trim_identity(self) -> None:
        """Drop the identity commands every group this peer holds has applied."""
        applied = [
            node.machine.identity_seq
            for gid, node in self.nodes.items()
            if gid != ring.DIRECTORY and node.syncobj is not None
        ]
        if applied:
            self.directory.trim(min(applied))

    async def _pump_identity(self, gid: str, node: Peer) -> None:
        """As group ``gid``'s leader, copy the directory's identity commands into the group,
        in order, each once (the group skips a number it has applied)."""
        try:
            while not self._stopped and node.syncobj is not None and node.syncobj._isLeader():
                done = node.machine.identity_seq
                entries = self.directory.identity_after(done, 200)
                if entries is None:  # trimmed here: the directory has them
                    entries = await self._identity_page(done)
                if not entries:
                    changed = self._identity_changed
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), 0.5)
                    continue
                for entry in entries:
                    try:
                        await node.propose("identity", entry)
                    except AuctionhouseError as exc:
                        log.info("group %s: identity %s not copied: %s", gid, entry["seq"], exc)
                        await asyncio.sleep(0.2)
                        break
        finally:
            self._pumping.discard(gid)

    # ------------------------------------------------------------------ writes

    async def propose(self, op: str, args: dict[str, Any]) -> Any:
        """Replicate a write of the faces (``service.ReplicatedService``) in the right group:
        identity commands through the directory to every group, a new auction in the group
        the directory places it in, an auction's command in its group."""
        if op in IDENTITY_OPS:
            return await self._identity(op, args)
        if op == "create_auction":
            placed = await self.propose_in(ring.DIRECTORY, "place", {})
            self.directory.where[placed["id"]] = placed["group"]
            # Photos it names are brought to its group first (p2p/ring_photos.py).
            await self.photos.into_group(
                placed["group"], str(args.get("seller_id")), args.get("photos")
            )
            return await self.propose_in(placed["group"], op, {**args, "auction_id": placed["id"]})
        if op == "tick":
            gid = current_group.get()
            if gid is None:
                raise LedgerError("a close is proposed for one group")
            return await self.propose_in(gid, op, args)
        if op in MARKET_OPS:  # a market has no group on a ring yet (docs/peers.md)
            raise InvalidRequest(
                "double-auction markets are not replicated on a ring peer yet:"
                " run them on peers started without --ring"
            )
        if op in AUCTION_OPS:
            gid = await self.group_of(str(args["auction_id"]))
            if op == "place_bid":
                await self.identity_settled(gid, str(args.get("bidder_id")))
            return await self.propose_in(gid, op, args)
        raise LedgerError(f"no replicated operation {op!r} on a ring peer")

    async def group_of(self, auction_id: str) -> str:
        """The group of an auction; raises NotFound (no such auction in the directory)."""
        gid = self.directory.where.get(auction_id)
        if gid is None:
            await self.refresh_directory()
            gid = self.directory.where.get(auction_id)
        if gid is None:
            raise NotFound(f"no auction {auction_id}")
        return gid

    async def propose_in(self, gid: str, op: str, args: dict[str, Any]) -> Any:
        """Propose ``op`` in group ``gid``: through this peer's node if it has one, else to a
        member's (``propose`` RPC). Raises the command's error, or NoQuorum."""
        node = self.nodes.get(gid)
        if node is not None and node.syncobj is not None:
            return await node.propose(op, args)
        members = [m for m in self.directory.groups.get(gid, []) if m != self.config.address]
        if not members and gid == ring.DIRECTORY:
            members = [s for s in self.config.seeds if s != self.config.address]
        last: Exception | None = None
        for member in members:
            try:
                self.forwarded += 1
                return await self.rpc(
                    member, {"t": "propose", "group": gid, "op": op, "args": args}
                )
            except (OSError, TimeoutError, NotFound) as exc:  # unreachable, or not a member
                last = exc
        raise NoQuorum(f"no member of group {gid} answered ({last}); retry later")

    async def _identity(self, op: str, args: dict[str, Any]) -> Any:
        """Apply an identity command in the directory (which numbers it), copy it to every
        group at once (a group that lacks an earlier one refuses it: its leader's copying
        fills the gap), and answer once all have it, or after ``write_timeout``."""
        answer = await self.propose_in(ring.DIRECTORY, op, args)
        seq = int(answer["seq"])
        entry = {"seq": seq, "op": op, "args": args}
        deadline = time.monotonic() + self.config.write_timeout
        gids = [gid for gid in self.directory.groups if gid != ring.DIRECTORY]
        await asyncio.gather(
            *(self.propose_in(gid, "identity", entry) for gid in gids), return_exceptions=True
        )
        await asyncio.gather(
            *(self._wait_group(gid, seq, deadline) for gid in gids), return_exceptions=True
        )
        return answer["result"]

    async def _wait_group(self, gid: str, seq: int, deadline: float) -> None:
        """Until group ``gid`` has applied identity command ``seq`` (or the deadline)."""
        node = self.nodes.get(gid)
        if node is None or node.syncobj is None:
            timeout = max(0.1, deadline - time.monotonic())
            for member in self.directory.groups.get(gid, []):
                if member == self.config.address:
                    continue
                with contextlib.suppress(AuctionhouseError, OSError, TimeoutError):
                    request = {"t": "wait_identity", "group": gid, "seq": seq, "timeout": timeout}
                    await self.rpc(member, request, timeout=timeout + 2)
                    return
            return
        while node.machine.identity_seq < seq and time.monotonic() < deadline:
            if self.directory.identity_count < seq:
                await self.refresh_directory()
            await asyncio.sleep(0.02)  # the group's leader copies it; bounded by the deadline

    async def identity_settled(self, gid: str, account_id: str) -> None:
        """Before proposing a bid in ``gid``: if the bidder is unknown there, wait (up to
        ``write_timeout``) until the group has every identity command the directory has."""
        node = self.nodes.get(gid)
        if node is None or node.syncobj is None:
            return
        if node.machine.house.accounts.exists(account_id):
            return
        await self.refresh_directory()
        deadline = time.monotonic() + self.config.write_timeout
        await self._wait_group(gid, self.directory.identity_count, deadline)

    async def key_settled(self, gid: str) -> None:
        """Wait (up to ``write_timeout``) until group ``gid`` holds every identity command
        the directory has (a key registered a moment ago through another peer)."""
        await self.refresh_directory()
        deadline = time.monotonic() + self.config.write_timeout
        await self._wait_group(gid, self.directory.identity_count, deadline)

    # ------------------------------------------------------------------ RPC

    async def rpc(self, address: str, request: dict[str, Any], timeout: float = RPC_SECONDS) -> Any:
        """One request to the peer at ``address`` over the TLS tunnel (JSON lines); returns
        its ``ok`` value or raises its error. Raises OSError/TimeoutError if unreachable."""
        assert self.tunnels is not None
        return await ask_peer(self.tunnels, address, request, timeout)

    async def _serve_channel(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str
    ) -> None:
        """A member runs a client's request here (``channel``: forwarding, WebSocket relay)."""
        if self.app is None:
            writer.close()
            return
        await serve_channel(self.app, reader, writer, name)

    async def _serve_rpc(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str
    ) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), RPC_SECONDS)
            request = orjson.loads(line)
            if not isinstance(request, dict):
                raise ConfigError("an RPC request is an object")
            answer: dict[str, Any] = {"ok": await self._answer(request)}
        except AuctionhouseError as exc:
            answer = error_result(exc)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            answer = error_result(ConfigError(f"a malformed peer request: {exc}"))
        except (OSError, TimeoutError):
            writer.close()
            return
        with contextlib.suppress(OSError):
            writer.write(orjson.dumps(answer, default=_jsonable) + b"\n")
            await writer.drain()
        writer.close()

    async def _answer(self, request: dict[str, Any]) -> Any:
        kind = request.get("t")
        if kind == "directory":
            if ring.DIRECTORY in self.nodes:
                return self._serve_directory(request)
            if not self.directory.founded or request.get("hop"):
                raise NotFound("this peer holds no replica of the directory")
            # asked a peer outside the directory group (a newcomer's seed): one hop on
            page = await self._directory_page(request | {"hop": 1})
            if page is None:
                raise NoQuorum("no member of the directory answered; retry later")
            return page
        if kind == "propose":
            gid = str(request["group"])
            node = self.nodes.get(gid)
            if node is None or node.syncobj is None:
                raise NotFound(f"this peer is not in group {gid}")
            op = str(request["op"])
            args = dict(request["args"])
            if op == "place_bid":
                await self.identity_settled(gid, str(args.get("bidder_id")))
            return await node.propose(op, args)
        if kind == "join":
            peer = str(request["peer"])
            await self.propose_in(ring.DIRECTORY, "join", {"peer": peer})
            await self.refresh_directory()
            return self._kept_view() | {"placed": [], "identity": []}
        if kind == "leave":  # ``auctionhouse peer-leave``: a planned leave
            await self.propose_in(ring.DIRECTORY, "leave", {"peer": str(request["peer"])})
            await self.refresh_directory()
            return self.directory.as_json()
        if kind == "ping":
            return self.config.address
        if kind == "wait_identity":
            gid = str(request["group"])
            deadline = time.monotonic() + min(float(request["timeout"]), RPC_SECONDS)
            await self._wait_group(gid, int(request["seq"]), deadline)
            return None
        raise ConfigError(f"no peer request {kind!r}")

    # ------------------------------------------------------------------ status

    def status(self) -> dict[str, Any]:
        groups = {}
        for gid, node in sorted(self.nodes.items()):
            view = node.status()
            view["auctions"] = (
                len(node.machine.house.auction_ids()) if node.syncobj is not None else 0
            )
            view["identity_seq"] = node.machine.identity_seq if node.syncobj is not None else 0
            view["members"] = [m.split("@", 1)[1] for m in view.get("members", [])]
            if view.get("leader"):
                view["leader"] = str(view["leader"]).split("@", 1)[1]
            groups[gid] = view
        return {
            "self": self.config.address,
            "ring": True,
            "directory": self.directory.as_json(),
            "groups": groups,
            "forwarded": self.forwarded,
            "photos_brought": self.photos.brought,
            "refused_connections": self.tunnels.refused if self.tunnels else 0,
        }


async def ask_peer(
    tunnels: Tunnels, address: str, request: dict[str, Any], timeout: float = RPC_SECONDS
) -> Any:
    """One RPC to the ring peer at ``address`` over a TLS tunnel (JSON lines); returns its
    ``ok`` value or raises its error. Raises OSError/TimeoutError if it cannot be reached."""
    reader, writer = await tunnels.connect(address, RPC_GROUP)
    try:
        writer.write(orjson.dumps(request) + b"\n")
        line = await asyncio.wait_for(reader.readline(), timeout)
    finally:
        writer.close()
    if not line:
        raise ConnectionError(f"{address} closed the connection")
    answer = orjson.loads(line)
    raise_error(answer)
    return answer["ok"]


def leave_ring(data: Path, peer: str, via: str) -> dict[str, Any]:
    """Take the peer ``peer`` out of the ring (a planned leave), asking the member at ``via``
    with the identity in ``data`` (a peer's key and certificate: only members may ask). Its
    groups take the next peers round the ring; stop the peer once ``GET /api/v1/peer`` shows
    it in no group. Raises ConfigError (no such peer, or the ring would fall below the group
    size), NoQuorum, OSError (``via`` unreachable)."""
    files = PeerFiles.in_dir(data)
    files.check()

    async def ask() -> dict[str, Any]:
        tunnels = Tunnels(files, None)
        try:
            return dict(await ask_peer(tunnels, via, {"t": "leave", "peer": peer}, 30.0))
        except (OSError, TimeoutError) as exc:
            raise NoQuorum(f"cannot reach the peer {via}: {exc or type(exc).__name__}") from None

    return asyncio.run(ask())


class RingHouse:
    """All the auction replicas of one ring peer, seen as one house by code that does not
    know about groups (the WebSocket hub): an auction's reads go to its group's replica here,
    a listener hears every group's events, the rest (accounts, sessions, the clock) is any
    replica's (identity commands reach every group)."""

    def __init__(self, peer: RingPeer) -> None:
        self._peer = peer
        self.listeners: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._peer.machine.house, name)

    def _houses(self) -> list[AuctionHouse]:
        return [
            node.machine.house
            for gid, node in sorted(self._peer.nodes.items())
            if gid != ring.DIRECTORY and node.syncobj is not None
        ]

    def _of(self, auction_id: str) -> AuctionHouse:
        peer = self._peer
        gid = peer.directory.where.get(auction_id)
        if gid is not None and peer.holds(gid):
            return peer.nodes[gid].machine.house
        if gid is None:  # placed a moment ago, and this peer's copy of the directory lags
            for house in self._houses():
                with contextlib.suppress(NotFound):
                    house.state(auction_id)
                    return house
            raise NotFound(f"no auction {auction_id}")
        members = ", ".join(peer.directory.apis.get(m, m) for m in peer.directory.groups[gid])
        raise NotFound(
            f"auction {auction_id} is not replicated on this peer (its group's peers:"
            f" {members}); a WebSocket reaches it through the relay (p2p/wsrelay.py)"
        )

    def auction_ids(self) -> list[str]:
        return [aid for house in self._houses() for aid in house.auction_ids()]

    def state(self, auction_id: str) -> Any:
        return self._of(auction_id).state(auction_id)

    def view(self, auction_id: str, viewer: str | None = None) -> dict[str, Any]:
        return self._of(auction_id).view(auction_id, viewer)

    def events(self, auction_id: str, *args: Any, **kwargs: Any) -> Any:
        return self._of(auction_id).events(auction_id, *args, **kwargs)

    def outcome(self, auction_id: str) -> Any:
        return self._of(auction_id).outcome(auction_id)

    def photo(self, digest: str, *, thumbnail: bool = False) -> tuple[bytes, str]:
        """A photo through this peer, whichever group holds it (p2p/ring_photos.py)."""
        return self._peer.photos.read(digest, thumbnail=thumbnail)

    def subscribe(self, listener: Any) -> Any:
        """Hear the events of every group this peer holds now or later."""
        self.listeners.append(listener)
        stops = [house.subscribe(listener) for house in self._houses()]

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self.listeners.remove(listener)
            for stop in stops:
                stop()

        return unsubscribe


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return str(value)
