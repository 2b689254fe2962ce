"""The ring of peers: which replica groups exist, who is in each, where an auction lives.

Pure functions, no I/O: every peer computes the same answers from the same replicated
directory (``directory.Directory``), so they agree without talking.

- Each peer has a point on a ring of 2**40 points: the first 40 bits of SHA-256 of its peer
  address. A **group** is anchored at a point; its members are the first ``size`` peers at or
  after that point, going round. A peer's own group is anchored at the peer's own point (so the
  peer leads the list, followed by its ``size - 1`` successors); a group stays anchored where it
  was when its peer leaves, and its members become the next peers round the ring.
- The **directory group** is anchored at point 0 (the first ``size`` peers of the ring).
- An **auction** is placed on one of the groups of the peers present when it is created, by
  rendezvous (highest random weight) hashing of its id (Thaler and Ravishankar, "Using
  name-based mappings to increase hit rates", IEEE/ACM ToN 6(1), 1998): the group whose
  ``SHA-256(group id, auction id)`` is highest. The choice is recorded in the directory and
  never recomputed, so auctions stay where they are when peers come and go.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

RING_BITS = 40
DIRECTORY = "dir"  # the directory group's id; its anchor is point 0


def point(address: str) -> int:
    """The ring point (0 .. 2**40 - 1) of a peer address ``HOST:PORT``."""
    return int.from_bytes(hashlib.sha256(address.encode()).digest()[:5], "big")


def group_id(address: str) -> str:
    """The id of the group anchored at the peer ``address``: ``g`` and its point in hex."""
    return f"g{point(address):010x}"


def anchor(gid: str) -> int:
    """The ring point a group id stands for (``dir`` is point 0)."""
    if gid == DIRECTORY:
        return 0
    if len(gid) != 11 or gid[0] != "g":
        raise ValueError(f"{gid!r} is not a group id")
    return int(gid[1:], 16)


def ring(peers: Iterable[str]) -> list[str]:
    """The peers in ring order (by point, then address for the astronomically rare tie)."""
    return sorted(set(peers), key=lambda a: (point(a), a))


def members(gid: str, peers: Iterable[str], size: int) -> list[str]:
    """The members of group ``gid``: the first ``size`` peers at or after its anchor (all the
    peers if there are fewer), in ring order starting at the anchor."""
    order = ring(peers)
    if not order:
        return []
    at = anchor(gid)
    start = next((i for i, a in enumerate(order) if point(a) >= at), 0)
    return [order[(start + i) % len(order)] for i in range(min(size, len(order)))]


def layout(gids: Iterable[str], peers: Iterable[str], size: int) -> dict[str, list[str]]:
    """Every group's members: ``{gid: [member, ...]}`` for ``gids`` on the ring ``peers``."""
    peers = list(peers)
    return {gid: members(gid, peers, size) for gid in gids}


def groups_of(address: str, plan: Mapping[str, list[str]]) -> list[str]:
    """The ids of the groups of ``plan`` that ``address`` is a member of."""
    return sorted(gid for gid, group in plan.items() if address in group)


def place(auction_id: str, gids: Iterable[str]) -> str:
    """The group an auction created now goes to: rendezvous hashing of its id over ``gids``.
    Raises ValueError when there is no group."""
    best = max(
        gids,
        key=lambda gid: hashlib.sha256(f"{gid}\x00{auction_id}".encode()).digest(),
        default=None,
    )
    if best is None:
        raise ValueError("no group to place an auction on")
    return best


def next_change(current: Iterable[str], target: Iterable[str]) -> tuple[str, str] | None:
    """The one membership change that moves ``current`` towards ``target``: ``("add", m)``
    first (a group never shrinks below its size while changing), then ``("remove", m)``;
    ``None`` when they are equal. One member at a time, as Raft's single-server changes
    require (Ongaro, "Consensus: bridging theory and practice", 2014, section 4.1)."""
    now, want = set(current), set(target)
    missing = sorted(want - now)
    if missing:
        return ("add", missing[0])
    extra = sorted(now - want)
    if extra:
        return ("remove", extra[0])
    return None
