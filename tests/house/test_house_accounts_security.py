"""Accounts, sessions, signed bids, replay and flood protection, quotas, reputation."""

from __future__ import annotations

from pathlib import Path

import pytest
from nacl.signing import SigningKey

from auctionhouse.errors import AuctionhouseError
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig, bid_message, sign


def codes(fn: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(AuctionhouseError) as info:
        fn(*args, **kwargs)  # type: ignore[operator]
    return info.value.code


@pytest.fixture
def signed_house(tmp_path: Path, clock: FakeClock) -> AuctionHouse:
    cfg = HouseConfig.for_tests(bid_verification_required=True)
    return AuctionHouse.open(tmp_path / "h.db", config=cfg, clock=clock)


def keyed(house: AuctionHouse, name: str) -> SigningKey:
    key = SigningKey.generate()
    house.create_account(name, "correct horse", public_key=key.verify_key.encode().hex())
    return key


def signed_bid(
    house: AuctionHouse, key: SigningKey, who: str, aid: str, amount: int, nonce: int, ts: float
) -> dict[str, object]:
    sig = sign(key, bid_message(aid, who, amount, nonce, ts))
    return house.place_bid(who, aid, amount, nonce=nonce, ts=ts, signature=sig)


def test_accounts_and_sessions(house: AuctionHouse, clock: FakeClock) -> None:
    house.create_account("alice", "correct horse")
    assert codes(house.create_account, "alice", "another pass") == "conflict"
    assert codes(house.create_account, "Bad Name!", "correct horse") == "invalid_request"
    assert codes(house.create_account, "bob", "short") == "invalid_request"
    assert codes(house.create_account, "bob", "correct horse", public_key="zz") == "invalid_request"
    assert codes(house.login, "alice", "wrong password") == "unauthorized"
    assert codes(house.login, "nobody", "whatever12") == "unauthorized"
    token = house.login("alice", "correct horse")
    assert house.authenticate(token).id == "alice"
    assert codes(house.authenticate, "forged-token") == "unauthorized"
    assert codes(house.authenticate, None) == "unauthorized"
    clock.advance(house.config.token_ttl_seconds + 1)
    assert codes(house.authenticate, token) == "unauthorized"


def test_passwords_are_stored_as_argon2_hashes(tmp_path: Path, clock: FakeClock) -> None:
    import sqlite3

    h = AuctionHouse.open(tmp_path / "h.db", config=HouseConfig.for_tests(), clock=clock)
    h.create_account("alice", "correct horse")
    token = h.login("alice", "correct horse")
    h.close()
    db = sqlite3.connect(tmp_path / "h.db")
    stored = db.execute("SELECT password_hash FROM accounts").fetchone()[0]
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert token not in str(db.execute("SELECT * FROM sessions").fetchall())


def test_signed_bids_forgery_replay_and_staleness(
    signed_house: AuctionHouse, clock: FakeClock
) -> None:
    h = signed_house
    keyed(h, "seller")
    alice = keyed(h, "alice")
    mallory = keyed(h, "mallory")
    aid = h.create_auction("seller", "Lamp", "english", {"duration": 100})["id"]
    now = clock.now()
    assert signed_bid(h, alice, "alice", aid, 10, 1, now)["price"] == 10
    before = h.state(aid).snapshot()
    # forged: a signature over other bytes
    bad = sign(alice, b"something else")
    assert codes(h.place_bid, "alice", aid, 20, nonce=2, ts=now, signature=bad) == "bad_signature"
    # signed by another account's key
    stolen = sign(mallory, bid_message(aid, "alice", 20, 2, now))
    assert (
        codes(h.place_bid, "alice", aid, 20, nonce=2, ts=now, signature=stolen) == "bad_signature"
    )
    # replayed nonce (the same signed message again, and a lower nonce)
    assert codes(signed_bid, h, alice, "alice", aid, 20, 1, now) == "replayed_nonce"
    # stale timestamp
    assert codes(signed_bid, h, alice, "alice", aid, 20, 5, now - 3600) == "stale_timestamp"
    # a timestamp that is no time at all
    nan_sig = sign(alice, bid_message(aid, "alice", 20, 7, float("nan")))
    assert codes(h.place_bid, "alice", aid, 20, nonce=7, ts=float("nan"), signature=nan_sig) == (
        "invalid_request"
    )
    # no signature where the house requires one
    assert codes(h.place_bid, "alice", aid, 20) == "signature_required"
    # an amount changed after signing
    sig = sign(alice, bid_message(aid, "alice", 20, 6, now))
    assert codes(h.place_bid, "alice", aid, 9999, nonce=6, ts=now, signature=sig) == "bad_signature"
    assert h.state(aid).snapshot() == before  # no state change from any of them
    assert h.reputation("alice")["strikes"] == 5
    assert h.reputation("alice")["score"] < h.reputation("mallory")["score"]


def test_signed_proxy_maximum_cannot_be_raised_by_a_third_party(
    signed_house: AuctionHouse, clock: FakeClock
) -> None:
    h = signed_house
    keyed(h, "seller")
    alice = keyed(h, "alice")
    aid = h.create_auction("seller", "Lamp", "english", {"duration": 100})["id"]
    now = clock.now()
    sig = sign(alice, bid_message(aid, "alice", 10, 1, now, proxy_max=50))
    assert codes(h.place_bid, "alice", aid, 10, proxy_max=500, nonce=1, ts=now, signature=sig) == (
        "bad_signature"
    )
    h.place_bid("alice", aid, 10, proxy_max=50, nonce=1, ts=now, signature=sig)
    assert h.view(aid, viewer="alice")["you"]["max"] == 50
    assert "max" not in h.view(aid, viewer="seller")["you"]


def test_flood_is_rate_limited_per_account_and_address(tmp_path: Path, clock: FakeClock) -> None:
    cfg = HouseConfig.for_tests(account_rate=5, account_burst=5, address_rate=2, address_burst=3)
    h = AuctionHouse.open(tmp_path / "h.db", config=cfg, clock=clock)
    h.create_account("seller", "correct horse")
    h.create_account("alice", "correct horse")
    aid = h.create_auction("seller", "Lamp", "english", {"duration": 100})["id"]
    for i in range(5):
        h.place_bid("alice", aid, i + 1)
    with pytest.raises(AuctionhouseError) as info:
        h.place_bid("alice", aid, 100)
    assert info.value.code == "rate_limited" and info.value.fields["retry_after"] > 0
    # five bids went in (alone, alice raised her own maximum; the price stays at her first)
    assert h.state(aid).maxima["alice"] == 5 and len(h.state(aid).bids) == 5
    clock.advance(1.0)
    h.place_bid("alice", aid, 100)
    for _ in range(3):
        h.check_address("10.0.0.1")
    assert codes(h.check_address, "10.0.0.1") == "rate_limited"
    h.check_address("10.0.0.2")  # another address is not affected


def test_quotas_min_bidders_and_seller_rules(tmp_path: Path, clock: FakeClock) -> None:
    cfg = HouseConfig.for_tests(max_concurrent_auctions=2, min_bidders=3)
    h = AuctionHouse.open(tmp_path / "h.db", config=cfg, clock=clock)
    for name in ("seller", "alice", "bob"):
        h.create_account(name, "correct horse")
    a1 = h.create_auction("seller", "A", "english", {"duration": 10})["id"]
    h.create_auction("seller", "B", "vickrey", {"duration": 10})
    assert codes(h.create_auction, "seller", "C", "fpsb", {"duration": 10}) == "quota_exceeded"
    assert codes(h.place_bid, "seller", a1, 5) == "seller_cannot_bid"
    h.place_bid("alice", a1, 5)
    h.place_bid("bob", a1, 6)
    assert codes(h.cancel_auction, "seller", a1) == "cannot_cancel"
    assert codes(h.cancel_auction, "alice", a1) == "forbidden"
    clock.advance(10)
    h.tick()
    assert h.view(a1)["result"]["outcome"] == "too_few_bidders"  # house min_bidders = 3
    h.create_auction("seller", "C", "fpsb", {"duration": 10})  # a slot is free again


def test_pause_and_cancel_need_an_admin(house: AuctionHouse, clock: FakeClock) -> None:
    house.create_account("root", "correct horse", role="admin")
    house.create_account("seller", "correct horse")
    house.create_account("alice", "correct horse")
    aid = house.create_auction("seller", "Lamp", "english", {"duration": 100})["id"]
    house.place_bid("alice", aid, 5)
    assert codes(house.pause_auction, "seller", aid) == "forbidden"
    house.pause_auction("root", aid)
    assert codes(house.place_bid, "alice", aid, 6) == "auction_paused"
    clock.advance(500)
    assert house.tick() == []  # a paused auction's clock is stopped
    house.resume_auction("root", aid)
    assert house.view(aid)["closes_at"] == pytest.approx(1_000_000.0 + 600)
    house.cancel_auction("root", aid, "listing error")
    assert house.view(aid)["result"]["outcome"] == "cancelled"


def test_argon2_defaults_are_production_strength(tmp_path: Path) -> None:
    import sqlite3

    h = AuctionHouse.open(tmp_path / "h.db", config=HouseConfig())
    h.create_account("alice", "correct horse")
    h.close()
    stored = sqlite3.connect(tmp_path / "h.db").execute("SELECT password_hash FROM accounts")
    assert "$m=65536,t=3,p=1$" in stored.fetchone()[0]


def test_who_bid_in_a_sealed_auction_is_secret_until_close(
    house: AuctionHouse, clock: FakeClock
) -> None:
    for name in ("seller", "ann", "bob"):
        house.create_account(name, "correct horse")
    sealed = house.create_auction("seller", "Map", "vickrey", {"duration": 10})["id"]
    open_cry = house.create_auction("seller", "Pen", "english", {"duration": 10})["id"]
    house.place_bid("ann", sealed, 50)
    house.place_bid("ann", open_cry, 5)
    assert [v["id"] for v in house.list_auctions(bidder="ann")] == [open_cry]
    assert [v["id"] for v in house.list_auctions(bidder="ann", viewer="bob")] == [open_cry]
    assert [v["id"] for v in house.list_auctions(bidder="ann", viewer="ann")] == [open_cry, sealed]
    clock.advance(10)
    house.tick()
    assert {v["id"] for v in house.list_auctions(bidder="ann")} == {open_cry, sealed}
