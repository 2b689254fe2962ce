"""Signed bids verified in batches off the event loop (issue 14, docs/decisions/0017-batched-verify.md).

The service sends each queued signed bid's check to a worker process, many per hand-off, and
decides the batch in arrival order once verified. These tests run a real ``HouseService`` on a
real SQLite file with the real worker process, and hold it to the house's answers: a bad
signature among good ones is refused alone, order is arrival order, a resend and a replayed
nonce inside one batch get what they got before, and a dead worker changes nothing.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nacl.signing import SigningKey

from auctionhouse.errors import AuctionhouseError
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig, bid_message, sign
from auctionhouse.house.service import HouseService
from auctionhouse.house.verifier import BatchVerifier, make_check, place_bid_command

CFG = HouseConfig.for_tests(account_rate=1e9, account_burst=1e9)


def keyed(house: AuctionHouse, name: str) -> SigningKey:
    key = SigningKey.generate()
    house.create_account(name, "correct horse", public_key=key.verify_key.encode().hex())
    return key


class Bidder:
    def __init__(self, house: AuctionHouse, name: str, auction: str, ts: float) -> None:
        self.name, self.auction, self.ts = name, auction, ts
        self.key = keyed(house, name)

    def bid(self, amount: int, nonce: int, *, forged: bool = False) -> dict[str, Any]:
        message = bid_message(self.auction, self.name, amount, nonce, self.ts)
        if forged:  # signed for another amount: well-formed, and does not hold
            message = bid_message(self.auction, self.name, amount + 1, nonce, self.ts)
        return {
            "amount": amount,
            "nonce": nonce,
            "ts": self.ts,
            "signature": sign(self.key, message),
        }


async def started(tmp_path: Path, clock: FakeClock) -> tuple[HouseService, str]:
    """A service on a fresh house with one signed English auction; its worker up."""
    db = tmp_path / "h.db"
    house = AuctionHouse.open(db, config=CFG, clock=clock)
    house.create_account("seller", "correct horse")
    aid = house.create_auction("seller", "lot", "english", {"duration": 3600, "signed_bids": True})[
        "id"
    ]
    house.close()
    service = HouseService(lambda: AuctionHouse.open(db, config=CFG, clock=clock))
    await service.start()
    assert service.verifier is not None
    assert await service.verifier.warm(), "the signature worker did not start"
    return service, aid


async def place(service: HouseService, who: str, aid: str, body: dict[str, Any]) -> Any:
    """The answer to one bid: the ack, or the refusal's code."""
    try:
        return await service.call(place_bid_command(who, aid, **body))
    except AuctionhouseError as exc:
        return exc.code


