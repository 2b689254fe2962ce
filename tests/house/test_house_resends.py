"""An honest retry is not an attack (issue 9, fault 6), and bidders' public history keeps the
secret of who bid in an open sealed auction.

A byte-identical resend of a spent signed bid gets its first answer again (the original ack,
also after a restart; or the original refusal), places nothing, strikes nothing, and is counted.
Only a different message with a spent nonce is a replay.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nacl.signing import SigningKey

from auctionhouse.errors import AuctionhouseError
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig, bid_message, sign


def open_house(tmp_path: Path, clock: FakeClock, **config: object) -> AuctionHouse:
    cfg = HouseConfig.for_tests(bid_verification_required=True, **config)
    return AuctionHouse.open(tmp_path / "h.db", config=cfg, clock=clock)


def keyed(house: AuctionHouse, name: str) -> SigningKey:
    key = SigningKey.generate()
    house.create_account(name, "correct horse", public_key=key.verify_key.encode().hex())
    return key


def signed(
    key: SigningKey,
    who: str,
    aid: str,
    amount: int,
    nonce: int,
    ts: float,
    proxy_max: int | None = None,
) -> dict[str, object]:
    message = bid_message(aid, who, amount, nonce, ts, proxy_max)
    fields = {"proxy_max": proxy_max, "nonce": nonce, "ts": ts, "signature": sign(key, message)}
    return {"amount": amount, **fields}


def bid(house: AuctionHouse, who: str, aid: str, body: dict[str, object]) -> dict[str, object]:
    amount = body["amount"]
    assert isinstance(amount, int)
    return house.place_bid(who, aid, amount, **{k: v for k, v in body.items() if k != "amount"})  # type: ignore[arg-type]


def refusal(house: AuctionHouse, who: str, aid: str, body: dict[str, object]) -> str:
    with pytest.raises(AuctionhouseError) as info:
        bid(house, who, aid, body)
    return info.value.code


def test_a_byte_identical_resend_gets_the_original_ack_even_after_a_restart(
    tmp_path: Path, clock: FakeClock
) -> None:
    # min_reputation 0.5: one strike would lock a new bidder out of every auction.
    house = open_house(tmp_path, clock, min_reputation=0.5)
    house.create_account("seller", "correct horse")
    ann, bob = keyed(house, "ann"), keyed(house, "bob")
    aid = house.create_auction("seller", "Lamp", "english", {"duration": 600})["id"]
    other = house.create_auction("seller", "Vase", "english", {"duration": 600})["id"]
    now = clock.now()
    first = signed(ann, "ann", aid, 100, 1, now, proxy_max=900)
    ack = bid(house, "ann", aid, first)
    clock.advance(5)
    bid(house, "bob", aid, signed(bob, "bob", aid, 200, 1, clock.now()))  # the proxy answers
    events = len(house.events(aid))

    assert bid(house, "ann", aid, first) == ack  # the answer was lost: the same answer again
    assert len(house.events(aid)) == events and house.reputation("ann")["strikes"] == 0
    assert house.counts()["resent_bids"] == 1
    clock.advance(5)
    assert bid(house, "ann", other, signed(ann, "ann", other, 50, 2, clock.now()))["accepted"]

    house.close()  # a restart: the spent nonces and acks come back from the ledger
    house = open_house(tmp_path, clock, min_reputation=0.5)
    assert bid(house, "ann", aid, first) == ack
    assert len(house.events(aid)) == events and house.reputation("ann")["strikes"] == 0
    # Only a different message with a spent nonce is a replay: refused, one strike.
    changed = signed(ann, "ann", aid, 300, 1, now)
    assert refusal(house, "ann", aid, changed) == "replayed_nonce"
    assert house.reputation("ann")["strikes"] == 1
    # A resend to another auction, or with the bytes of another ts, is a different message.
    moved = dict(first, ts=now + 0.0005)
    assert refusal(house, "ann", aid, moved) == "bad_signature"
    house.close()


def test_a_resend_of_a_refused_bid_is_refused_the_same_way_without_a_strike(
    tmp_path: Path, clock: FakeClock
) -> None:
    house = open_house(tmp_path, clock)
    house.create_account("seller", "correct horse")
    ann = keyed(house, "ann")
    aid = house.create_auction(
        "seller", "Lamp", "english", {"duration": 600, "starting_price": 100}
    )["id"]
    low = signed(ann, "ann", aid, 50, 7, clock.now())
    assert refusal(house, "ann", aid, low) == "bid_too_low"
    assert refusal(house, "ann", aid, low) == "bid_too_low"
    assert house.reputation("ann")["strikes"] == 0
    assert refusal(house, "ann", aid, signed(ann, "ann", aid, 150, 7, clock.now())) == (
        "replayed_nonce"
    )
    house.close()


def test_a_dutch_accept_resent_after_the_close_gets_its_ack(
    tmp_path: Path, clock: FakeClock
) -> None:
    house = open_house(tmp_path, clock)
    house.create_account("seller", "correct horse")
    ann = keyed(house, "ann")
    rules = {"starting_price": 1000, "decrement": 10, "tick_seconds": 1}
    aid = house.create_auction("seller", "Rug", "dutch", rules)["id"]
    clock.advance(3.5)
    accept = signed(ann, "ann", aid, 1000, 1, clock.now())
    ack = bid(house, "ann", aid, accept)
    assert ack["result"] == {
        "outcome": "sold",
        "winner": "ann",
        "price": 970,
        "closed_at": clock.now(),
    }
    clock.advance(60)
    assert bid(house, "ann", aid, accept) == ack


def test_sealed_bids_join_public_reputation_only_at_the_close(
    house: AuctionHouse, clock: FakeClock
) -> None:
    for name in ("seller", "ann", "bob"):
        house.create_account(name, "correct horse")
    sealed = house.create_auction("seller", "Map", "fpsb", {"duration": 10})["id"]
    before = house.reputation("ann")
    house.place_bid("ann", sealed, 50)
    assert house.reputation("ann") == before  # anyone may read it: it must not say ann bid
    clock.advance(10)
    house.tick()
    after = house.reputation("ann")
    assert (after["bids"], after["auctions"], after["wins"]) == (1, 1, 1)
    house.close()
    again = AuctionHouse.open(
        Path(house.ledger.store.path),
        config=HouseConfig.for_tests(),
        clock=clock,  # type: ignore[attr-defined]
    )
    assert again.reputation("ann") == after  # the same from the ledger
    again.close()
