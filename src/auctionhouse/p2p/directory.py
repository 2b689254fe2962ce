"""The replicated directory of a ring of peers (p2p/groups.py): who the peers are, which replica
groups exist, where each auction lives, and the log of identity commands every group applies.

It is the state machine of one more Raft group (id ``dir``, anchored at ring point 0), built on
``HouseMachine`` so it shares the replicated command's envelope: idempotency keys, the
proposer's time, batching, snapshots of the commands applied, the rebuild on restart. Its house
is the authority for accounts, sessions and keys: an identity command is first applied here
(a name taken, an unknown account are refused here, once), and only then numbered into
``identity``, which every group's leader copies into its group in that order
(``HouseMachine._identity``), so all groups hold the same accounts and keys.

Commands (``op``): ``found`` (the founding peers and the group size, once), ``join``,
``leave``, ``api`` (a peer's public API address), ``place`` (a new auction's id and group), and
the identity commands of ``machine.HouseMachine`` (``account``, ``session``, ``logout``,
``logout_everywhere``, ``password``, ``register_key``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auctionhouse.errors import ConfigError, NotFound
from auctionhouse.house import AuctionHouse
from auctionhouse.p2p import ring
from auctionhouse.p2p.machine import HouseMachine, ReplicaClock

IDENTITY_OPS = frozenset(
    {"account", "session", "logout", "logout_everywhere", "password", "register_key"}
)


class DirectoryMachine(HouseMachine):
    def __init__(self, open_house: Callable[[ReplicaClock], AuctionHouse]) -> None:
        super().__init__(open_house)
        self._reset()

    def _reset(self) -> None:
        self.size = 0
        self.peers: list[str] = []  # in the order they joined
        self.apis: dict[str, str] = {}  # peer address -> its API's base URL
        self.groups: dict[str, list[str]] = {}  # gid -> the members it was founded with
        self.placed: list[tuple[str, str]] = []  # (auction id, gid), in creation order
        self.where: dict[str, str] = {}
        self.identity: list[dict[str, Any]] = []  # {"seq", "op", "args"}, seq from 1
        self.version = 0  # counts changes of the peer list

    def _run(self, op: str, args: dict[str, Any]) -> Any:
        if op == "found":
            return self._found(list(args["peers"]), int(args["size"]))
        if op == "join":
            return self._join(str(args["peer"]))
        if op == "leave":
            return self._leave(str(args["peer"]))
        if op == "api":
            if args["peer"] in self.peers:
                self.apis[str(args["peer"])] = str(args["url"])
            return None
        if op == "place":
            return self._place()
        if op in IDENTITY_OPS:
            result = super()._run(op, args)  # refused here (an exception): never numbered
            self.identity.append({"seq": len(self.identity) + 1, "op": op, "args": args})
            return {"result": result, "seq": len(self.identity)}
        return super()._run(op, args)

    def _found(self, peers: list[str], size: int) -> dict[str, Any]:
        if self.peers:  # every founder proposes it; the first applied wins
            return self.view()
        if size < 1 or not peers:
            raise ConfigError("a ring needs peers and a group size")
        self.size = size
        self.peers = ring.ring(peers)
        for peer in self.peers:
            gid = ring.group_id(peer)
            self.groups[gid] = ring.members(gid, self.peers, size)
        self.groups[ring.DIRECTORY] = ring.members(ring.DIRECTORY, self.peers, size)
        self.version += 1
        return self.view()

    def _join(self, peer: str) -> dict[str, Any]:
        if not self.peers:
            raise ConfigError("the ring is not founded yet")
        if peer not in self.peers:
            self.peers.append(peer)
            gid = ring.group_id(peer)
            if gid not in self.groups:  # a peer that left and came back keeps its old group
                self.groups[gid] = ring.members(gid, self.peers, self.size)
            self.version += 1
        return self.view()

    def _leave(self, peer: str) -> dict[str, Any]:
        if peer not in self.peers:
            raise NotFound(f"no peer {peer} in the ring")
        if len(self.peers) <= self.size:
            raise ConfigError(f"a ring keeps at least {self.size} peers (the group size)")
        self.peers.remove(peer)
        self.version += 1
        return self.view()

    def _place(self) -> dict[str, str]:
        """A new auction's id (``p`` and a serial number, unique across the ring) and its group,
        chosen among the groups of the peers present now, then fixed."""
        active = [ring.group_id(p) for p in self.peers]
        aid = f"p{len(self.placed) + 1}"
        gid = ring.place(aid, active)
        self.placed.append((aid, gid))
        self.where[aid] = gid
        return {"id": aid, "group": gid}

    def plan(self) -> dict[str, list[str]]:
        """Every group's members now (``ring.layout`` of the groups over the present peers)."""
        return ring.layout(self.groups, self.peers, self.size)

    def view(self, placed_from: int = 0, identity_from: int = 0) -> dict[str, Any]:
        """The directory as JSON: peers, APIs, groups (founders and members now), the auctions
        placed from index ``placed_from`` and identity commands after seq ``identity_from``."""
        return {
            "version": self.version,
            "size": self.size,
            "peers": list(self.peers),
            "apis": dict(self.apis),
            "founders": {gid: list(m) for gid, m in self.groups.items()},
            "groups": self.plan(),
            "placed_from": placed_from,
            "placed": [list(p) for p in self.placed[placed_from:]],
            "placed_count": len(self.placed),
            "identity": self.identity[identity_from:],
            "identity_count": len(self.identity),
        }

    def _deserialize(self, data: Any) -> None:
        self._reset()
        super()._deserialize(data)