def test_a_bad_signature_in_a_batch_is_refused_alone_and_order_is_arrival_order(
    tmp_path: Path, clock: FakeClock
) -> None:
    async def main() -> None:
        service, aid = await started(tmp_path, clock)
        try:
            house = service.house
            alice = Bidder(house, "alice", aid, clock.now())
            bob = Bidder(house, "bob", aid, clock.now())
            # One burst, queued in one loop iteration: rising amounts, bidders alternating;
            # a bid decided out of arrival order would be refused as too low.
            bodies = []
            for i in range(40):
                who = alice if i % 2 == 0 else bob
                bodies.append((who.name, who.bid(100 + i, i // 2 + 1, forged=i == 17)))
            before = service.verifier.batches if service.verifier else 0
            answers = await asyncio.gather(*(place(service, w, aid, b) for w, b in bodies))
            assert answers[17] == "bad_signature"
            accepted = [a for i, a in enumerate(answers) if i != 17]
            assert all(isinstance(a, dict) and a["accepted"] for a in accepted), answers
            assert [a["seq"] for a in accepted] == sorted(a["seq"] for a in accepted)
            amounts = [b.amount for b in house.state(aid).bids]
            assert amounts == [100 + i for i in range(40) if i != 17]
            # verified off the loop: every check by the worker, in fewer hand-offs than bids
            assert service.verifier is not None
            assert service.verifier.verified >= 40
            assert 1 <= service.verifier.batches - before < 40
            assert house.rejections["bad_signature"] == 1
            assert house.reputation("bob")["strikes"] == 1  # the forged bid was bob's (i = 17)
        finally:
            await service.stop()

    asyncio.run(main())


def test_a_resend_and_a_replayed_nonce_within_one_batch(tmp_path: Path, clock: FakeClock) -> None:
    async def main() -> None:
        service, aid = await started(tmp_path, clock)
        try:
            house = service.house
            alice = Bidder(house, "alice", aid, clock.now())
            first = alice.bid(100, 1)
            replay = alice.bid(150, 1)  # a different bid with the spent nonce
            burst = [first, first, replay, alice.bid(200, 2)]
            answers = await asyncio.gather(*(place(service, "alice", aid, b) for b in burst))
            assert answers[0]["seq"] == answers[1]["seq"]  # the resend: the original ack
            assert answers[1] == answers[0]
            assert answers[2] == "replayed_nonce"
            assert answers[3]["accepted"] and answers[3]["seq"] > answers[0]["seq"]
            assert house.resent_bids == 1
            assert [b.amount for b in house.state(aid).bids] == [100, 200]
            # the nonce stays spent: the same replay in a later batch is refused again
            assert await place(service, "alice", aid, alice.bid(300, 2)) == "replayed_nonce"
        finally:
            await service.stop()

    asyncio.run(main())


def test_a_dead_worker_changes_no_answer(tmp_path: Path, clock: FakeClock) -> None:
    async def main() -> None:
        service, aid = await started(tmp_path, clock)
        try:
            verifier = service.verifier
            assert verifier is not None and verifier._proc is not None
            verifier._proc.kill()
            await verifier._proc.wait()
            alice = Bidder(service.house, "alice", aid, clock.now())
            bodies = [alice.bid(100 + i, i + 1, forged=i == 3) for i in range(8)]
            answers = await asyncio.wait_for(
                asyncio.gather(*(place(service, "alice", aid, b) for b in bodies)), 30
            )
            assert answers[3] == "bad_signature"
            assert all(a["accepted"] for i, a in enumerate(answers) if i != 3)
            assert await verifier.warm()  # and it comes back
        finally:
            await service.stop()

    asyncio.run(main())


def test_the_house_trusts_a_verdict_only_for_exactly_what_it_verified(
    house: AuctionHouse, clock: FakeClock
) -> None:
    house.create_account("seller", "correct horse")
    aid = house.create_auction("seller", "lot", "english", {"signed_bids": True})["id"]
    alice = Bidder(house, "alice", aid, clock.now())
    good = alice.bid(100, 1)
    key = alice.key.verify_key.encode().hex()
    fields = (aid, "alice", good["amount"], good["nonce"], good["ts"], None)
    # A verdict is used: one that (wrongly) says no refuses a good signature ...
    lying = make_check(key, fields, good["signature"])
    assert lying is not None
    lying.valid = False
    with house.verdicts([lying]), pytest.raises(AuctionhouseError) as info:
        house.place_bid("alice", aid, **good)
    assert info.value.code == "bad_signature"
    # ... but a "yes" for another bid (another amount) is not: the house verifies itself.
    forged = alice.bid(500, 2, forged=True)
    other = make_check(key, (aid, "alice", 501, 2, forged["ts"], None), forged["signature"])
    assert other is not None
    other.valid = True
    with house.verdicts([other]), pytest.raises(AuctionhouseError) as info:
        house.place_bid("alice", aid, **forged)
    assert info.value.code == "bad_signature"
    assert house.place_bid("alice", aid, **alice.bid(100, 3))["accepted"]


def test_a_batch_of_good_and_bad_signatures_is_one_hand_off() -> None:
    key = SigningKey.generate()
    public = key.verify_key.encode().hex()

    async def main() -> None:
        verifier = BatchVerifier(1)
        try:
            assert await verifier.warm()
            checks = []
            for i in range(50):
                fields = ("1", "bob", i + 1, i, 1.5, None)
                signed = bid_message(*fields) if i % 7 else b"another bid"
                check = make_check(public, fields, sign(key, signed))
                assert check is not None
                verifier.submit(check)
                checks.append(check)
            await verifier.settle(checks)
            assert [c.valid for c in checks] == [i % 7 != 0 for i in range(50)]
            assert verifier.batches == 1
        finally:
            await verifier.close()

    asyncio.run(main())


def test_checks_that_cannot_be_made_ahead_are_left_to_the_house() -> None:
    public = SigningKey.generate().verify_key.encode().hex()
    good = "ab" * 64
    fields = ("1", "bob", 5, 1, 1.5, None)
    assert make_check(public, fields, good) is not None
    for signature in ("ab" * 63 + " \n", "zz" * 64, "ab" * 63, None, 5):
        assert make_check(public, fields, signature) is None
    assert make_check(None, fields, good) is None


names = st.text(min_size=1, max_size=12)
stamps = st.one_of(
    st.integers(min_value=0, max_value=2**40),
    st.floats(min_value=0, max_value=4e9, allow_nan=False, allow_infinity=False),
)


@given(
    names,
    names,
    st.integers(min_value=1, max_value=2**63),
    st.integers(min_value=0, max_value=2**63),
    stamps,
    st.one_of(st.none(), st.integers(min_value=1, max_value=2**63)),
)
def test_the_fast_bid_message_is_json_dumps_byte_for_byte(
    auction: str, bidder: str, amount: int, nonce: int, ts: float, proxy_max: int | None
) -> None:
    body: dict[str, object] = {
        "auction": auction,
        "bidder": bidder,
        "amount": amount,
        "nonce": nonce,
        "ts": ts,
    }
    if proxy_max is not None:
        body["proxy_max"] = proxy_max
    expected = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert bid_message(auction, bidder, amount, nonce, ts, proxy_max) == expected.encode()


def test_a_check_is_for_the_very_fields_it_signed() -> None:
    public = SigningKey.generate().verify_key.encode().hex()
    ts = 1_000_000.5
    check = make_check(public, ("7", "bob", 5, 1, ts, None), "ab" * 64)
    assert check is not None
    assert check.message == bid_message("7", "bob", 5, 1, ts)
    assert check.same_bid(("7", "bob", 5, 1, ts, None))
    # equal numbers of another type sign other bytes ("ts":1 is not "ts":1.0)
    whole = make_check(public, ("7", "bob", 5, 1, 1_000_000, None), "ab" * 64)
    assert whole is not None and not whole.same_bid(("7", "bob", 5, 1, 1_000_000.0, None))
    assert not check.same_bid(("7", "bob", 5, 1, ts, 9))
    assert not check.same_bid(("8", "bob", 5, 1, ts, None))


def test_an_embedded_agents_signed_bids_go_through_the_batched_verifier(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Agents in the server's process place bids like every other face (place_bid_command):
    each signed bid's check goes to the service's verifier, not around it."""
    from auctionhouse.agents.embedded import EmbeddedHouse

    async def main() -> None:
        service, aid = await started(tmp_path, clock)
        try:
            assert service.verifier is not None
            hub = EmbeddedHouse(service)
            key = SigningKey.generate()
            await hub.open_account("agent", "correct horse", key)
            market = hub.market("agent", key)
            before = service.verifier.checks
            bids = [await market.sign_bid(aid, 100 + i) for i in range(3)]
            acks = await asyncio.gather(*(market.send_bid(bid) for bid in bids))
            assert [a["accepted"] for a in acks] == [True] * 3
            assert service.verifier.checks - before == 3
            assert service.verifier.verified + service.verifier.verified_here >= 3
            forged = await market.sign_bid(aid, 500)
            forged = type(forged)(aid, 501, None, forged.nonce, forged.ts, forged.signature)
            with pytest.raises(AuctionhouseError) as info:
                await market.send_bid(forged)
            assert info.value.code == "bad_signature"
            assert service.verifier.checks - before == 4
        finally:
            await service.stop()

    asyncio.run(main())


def test_a_small_batch_with_the_worker_idle_is_verified_on_the_loop() -> None:
    """One or two checks are not worth a round trip to the worker; their verdicts are the same."""
    key = SigningKey.generate()
    public = key.verify_key.encode().hex()

    async def main() -> None:
        verifier = BatchVerifier(1)
        try:
            assert await verifier.warm()
            for signed in (bid_message("1", "bob", 5, 1, 1.5), b"another bid"):
                check = make_check(public, ("1", "bob", 5, 1, 1.5, None), sign(key, signed))
                assert check is not None
                verifier.submit(check)
                await verifier.settle([check])
                assert check.valid is (signed != b"another bid")
            assert (verifier.verified_here, verifier.batches) == (2, 0)
        finally:
            await verifier.close()

    asyncio.run(main())


def test_batches_decided_during_a_write_go_in_the_next_one_transaction(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Group commit: what is decided while the writer is busy is written in one transaction
    as soon as the writer is free (a bid waits for the write in progress and its own)."""
    import threading

    async def main() -> None:
        service, aid = await started(tmp_path, clock)
        try:
            house = service.house
            alice = Bidder(house, "alice", aid, clock.now())
            store = house.ledger.store

            def records() -> int:  # signed batch records: one per transaction
                return sum(b'"kind":"batch"' in bytes(r.payload) for r in store.checkpoints())

            before = records()
            busy, release = threading.Event(), threading.Event()
            loop = asyncio.get_running_loop()
            blocked = loop.run_in_executor(service._writer, lambda: (busy.set(), release.wait(10)))
            assert await loop.run_in_executor(None, busy.wait, 10)
            calls = []
            # Four bids, each decided in a batch of its own: the first one's transaction is
            # handed to the writer (busy), the next three wait for it and share the next.
            for i in range(4):
                body = alice.bid(100 + i, i + 1)
                calls.append(asyncio.ensure_future(place(service, "alice", aid, body)))
                for _ in range(1000):
                    if service._unwritten_commands == i + 1:
                        break
                    await asyncio.sleep(0.001)
                assert service._unwritten_commands == i + 1
            release.set()
            await blocked
            answers = await asyncio.wait_for(asyncio.gather(*calls), 30)
            assert [a["accepted"] for a in answers] == [True] * 4
            assert records() == before + 2  # the first bid's transaction, then one for three
        finally:
            await service.stop()

    asyncio.run(main())
