"""Markets over the network, end to end on a real ``auctionhouse serve`` process: the SDK (sync
and async, HTTP and WebSocket), refusals with their codes that change nothing, the public book
and trades, the live WebSocket stream, and the audit of the ledger after."""

from __future__ import annotations

import itertools

import pytest

import http_helpers
from auctionhouse.client import AsyncClient, Client
from auctionhouse.client.keys import BidKey
from auctionhouse.errors import (
    AuctionhouseError,
    BadSignature,
    InvalidOrder,
    InvalidRequest,
    MarketClosedError,
    NotFound,
    NotYourOrder,
    ReplayedNonce,
    Unauthorized,
)
from auctionhouse.house.signing import order_message, sign
from auctionhouse.ledger import audit_database

from .conftest import HouseProcess, run_async


def _trader(url: str, name: str) -> Client:
    client = Client(url, key=BidKey.generate())
    client.create_account(name, "correct horse battery")
    client.login(name, "correct horse battery")
    client.register_key()
    return client


def test_markets_over_http_and_ws(house_server: HouseProcess) -> None:
    url = house_server.url
    ann, bob, cat = (_trader(url, n) for n in ("mk-ann", "mk-bob", "mk-cat"))
    try:
        market = ann.create_market("widgets", max_price=10_000, max_quantity=100)
        mid = market["id"]
        assert market["kind"] == "cda" and market["state"] == "open"
        assert bob.order(mid, "sell", 101, 2)["remaining"] == 2
        assert cat.order(mid, "sell", 100, 3, via="ws")["remaining"] == 3
        ack = ann.order(mid, "buy", 102, 4)
        assert [(t["seller"], t["price"], t["quantity"]) for t in ack["trades"]] == [
            ("mk-cat", 100, 3),
            ("mk-bob", 101, 1),
        ]
        assert ann.book(mid) == {"bids": [], "asks": [[101, 1, 1]], "seq": ack["seq"]}
        assert [t["price"] for t in ann.trades(mid)["trades"]] == [100, 101]
        resting = bob.my_orders(mid)["orders"]
        assert [(o["price"], o["remaining"]) for o in resting] == [(101, 1)]
        # refusals: stable codes, nothing changes
        before = (ann.book(mid), ann.market_events(mid))
        for call, error in [
            (lambda: cat.order(mid, "buy", 0, 1), InvalidOrder),
            (lambda: cat.order(mid, "buy", 10, -1), InvalidOrder),
            (lambda: cat.order(mid, "buy", 10_001, 1), InvalidOrder),
            (lambda: cat.order(mid, "buy", 10, 101), InvalidOrder),
            (lambda: cat.cancel_order(mid, resting[0]["order_id"]), NotYourOrder),
            (lambda: cat.cancel_order(mid, 999), NotFound),
            (lambda: cat.order("m999", "buy", 10, 1), NotFound),
        ]:
            with pytest.raises(error):
                call()
        assert (ann.book(mid), ann.market_events(mid)) == before
        _bad_signatures(url, cat, mid)
        assert (ann.book(mid), ann.market_events(mid)) == before
        # the public log hides who placed an order; trades name their accounts
        events = ann.market_events(mid)["events"]
        assert all("trader" not in e and "signature" not in e for e in events)
        cancel = bob.cancel_order(mid, resting[0]["order_id"], via="ws")
        assert cancel["cancelled"] == 1
        # live: the stream starts with a snapshot, then every event with the book after it
        seen = run_async(_watch_two_events(url, mid, ann.token, ann.key))
        assert seen[0]["type"] == "market" and seen[0]["view"]["id"] == mid
        assert [m["event"]["type"] for m in seen[1:]] == ["OrderPlaced", "OrderPlaced"]
        assert seen[-1]["book"]["bids"][0][0] == 90
        ann.close_market(mid, "end of day")
        with pytest.raises(MarketClosedError):
            bob.order(mid, "sell", 101, 1)
        assert ann.market(mid)["state"] == "closed"
        listed = [m["id"] for m in Client(url).markets(state="closed")["markets"]]
        assert mid in listed
    finally:
        for client in (ann, bob, cat):
            client.close()
    house_server.stop()
    try:
        report = audit_database(house_server.db)
        assert report.ok, report.findings
        assert report.seals >= 1
    finally:
        house_server.start()


