"""The sync and async SDK against a real ``auctionhouse serve``: all four methods, bids over HTTP
and WebSocket, signed bids, typed errors, watching until the close."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from auctionhouse.client import AsyncClient, BidKey, Client, HouseUnreachable
from auctionhouse.errors import (
    AlreadyBid,
    BidTooLow,
    CannotCancel,
    Conflict,
    Forbidden,
    NotFound,
    ReplayedNonce,
    SellerCannotBid,
    SignatureRequired,
    Unauthorized,
)
from serve_process import free_port

from .conftest import HouseProcess, run_async

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery"


def _accounts(url: str, prefix: str, tmp: Path) -> tuple[Client, Client, Client]:
    """A seller, a bidder with a registered key, and a bidder without one (all logged in)."""
    seller, signer, plain = (
        Client(url),
        Client(url, key=BidKey.generate(tmp / f"{prefix}.pem")),
        Client(url),
    )
    seller.create_account(f"{prefix}-seller", PASSWORD)
    assert signer.key is not None
    signer.create_account(f"{prefix}-signer", PASSWORD, public_key=signer.key.public_key)
    plain.create_account(f"{prefix}-plain", PASSWORD)
    for client, name in ((seller, "seller"), (signer, "signer"), (plain, "plain")):
        client.login(f"{prefix}-{name}", PASSWORD)
        assert client.account == f"{prefix}-{name}"
    return seller, signer, plain


def _event_seqs(messages: list[dict[str, Any]], auction: str) -> list[int]:
    return [m["seq"] for m in messages if m.get("type") == "event" and m.get("auction") == auction]


def test_sync_english_signed_and_unsigned_bids_errors_and_watch(
    house_server: HouseProcess, tmp_path: Path
) -> None:
    seller, signer, plain = _accounts(house_server.url, "en", tmp_path)
    with seller, signer, plain:
        offset = seller.sync_clock()
        assert abs(seller.server_now() - (time.time() + offset)) < 0.5
        view = seller.create_auction(
            "brass lamp",
            "english",
            {"starting_price": 100, "min_increment": 10, "duration": 3},
            description="1920s",
        )
        auction = view["id"]
        assert view["state"] == "open" and view["item"] == {
            "name": "brass lamp",
            "description": "1920s",
            "photos": [],
        }

        seen: list[dict[str, Any]] = []

        def follow() -> None:  # until the fourth bid's event (seq 5)
            for message in plain.watch([auction]):
                seen.append(message)
                if message.get("seq") == 5:
                    return

        watcher = threading.Thread(target=follow, daemon=True)
        watcher.start()

        ack = signer.bid(auction, 100)  # signed: the client holds a key
        assert ack["accepted"] and ack["leader"] == "en-signer" and ack["price"] == 100
        with pytest.raises(BidTooLow) as low:
            plain.bid(auction, 105)
        assert low.value.code == "bid_too_low" and low.value.fields["minimum"] == 110
        assert plain.bid(auction, 110)["leader"] == "en-plain"
        with pytest.raises(SellerCannotBid):
            seller.bid(auction, 500)
        ws_ack = signer.bid(auction, 200, via="ws")
        assert ws_ack["price"] == 200 and ws_ack["leader"] == "en-signer"
        with pytest.raises(CannotCancel):
            seller.cancel(auction)

        raised = signer.bid(auction, 300, proxy_max=1000)  # seq 5: already leading, price stays
        assert (raised["price"], raised["leader"]) == (200, "en-signer")
        watcher.join(timeout=30)
        assert not watcher.is_alive()
        assert seen[0]["type"] == "snapshot"
        assert _event_seqs(seen, auction) == [1, 2, 3, 4, 5]
        # The leader's raise (seq 5) is public without its amount: that is its maximum's floor.
        assert [m["event"]["amount"] for m in seen if m.get("seq", 0) > 1] == [100, 110, 200, None]
        events = [m["event"] for m in seen if m.get("type") == "event"]
        assert all("proxy_max" not in e and 1000 not in e.values() for e in events)

        view = plain.auction(auction)
        assert (view["price"], view["leader"], view["result"]) == (200, "en-signer", None)
        assert signer.auction(auction)["you"]["max"] == 1000  # only the bidder sees its maximum
        bids = [e for e in plain.events(auction)["events"] if e["type"] == "BidPlaced"]
        assert [b["amount"] for b in bids] == [100, 110, 200, None]
        listed = plain.list_auctions(seller="en-seller")
        assert [a["id"] for a in listed["auctions"]] == [auction]
        assert signer.me()["reputation"]["bids"] == 3


async def _dutch_and_sealed(url: str, prefix: str, tmp: Path) -> None:
    key = BidKey.generate(tmp / f"{prefix}.pem")
    async with (
        AsyncClient(url) as seller,
        AsyncClient(url, key=key) as alice,
        AsyncClient(url) as bob,
    ):
        await seller.create_account(f"{prefix}-s", PASSWORD)
        await alice.create_account(f"{prefix}-a", PASSWORD, public_key=key.public_key)
        await bob.create_account(f"{prefix}-b", PASSWORD)
        await asyncio.gather(
            seller.login(f"{prefix}-s", PASSWORD),
            alice.login(f"{prefix}-a", PASSWORD),
            bob.login(f"{prefix}-b", PASSWORD),
        )

        dutch = await seller.create_auction(
            "tulips", "dutch", {"starting_price": 10_000, "decrement": 100, "tick_seconds": 0.2}
        )
        price = (await bob.auction(dutch["id"]))["price"]
        ack = await bob.bid(dutch["id"], price, via="ws")
        assert ack["result"]["outcome"] == "sold" and ack["result"]["winner"] == f"{prefix}-b"
        assert ack["result"]["price"] <= price

        fpsb = await seller.create_auction("painting", "fpsb", {"expected_bids": 2, "duration": 60})
        vickrey = await seller.create_auction(
            "stamp", "vickrey", {"expected_bids": 2, "duration": 60}
        )
        collected: list[dict[str, Any]] = []

        async def follow() -> None:
            async for message in bob.watch([fpsb["id"], vickrey["id"]], until_closed=True):
                collected.append(message)

        follower = asyncio.create_task(follow())
        for auction in (fpsb["id"], vickrey["id"]):
            await alice.bid(auction, 500)  # signed, over HTTP
            with pytest.raises(AlreadyBid):
                await alice.bid(auction, 900)
            await bob.bid(auction, 700, via="ws")
        await asyncio.wait_for(follower, timeout=30)

        assert (await bob.auction(fpsb["id"]))["result"]["price"] == 700
        result = (await bob.auction(vickrey["id"]))["result"]
        assert (result["winner"], result["price"]) == (f"{prefix}-b", 500)
        for auction in (fpsb["id"], vickrey["id"]):
            seqs = _event_seqs(collected, auction)
            assert seqs == list(range(1, len(seqs) + 1))
            sealed = [
                m["event"]
                for m in collected
                if m.get("auction") == auction and m.get("type") == "event"
            ]
            assert all("amount" not in e for e in sealed if e["type"] == "BidPlaced")
            assert sealed[-1]["type"] == "AuctionClosed"


def test_async_dutch_fpsb_vickrey_over_http_and_ws(
    house_server: HouseProcess, tmp_path: Path
) -> None:
    run_async(_dutch_and_sealed(house_server.url, "sealed", tmp_path))


def test_errors_come_back_typed(house_server: HouseProcess, tmp_path: Path) -> None:
    seller, signer, plain = _accounts(house_server.url, "err", tmp_path)
    with seller, signer, plain:
        with pytest.raises(Conflict):
            plain.create_account("err-plain", PASSWORD)
        with Client(house_server.url) as anon:
            with pytest.raises(Unauthorized):
                anon.login("err-plain", "wrong password!")
            with pytest.raises(Unauthorized, match="log in"):
                anon.bid("1", 100)
            anon.token = "not-a-token"
            with pytest.raises(Unauthorized):
                anon.me()
        with pytest.raises(NotFound):
            plain.auction("999999")

        view = seller.create_auction("chair", "english", {"duration": 60})
        with Client(house_server.url, token="an-expired-token") as stale:
            assert stale.auction(view["id"])["id"] == view["id"]  # public: answered anyway
            with pytest.raises(Unauthorized):
                stale.cancel(view["id"])
        with pytest.raises(Forbidden):
            plain.cancel(view["id"])
        cancelled = seller.cancel(view["id"], "changed my mind")
        assert cancelled["result"]["outcome"] == "cancelled"

        signed_only = seller.create_auction(
            "vase", "english", {"duration": 60, "signed_bids": True}
        )
        with pytest.raises(SignatureRequired):
            plain.bid(signed_only["id"], 10)
        assert signer.bid(signed_only["id"], 10)["accepted"]
        presigned = signer.signature(signed_only["id"], 20)
        first = signer.bid(signed_only["id"], 20, presigned=presigned)
        assert first["price"] == 10  # the leader raised its maximum, not its price
        # Resent as is (a lost answer): the original ack, never placed twice, no strike.
        assert signer.bid(signed_only["id"], 20, presigned=presigned) == first
        assert len(signer.events(signed_only["id"])["events"]) == 3
        assert signer.reputation(signer.account)["strikes"] == 0
        assert signer.key is not None and signer.account is not None
        other = dict(presigned)  # a different bid, validly signed, with the spent nonce
        other["signature"] = signer.key.sign_bid(
            signed_only["id"], signer.account, 30, presigned["nonce"], presigned["ts"]
        )
        with pytest.raises(ReplayedNonce):
            signer.bid(signed_only["id"], 30, presigned=other)
        with pytest.raises(SignatureRequired):
            signer.bid(signed_only["id"], 30, signed=False)


def test_an_unreachable_house_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with Client(url, timeout=2) as client:
        with pytest.raises(HouseUnreachable, match="cannot reach"):
            client.time()
        with pytest.raises(HouseUnreachable):
            next(iter(client.watch(["1"], give_up_after=0.3)))


async def _watch_everything(url: str) -> None:
    async with AsyncClient(url) as seller, AsyncClient(url) as viewer:
        await seller.create_account("star-seller", PASSWORD)
        await seller.login("star-seller", PASSWORD)
        wanted: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def follow() -> dict[str, Any]:
            async for message in viewer.watch("*"):
                if message.get("type") == "event" and message.get("auction") == await wanted:
                    return message
            raise AssertionError("the watch ended")

        follower = asyncio.create_task(follow())
        created = await seller.create_auction("kite", "english", {"duration": 60})
        wanted.set_result(created["id"])
        message = await asyncio.wait_for(follower, timeout=30)
        assert message["seq"] == 1 and message["event"]["type"] == "AuctionCreated"


def test_watch_everything_sees_new_auctions(house_server: HouseProcess) -> None:
    run_async(_watch_everything(house_server.url))


async def _gap_and_duplicate(url: str) -> None:
    from auctionhouse.client.watch import _accept, _Progress

    async with AsyncClient(url) as seller, AsyncClient(url) as bidder:
        for client, name in ((seller, "gap-seller"), (bidder, "gap-bidder")):
            await client.create_account(name, PASSWORD)
            await client.login(name, PASSWORD)
        auction = (await seller.create_auction("gong", "english", {"duration": 60}))["id"]
        for amount in (10, 20, 30):  # seqs 2, 3, 4
            await bidder.bid(auction, amount)
        logged = (await bidder.events(auction))["events"]
        progress = _Progress([auction], {auction: 1})
        # A push of seq 4 when seq 1 was the last seen (a house that skipped 2 and 3).
        pushed = {"type": "event", "auction": auction, "seq": 4, "event": logged[3], "view": {}}
        out = [m async for m in _accept(bidder, progress, pushed)]
        assert [m["seq"] for m in out] == [2, 3, 4]
        assert [m["event"] for m in out] == logged[1:4]
        assert out[0]["view"] is None and out[-1] is pushed
        assert [m async for m in _accept(bidder, progress, pushed)] == []  # a duplicate
        assert progress.last == {auction: 4}


def test_watch_fills_a_gap_from_the_log_and_drops_duplicates(house_server: HouseProcess) -> None:
    run_async(_gap_and_duplicate(house_server.url))
