"""Groups on a ring without a network: the ring's arithmetic, the directory's state machine
(placement fixed at creation, joins, leaves) and identity commands applied once, in order."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from auctionhouse.errors import AuctionhouseError, LedgerError
from auctionhouse.house import AuctionHouse, HouseConfig
from auctionhouse.p2p import ring
from auctionhouse.p2p.codec import encode
from auctionhouse.p2p.directory import DirectoryMachine
from auctionhouse.p2p.machine import HouseMachine, ReplicaClock

T0 = 1_800_000_000.0
PEERS = [f"10.0.0.{i}:9000" for i in range(1, 6)]


def opener(tmp_path: Path, name: str):  # type: ignore[no-untyped-def]
    def open_house(clock: ReplicaClock) -> AuctionHouse:
        path = tmp_path / name / "house.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return AuctionHouse.open(path, config=HouseConfig.for_tests(), clock=clock)

    return open_house


def test_each_peer_anchors_a_group_of_it_and_its_successors() -> None:
    order = ring.ring(PEERS)
    plan = ring.layout([ring.group_id(p) for p in PEERS], PEERS, 3)
    for i, peer in enumerate(order):
        group = plan[ring.group_id(peer)]
        assert group == [order[i], order[(i + 1) % 5], order[(i + 2) % 5]]
    # every peer is in exactly group_size groups: the load is even
    assert Counter(m for g in plan.values() for m in g) == dict.fromkeys(PEERS, 3)
    assert ring.members(ring.DIRECTORY, PEERS, 3) == order[:3]
    small = ring.members(ring.group_id(PEERS[0]), PEERS[:2], 3)  # fewer peers than the size
    assert small[0] == PEERS[0] and sorted(small) == sorted(PEERS[:2])


def test_a_group_whose_peer_left_stays_anchored_and_moves_to_the_successors() -> None:
    gone = ring.ring(PEERS)[1]
    gid = ring.group_id(gone)
    rest = [p for p in PEERS if p != gone]
    order = ring.ring(PEERS)
    assert ring.members(gid, rest, 3) == [order[2], order[3], order[4]]


def test_placement_hashes_the_id_over_the_groups_and_spreads_them() -> None:
    gids = [ring.group_id(p) for p in PEERS]
    placed = [ring.place(f"p{i}", gids) for i in range(1, 501)]
    assert placed == [ring.place(f"p{i}", list(reversed(gids))) for i in range(1, 501)]
    counts = Counter(placed)
    assert set(counts) == set(gids) and min(counts.values()) > 60  # about 100 each
    with pytest.raises(ValueError):
        ring.place("p1", [])


def test_membership_changes_one_member_at_a_time_adds_first() -> None:
    assert ring.next_change(["a", "b", "c"], ["a", "b", "x"]) == ("add", "x")
    assert ring.next_change(["a", "b", "c", "x"], ["a", "b", "x"]) == ("remove", "c")
    assert ring.next_change(["a", "b", "x"], ["x", "b", "a"]) is None


def test_group_ids_are_refused_when_malformed() -> None:
    assert ring.anchor(ring.DIRECTORY) == 0
    assert ring.anchor(ring.group_id(PEERS[0])) == ring.point(PEERS[0])
    for bad in ("g12", "x0123456789", "gzzzzzzzzzz"):
        with pytest.raises(ValueError):
            ring.anchor(bad)


def apply(machine: HouseMachine, key: str, op: str, args: dict, t: float = T0) -> dict:  # type: ignore[type-arg]
    return machine.apply_local(encode(key, t, op, args, until=t + 5))


def test_directory_places_auctions_once_and_keeps_them_where_they_are(tmp_path: Path) -> None:
    d = DirectoryMachine(opener(tmp_path, "d"))
    apply(d, "f1", "found", {"peers": PEERS[:4], "size": 3})
    again = apply(d, "f2", "found", {"peers": PEERS[:3], "size": 5})  # a second founder: no-op
    assert again["ok"]["peers"] == ring.ring(PEERS[:4]) and d.size == 3
    first = [apply(d, f"p{i}", "place", {})["ok"] for i in range(20)]
    assert len({p["id"] for p in first}) == 20
    assert all(p["group"] == ring.place(p["id"], d.groups.keys() - {"dir"}) for p in first)
    assert apply(d, "j", "join", {"peer": PEERS[4]})["ok"]["version"] == 2
    assert ring.group_id(PEERS[4]) in d.groups and len(d.plan()) == 6
    # auctions placed before the join stay in their groups; new ones may use the new group
    assert [d.where[p["id"]] for p in first] == [p["group"] for p in first]
    later = [apply(d, f"q{i}", "place", {})["ok"]["group"] for i in range(60)]
    assert ring.group_id(PEERS[4]) in later
    assert apply(d, "l", "leave", {"peer": PEERS[0]})["ok"]["version"] == 3
    assert ring.group_id(PEERS[0]) in d.groups  # its group stays, on its successors
    assert PEERS[0] not in d.plan()[ring.group_id(PEERS[0])]
    for peer in PEERS[1:3]:
        apply(d, f"l-{peer}", "leave", {"peer": peer})
    refused = apply(d, "l3", "leave", {"peer": PEERS[3]})
    assert refused["error"]["code"] == "config_error"  # never fewer peers than the group size
    # a rebuild from the snapshot's commands gives the same directory
    copy = DirectoryMachine(opener(tmp_path, "copy"))
    copy._deserialize(d._serialize())
    assert copy.view() == d.view() and copy.where == d.where


def test_identity_commands_are_numbered_by_the_directory_and_applied_once_in_order(
    tmp_path: Path,
) -> None:
    d = DirectoryMachine(opener(tmp_path, "d"))
    apply(d, "f", "found", {"peers": PEERS[:3], "size": 3})
    account = {"name": "bob", "password_hash": "h", "role": "user", "public_key": None}
    assert apply(d, "a1", "account", account)["ok"]["seq"] == 1
    taken = apply(d, "a2", "account", account)
    assert taken["error"]["code"] == "conflict" and len(d.identity) == 1  # never numbered
    key = "ab" * 32
    assert apply(d, "k", "register_key", {"account_id": "bob", "public_key": key})["ok"]["seq"] == 2

    g = HouseMachine(opener(tmp_path, "g"))
    first, second = d.identity
    gap = apply(g, "x2", "identity", second)
    assert gap["error"]["code"] == LedgerError.code and g.identity_seq == 0
    assert apply(g, "x1", "identity", first)["ok"]["id"] == "bob"
    assert apply(g, "x2b", "identity", second)["ok"]["public_key"] == key
    assert apply(g, "x1b", "identity", first) == {"ok": None}  # a deposed leader's copy
    assert g.identity_seq == 2 and g.house.accounts.get("bob").public_key == key
    with pytest.raises(AuctionhouseError):
        g.house.accounts.get("nobody")


def test_a_peers_copy_of_the_identity_log_keeps_only_what_its_groups_lack() -> None:
    from auctionhouse.p2p.groups import DirectoryView

    view = DirectoryView()
    entries = [{"seq": i, "op": "logout", "args": {"digest": str(i)}} for i in range(1, 8)]
    page = {
        "version": 1,
        "size": 3,
        "peers": PEERS[:3],
        "apis": {},
        "founders": {},
        "groups": {},
        "placed_from": 0,
        "placed": [],
    }
    view.merge(page | {"identity": entries[:4]})
    view.merge(page | {"identity": entries[5:]})  # a gap: not taken
    assert view.identity_count == 4
    view.trim(3)  # every group here has applied 1..3
    assert view.identity_count == 4 and [e["seq"] for e in view.identity] == [4]
    assert view.identity_after(3, 10) == [entries[3]]
    assert view.identity_after(2, 10) is None  # trimmed: the directory is asked
    view.merge(page | {"identity": entries[4:]})
    assert view.identity_count == 7 and view.identity_after(5, 1) == [entries[5]]
    view.trim(99)  # never past what it has
    assert view.identity_count == 7 and view.identity == []
    assert view.as_json()["identity_commands"] == 7 and view.as_json()["identity_kept"] == 0