def _bad_signatures(url: str, cat: Client, mid: str) -> None:
    """Orders with a forged signature, a spent nonce, and no token, sent by hand."""
    assert cat.token is not None and cat.account is not None and cat.key is not None
    headers = {"Authorization": f"Bearer {cat.token}"}
    ts = cat.server_now()
    other = BidKey.generate()
    forged = sign(other.signing_key, order_message(mid, cat.account, "buy", 50, 1, 10**15, ts))
    body = {"side": "buy", "price": 50, "quantity": 1, "nonce": 10**15, "ts": ts}
    answer = http_helpers.post(
        f"{url}/api/v1/markets/{mid}/orders",
        json={**body, "signature": forged},
        headers=headers,
    )
    assert answer.status_code == 401 and answer.json()["error"]["code"] == BadSignature.code
    spent = {**body, "nonce": 1}
    spent["signature"] = cat.key.sign_order(mid, cat.account, "buy", 50, 1, 1, ts)
    answer = http_helpers.post(f"{url}/api/v1/markets/{mid}/orders", json=spent, headers=headers)
    assert answer.json()["error"]["code"] == ReplayedNonce.code
    answer = http_helpers.post(f"{url}/api/v1/markets/{mid}/orders", json=spent)
    assert answer.json()["error"]["code"] == Unauthorized.code
    answer = http_helpers.post(
        f"{url}/api/v1/markets/{mid}/orders", json={**spent, "price": "12"}, headers=headers
    )
    assert answer.json()["error"]["code"] == InvalidRequest.code


async def _watch_two_events(url: str, mid: str, token: str | None, key: BidKey | None) -> list:
    watcher = AsyncClient(url)
    trader = AsyncClient(url, token=token, key=key)
    seen: list = []
    try:
        stream = watcher.watch_market(mid)
        seen.append(await stream.__anext__())
        await trader.order(mid, "buy", 90, 1)
        await trader.order(mid, "buy", 80, 1, via="ws")
        while len(seen) < 3:
            seen.append(await stream.__anext__())
        await stream.aclose()  # type: ignore[attr-defined]
    finally:
        await watcher.aclose()
        await trader.aclose()
    return seen


def test_a_call_market_clears_on_the_server_timer(house_server: HouseProcess) -> None:
    url = house_server.url
    ann, bob = (_trader(url, n) for n in ("mk-call-ann", "mk-call-bob"))
    try:
        mid = ann.create_market("calls", "call", call_interval=1.0)["id"]
        ann.order(mid, "buy", 10, 5)
        bob.order(mid, "sell", 6, 3)
        crossed = ann.book(mid)  # a call market's book may cross until the call
        assert crossed["bids"][0][0] == 10 and crossed["asks"][0][0] == 6
        cleared = False
        # bounded: the snapshot, then at most the CallCleared and its Trade (and a spare)
        for message in itertools.islice(ann.watch_market(mid, give_up_after=10), 5):
            if message["type"] == "market" and message["view"]["trades"] > 0:
                cleared = True  # cleared before the snapshot
            elif message["type"] == "market_event" and message["event"]["type"] == "Trade":
                cleared = True
            if cleared:
                break
        assert cleared
        trades = ann.trades(mid)["trades"]
        assert [(t["price"], t["quantity"], t["aggressor"]) for t in trades] == [(8, 3, None)]
        assert ann.book(mid)["bids"] == [[10, 2, 1]]
    finally:
        ann.close()
        bob.close()


def test_the_market_socket_refuses_with_codes(house_server: HouseProcess) -> None:
    async def scenario() -> list[str]:
        client = AsyncClient(house_server.url)
        codes: list[str] = []
        socket = await client.market_socket()
        try:
            for message in (
                {"op": "order", "market": "m1", "side": "buy", "price": 1, "quantity": 1},
                {"op": "subscribe", "markets": ["m404"]},
                {"op": "subscribe", "markets": []},
                {"op": "dance"},
                {"op": "auth", "token": "not a token"},
            ):
                try:
                    await socket.request(message)
                except AuctionhouseError as exc:
                    codes.append(exc.code)
            answer = await socket.request({"op": "time"})
            assert isinstance(answer["server_time"], float)
        finally:
            await socket.close()
            await client.aclose()
        return codes

    assert run_async(scenario()) == [
        "unauthorized",
        "not_found",
        "invalid_request",
        "invalid_request",
        "unauthorized",
    ]
