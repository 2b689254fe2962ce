"""Signed market orders and cancels go through the house's one signature check and the batched
verifier, as signed bids do (house/markets.py ``order_check``, house/verifier.py): a real
``HouseService`` on a real SQLite file with the real worker process."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from auctionhouse.errors import AuctionhouseError, BadSignature
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig, bid_message, sign
from auctionhouse.house.markets import cancel_order_command, place_order_command
from auctionhouse.house.service import HouseService
from auctionhouse.house.signing import cancel_message, order_message
from auctionhouse.house.verifier import make_message_check

CFG = HouseConfig.for_tests(account_rate=1e9, account_burst=1e9)


def keyed(house: AuctionHouse, name: str) -> SigningKey:
    key = SigningKey.generate()
    house.create_account(name, "correct horse", public_key=key.verify_key.encode().hex())
    return key


async def answer(service: HouseService, command: Any) -> Any:
    try:
        return await service.call(command)
    except AuctionhouseError as exc:
        return exc.code


def test_signed_orders_are_verified_in_batches_and_a_forged_one_is_refused_alone(
    tmp_path: Path, clock: FakeClock
) -> None:
    async def main() -> None:
        db = tmp_path / "h.db"
        service = HouseService(lambda: AuctionHouse.open(db, config=CFG, clock=clock))
        await service.start()
        try:
            assert service.verifier is not None and await service.verifier.warm()
            house = service.house
            keys = {name: keyed(house, name) for name in ("ann", "bob")}
            market = (await service.call(lambda h: h.markets.create_market("ann", "copper")))["id"]
            ts = clock.now()
            commands = []
            for i in range(30):
                who, side = ("ann", "sell") if i % 2 == 0 else ("bob", "buy")
                price, nonce = 100 + i, i // 2 + 1
                signed = order_message(market, who, side, price + (i == 13), 1, nonce, ts)
                commands.append(
                    place_order_command(
                        who,
                        market,
                        side,
                        price,
                        1,
                        nonce=nonce,
                        ts=ts,
                        signature=sign(keys[who], signed),
                    )
                )
            before = service.verifier.verified
            answers = await asyncio.gather(*(answer(service, c) for c in commands))
            assert answers[13] == "bad_signature"  # bob's, signed for another price
            assert all(
                isinstance(a, dict) and a["accepted"] for i, a in enumerate(answers) if i != 13
            )
            assert service.verifier.verified - before >= 30  # checked by the worker
            assert house.rejections["bad_signature"] == 1
            assert house.reputation("bob")["strikes"] == 1
            owner = next(n for n in keys if house.markets.my_orders(market, n))
            order_id = house.markets.my_orders(market, owner)[0]["order_id"]
            message = cancel_message(market, owner, order_id, 100, ts)
            cancel = cancel_order_command(
                owner, market, order_id, nonce=100, ts=ts, signature=sign(keys[owner], message)
            )
            before = service.verifier.verified + service.verifier.verified_here
            ack = await service.call(cancel)
            assert ack["cancelled"] == 1  # checked ahead (a lone check: on the loop, 0017)
            assert service.verifier.verified + service.verifier.verified_here == before + 1
            assert cancel.check is not None and cancel.check.valid is True
        finally:
            await service.stop()

    asyncio.run(main())


def test_an_order_verdict_is_trusted_only_for_its_own_bytes(clock: FakeClock) -> None:
    house = AuctionHouse.in_memory(config=CFG, clock=clock)
    key = keyed(house, "ann")
    market = house.markets.create_market("ann", "copper")["id"]
    public = key.verify_key.encode().hex()
    ts = clock.now()
    signed = order_message(market, "ann", "buy", 100, 1, 1, ts)
    signature = sign(key, signed)
    check = make_message_check(public, signed, signature)
    assert check is not None
    check.valid = False  # a verdict that says no: trusted for exactly these bytes
    with house.verdicts([check]):
        try:
            house.markets.place_order(
                "ann", market, "buy", 100, 1, nonce=1, ts=ts, signature=signature
            )
        except BadSignature:
            pass
        else:
            raise AssertionError("the verdict for these bytes was not used")
    # the same verdict is not trusted for other bytes (verified on the loop: it holds there)
    other = sign(key, order_message(market, "ann", "buy", 101, 1, 2, ts))
    check = make_message_check(public, b"something else", other)
    assert check is not None
    check.valid = False
    with house.verdicts([check]):
        ack = house.markets.place_order(
            "ann", market, "buy", 101, 1, nonce=2, ts=ts, signature=other
        )
    assert ack["accepted"]
    # nor ever for a bid, whatever its signature
    house.create_account("seller", "correct horse")
    aid = house.create_auction("seller", "lot", "english", {"duration": 60})["id"]
    bid_signature = sign(key, bid_message(aid, "ann", 500, 3, ts))
    check = make_message_check(public, bid_message(aid, "ann", 500, 3, ts), bid_signature)
    assert check is not None and not check.same_bid((aid, "ann", 500, 3, ts, None))
