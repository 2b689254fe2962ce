"""The replicated state machine without a network: determinism, idempotency keys, deadlines,
signatures checked on apply, and a rebuild from a snapshot's commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from nacl.signing import SigningKey

from auctionhouse.errors import AuctionhouseError, LedgerError, NoQuorum
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig, bid_message, sign
from auctionhouse.p2p.codec import decode, encode, raise_error
from auctionhouse.p2p.machine import HouseMachine, ReplicaClock

T0 = 1_800_000_000.0


def machine(tmp_path: Path, name: str) -> HouseMachine:
    def open_house(clock: ReplicaClock) -> AuctionHouse:
        path = tmp_path / name / "house.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return AuctionHouse.open(path, config=HouseConfig.for_tests(), clock=clock)

    return HouseMachine(open_house)


def commands(key: SigningKey) -> list[bytes]:
    pk = key.verify_key.encode().hex()
    out = [
        encode(
            "k1",
            T0,
            "account",
            {"name": "seller", "password_hash": "x", "role": "user", "public_key": None},
        ),
        encode(
            "k2",
            T0,
            "account",
            {"name": "bob", "password_hash": "x", "role": "user", "public_key": pk},
        ),
        encode(
            "k3",
            T0 + 1,
            "create_auction",
            {
                "seller_id": "seller",
                "item_name": "vase",
                "method": "english",
                "rules": {
                    "starting_price": 100,
                    "min_increment": 10,
                    "duration": 60,
                    "signed_bids": True,
                },
                "description": "",
                "auction_id": None,
            },
        ),
    ]
    for i, amount in enumerate((100, 120, 110, 150)):
        ts = T0 + 2 + i
        sig = sign(key, bid_message("1", "bob", amount, i, ts, None))
        out.append(
            encode(
                f"b{i}",
                ts,
                "place_bid",
                {
                    "bidder_id": "bob",
                    "auction_id": "1",
                    "amount": amount,
                    "proxy_max": None,
                    "nonce": i,
                    "ts": ts,
                    "signature": sig,
                },
            )
        )
    bad = sign(SigningKey.generate(), bid_message("1", "bob", 999, 9, T0 + 8, None))
    out.append(
        encode(
            "forged",
            T0 + 8,
            "place_bid",
            {
                "bidder_id": "bob",
                "auction_id": "1",
                "amount": 999,
                "proxy_max": None,
                "nonce": 9,
                "ts": T0 + 8,
                "signature": bad,
            },
        )
    )
    out.append(encode("close", T0 + 70, "tick", {}))
    return out


def ledger(m: HouseMachine) -> list[tuple[str, int, str]]:
    m.house.flush()
    return [(r.auction_id, r.seq, r.hash.hex()) for r in m.house.ledger.store.all_records()]


def test_replicas_applying_one_log_decide_the_same_events(tmp_path: Path) -> None:
    key = SigningKey.generate()
    log = commands(key)
    a, b = machine(tmp_path, "a"), machine(tmp_path, "b")
    results = [a.apply_local(blob) for blob in log]
    assert [b.apply_local(blob) for blob in log] == results
    assert ledger(a) == ledger(b) and len(ledger(a)) == 5  # created, 3 bids, closed
    codes = [r.get("error", {}).get("code") for r in results]
    assert codes[5] == "bid_too_low"  # 110 after 120: every replica refuses it alike
    assert codes[7] == "bad_signature"  # verified on apply, on every replica
    # ... and decides what the single house decides for the same commands at the same times.
    clock = FakeClock(T0)
    single = AuctionHouse.in_memory(config=HouseConfig.for_tests(), clock=clock)
    for blob in log:
        command = decode(blob)
        clock.set(command["t"])
        op, args = command["op"], command["args"]
        try:
            if op == "account":
                single.accounts.insert(now=clock.now(), **args)
            else:
                getattr(single, op)(**args)
        except AuctionhouseError:
            pass
    state, reference = a.house.state("1"), single.state("1")
    assert state.outcome is not None and state.winner == "bob"
    assert (state.outcome, state.winner, state.price) == (
        reference.outcome,
        reference.winner,
        reference.price,
    )
    assert (
        state.closed_at == reference.closed_at == T0 + 70
    )  # the command's time, not the replica's


def test_a_command_committed_twice_is_applied_once(tmp_path: Path) -> None:
    key = SigningKey.generate()
    log = commands(key)[:4]
    m = machine(tmp_path, "a")
    first = [m.apply_local(blob) for blob in log]
    again = m.apply_local(log[3])  # the same bid, committed again after a lost ack
    assert again == first[3]
    assert len(m.house.state("1").bids) == 1


def test_a_command_past_its_deadline_is_refused_once_later_ones_applied(tmp_path: Path) -> None:
    m = machine(tmp_path, "a")
    late = encode(
        "late",
        T0,
        "account",
        {"name": "eve", "password_hash": "x", "role": "user", "public_key": None},
        until=T0 + 5,
    )
    m.apply_local(encode("now", T0 + 6, "tick", {}))
    result = m.apply_local(late)
    with pytest.raises(NoQuorum):
        raise_error(result)
    assert not m.house.accounts.exists("eve")


def test_a_replica_rebuilds_from_a_snapshot_of_commands(tmp_path: Path) -> None:
    key = SigningKey.generate()
    log = commands(key)
    a = machine(tmp_path, "a")
    for blob in log:
        a.apply_local(blob)
    snapshot = a._serialize()
    assert all(decode(blob)["key"] != "" for blob in snapshot)
    b = machine(tmp_path, "b")
    heard = []
    b.house.subscribe(lambda e, s: heard.append(e))
    b._deserialize(snapshot)
    assert ledger(b) == ledger(a)
    assert b.rebuilds == 1 and heard == []  # a rebuild is not news to listeners
    with pytest.raises(LedgerError):
        b._deserialize(["not bytes"])


def test_results_are_forgotten_once_no_retry_can_come(tmp_path: Path) -> None:
    from auctionhouse.p2p.machine import RESULTS_KEPT_FOR

    m = machine(tmp_path, "a")
    m.apply_local(encode("old", T0, "tick", {}, until=T0 + 5))
    assert "old" in m.results
    m.apply_local(encode("new", T0 + 5 + RESULTS_KEPT_FOR + 1, "tick", {}))
    assert "old" not in m.results and "new" in m.results
    # A late copy of the forgotten command is refused by its deadline, not applied again.
    with pytest.raises(NoQuorum):
        raise_error(m.apply_local(encode("old", T0, "tick", {}, until=T0 + 5)))


def test_a_photo_registration_decides_alike_on_every_replica(tmp_path: Path) -> None:
    """Whatever files a replica holds, an auction may name exactly the registered photos
    (p2p/photos.py): the registry is replicated state, rebuilt from the commands."""
    from auctionhouse.p2p.photos import ReplicaHouse, attach

    def replica(name: str) -> HouseMachine:
        def open_house(clock: ReplicaClock) -> AuctionHouse:
            path = tmp_path / name / "house.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            house = ReplicaHouse.open(path, config=HouseConfig.for_tests(), clock=clock)
            attach(house, None, tmp_path / name / "house.db.photos")
            return house

        return HouseMachine(open_house)

    digest = "ab" * 32

    def sell(key: str, at: float, photos: list[str]) -> bytes:
        args = {"seller_id": "ann", "item_name": "jug", "method": "english", "rules": None}
        return encode(key, at, "create_auction", {**args, "photos": photos})

    log = [
        encode(
            "a",
            T0,
            "account",
            {"name": "ann", "password_hash": "x", "role": "user", "public_key": None},
        ),
        sell("s1", T0 + 1, [digest]),  # not registered yet: refused everywhere
        encode("p", T0 + 2, "photo", {"account_id": "ann", "digest": digest, "ext": "jpg"}),
        encode("q", T0 + 2, "photo", {"account_id": "ann", "digest": "no", "ext": "jpg"}),
        sell("s2", T0 + 3, [digest]),
    ]
    a, b = replica("a"), replica("b")
    results = [[m.apply_local(blob) for blob in log] for m in (a, b)]
    assert results[0] == results[1]
    assert results[0][1]["error"]["code"] == "invalid_request"
    assert results[0][3]["error"]["code"] == "invalid_request"
    assert results[0][4]["ok"]["item"]["photos"] == [digest]
    a.house.flush()
    b.house.flush()
    assert a.house.ledger.heads() == b.house.ledger.heads()
    a._deserialize(a._serialize())  # a rebuild keeps the registry
    assert a.house.photos is not None and a.house.photos.find(digest) is not None
