"""End to end against a real ``auctionhouse serve`` process on loopback: accounts, all four
methods over HTTP, bids and watching over WebSocket, resume without gap or duplicate, Dutch
ticks, results."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from server_helpers import Api, LiveServer, error_code, live_server, ws_auth, ws_until

import http_helpers

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("e2e")) as srv:
        yield srv


@pytest.fixture
def api(server: LiveServer) -> Iterator[Api]:
    with http_helpers.client(base_url=server.url, timeout=10) as client:
        yield Api(client)


_names = iter(range(10**6))


def fresh(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


def test_accounts_sessions_and_me(api: Api) -> None:
    alice = fresh("alice")
    api.account(alice)
    me = api.client.get("/api/v1/me", headers=api.auth(alice)).json()
    assert me["id"] == alice and me["role"] == "user" and me["reputation"]["score"] == 1.0
    again = api.client.post("/api/v1/accounts", json={"name": alice, "password": "x" * 10})
    assert again.status_code == 409 and error_code(again) == "conflict"
    wrong = api.client.post("/api/v1/sessions", json={"name": alice, "password": "wrong-pass"})
    assert wrong.status_code == 401 and error_code(wrong) == "unauthorized"
    now = api.client.get("/api/v1/time").json()["now"]
    assert abs(now - time.time()) < 5


def test_all_four_methods_over_http(api: Api) -> None:
    seller, ann, bo = fresh("seller"), fresh("ann"), fresh("bo")
    for name in (seller, ann, bo):
        api.account(name)
    english = api.sell(seller, "english", starting_price=100, min_increment=10, duration=1.5)
    dutch = api.sell(seller, "dutch", starting_price=1000, decrement=100, tick_seconds=0.2)
    fpsb = api.sell(seller, "fpsb", expected_bids=2)
    vickrey = api.sell(seller, "vickrey", duration=1.5)

    # English with a proxy: ann's maximum 500 holds against bo's 300; she pays 310.
    assert api.bid(ann, english["id"], 100, proxy_max=500).status_code == 201
    ack = api.bid(bo, english["id"], 300).json()
    assert ack["leader"] == ann and ack["price"] == 310
    # Dutch: the first accept at the clock price wins at once.
    price = api.view(dutch["id"])["price"]
    ack = api.bid(bo, dutch["id"], price).json()
    assert ack["result"]["outcome"] == "sold" and ack["result"]["winner"] == bo
    # First price sealed: closes when the expected two bids are in; the winner pays its bid.
    assert api.bid(ann, fpsb["id"], 700).json()["bid_count"] == 1
    assert api.bid(bo, fpsb["id"], 650).json()["result"] == {
        "outcome": "sold",
        "winner": ann,
        "price": 700,
        "closed_at": api.view(fpsb["id"])["result"]["closed_at"],
    }
    # Vickrey: the winner pays the second price, at the deadline.
    api.bid(ann, vickrey["id"], 900)
    api.bid(bo, vickrey["id"], 420)

    closed = api.wait_for(english["id"], lambda v: v["result"] is not None)
    assert closed["result"]["winner"] == ann and closed["result"]["price"] == 310
    closed = api.wait_for(vickrey["id"], lambda v: v["result"] is not None)
    assert closed["result"]["winner"] == ann and closed["result"]["price"] == 420
    events = api.events(vickrey["id"])
    assert [e["amount"] for e in events if e["type"] == "BidPlaced"] == [900, 420]

    listed = api.client.get("/api/v1/auctions", params={"seller": seller, "limit": 2}).json()
    assert listed["total"] == 4 and len(listed["auctions"]) == 2
    closed_only = api.client.get(
        "/api/v1/auctions", params={"seller": seller, "state": "closed"}
    ).json()
    assert closed_only["total"] == 4


def test_cancel_pause_and_roles(api: Api, server: LiveServer) -> None:
    seller, other = fresh("seller"), fresh("other")
    api.account(seller)
    api.account(other)
    auction = api.sell(seller, "english", duration=60)
    r = api.client.post(f"/api/v1/auctions/{auction['id']}/cancel", headers=api.auth(other))
    assert r.status_code == 403 and error_code(r) == "forbidden"
    r = api.client.post(f"/api/v1/auctions/{auction['id']}/pause", headers=api.auth(seller))
    assert r.status_code == 403 and error_code(r) == "forbidden"
    r = api.client.post(
        f"/api/v1/auctions/{auction['id']}/cancel",
        headers=api.auth(seller),
        json={"reason": "withdrawn"},
    )
    assert r.status_code == 200 and r.json()["result"]["outcome"] == "cancelled"


def test_websocket_bids_watch_and_resume(api: Api, server: LiveServer) -> None:
    seller, ann, bo = fresh("seller"), fresh("ann"), fresh("bo")
    for name in (seller, ann, bo):
        api.account(name)
    aid = api.sell(seller, "english", duration=60, min_increment=1)["id"]

    async def scenario() -> None:
        async with (
            websockets.connect(server.ws_url) as watcher,
            websockets.connect(server.ws_url) as bidder,
        ):
            await ws_auth(bidder, api.tokens[ann])
            await watcher.send(json.dumps({"op": "subscribe", "auctions": [aid], "id": 1}))
            snapshot, _ = await ws_until(watcher, lambda m: m["type"] == "snapshot")
            assert snapshot["view"]["seq"] == 1 and "server_time" in snapshot
            await ws_until(watcher, lambda m: m["type"] == "subscribed")

            # A bid over the socket: an ack for the bidder, the event pushed to the watcher (how
            # fast is bench_server.py's figure: a latency on a loaded machine is no behaviour).
            for amount in (10, 20, 30):
                await bidder.send(
                    json.dumps({"op": "bid", "id": amount, "auction": aid, "amount": amount})
                )
                event, _ = await ws_until(watcher, lambda m: m["type"] == "event")
                # Alone, ann's later bids raise her secret maximum: the price stays at 10 and
                # the public event does not carry the amount (it is her maximum).
                public = amount if amount == 10 else None
                assert event["event"]["amount"] == public and event["view"]["price"] == 10
                ack, _ = await ws_until(bidder, lambda m: m["type"] in ("ack", "error"))
                assert ack == {"type": "ack", "id": amount, "ack": ack["ack"]}
                assert ack["ack"]["seq"] == event["seq"]

            # Same codes as HTTP.
            await bidder.send(json.dumps({"op": "bid", "id": "low", "auction": aid, "amount": 5}))
            err, _ = await ws_until(bidder, lambda m: m["type"] == "error")
            assert err["id"] == "low" and err["error"]["code"] == "bid_too_low"
            assert err["error"]["minimum"] == 11
            await watcher.send(json.dumps({"op": "bid", "auction": aid, "amount": 99}))
            err, _ = await ws_until(watcher, lambda m: m["type"] == "error")
            assert err["error"]["code"] == "unauthorized"
            last_seen = 4

        # While nobody watches, two more bids (one over HTTP).
        assert api.bid(bo, aid, 40).status_code == 201
        assert api.bid(ann, aid, 50).status_code == 201

        async with websockets.connect(server.ws_url) as watcher:
            await watcher.send(
                json.dumps({"op": "subscribe", "auctions": [aid], "after": {aid: last_seen}})
            )
            _, before = await ws_until(watcher, lambda m: m["type"] == "subscribed")
            assert before[0]["type"] == "snapshot"
            assert [m["seq"] for m in before[1:]] == [5, 6]
            assert [m["event"]["amount"] for m in before[1:]] == [40, 50]
            # Live again, continuing the sequence with no gap and no duplicate.
            assert api.bid(bo, aid, 60).status_code == 201
            event, skipped = await ws_until(watcher, lambda m: m["type"] == "event")
            assert event["seq"] == 7 and not skipped

    asyncio.run(scenario())


def test_dutch_ticks_and_subscribe_all(api: Api, server: LiveServer) -> None:
    seller = fresh("seller")
    api.account(seller)

    async def scenario() -> None:
        async with websockets.connect(server.ws_url) as watcher:
            await watcher.send(json.dumps({"op": "subscribe", "auctions": "*"}))
            await ws_until(watcher, lambda m: m["type"] == "subscribed")
            dutch = await asyncio.to_thread(
                api.sell, seller, "dutch", starting_price=1000, decrement=50, tick_seconds=0.1
            )
            created, _ = await ws_until(
                watcher, lambda m: m["type"] == "event" and m["auction"] == dutch["id"]
            )
            assert created["event"]["type"] == "AuctionCreated"
            ticks: list[dict[str, Any]] = []
            while len(ticks) < 3:
                tick, _ = await ws_until(
                    watcher, lambda m: m["type"] == "tick" and m["auction"] == dutch["id"]
                )
                ticks.append(tick)
            prices = [t["price"] for t in ticks]
            assert prices == sorted(prices, reverse=True) and prices[0] < 1000
            assert all(b - a == 50 for a, b in zip(prices[1:], prices, strict=False))
            assert ticks[-1]["server_time"] > ticks[0]["server_time"]

    asyncio.run(scenario())


def test_errors_have_one_shape(api: Api) -> None:
    r = api.client.get("/api/v1/auctions/does-not-exist")
    assert r.status_code == 404 and r.json() == {
        "error": {"code": "not_found", "message": "no auction 'does-not-exist'"}
    }
    r = api.client.post(
        "/api/v1/accounts", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and error_code(r) == "invalid_request"
    r = api.client.post("/api/v1/accounts", json={"name": "x", "password": 12345678})
    assert r.status_code == 400 and error_code(r) == "invalid_request"
    r = api.client.delete("/api/v1/time")
    assert r.status_code == 405 and error_code(r) == "method_not_allowed"
    r = api.client.post("/api/v1/accounts", content=b"x" * (2 << 20))
    assert r.status_code == 413 and error_code(r) == "too_large"
    assert "openapi" in api.client.get("/openapi.json").json()
    assert api.client.get("/docs").status_code == 200
    assert api.client.get("/").status_code == 200


def test_page_and_metrics(api: Api, server: LiveServer, tmp_path: Path) -> None:
    text = api.client.get("/metrics").text
    for name in (
        "auctionhouse_bid_seconds_bucket",
        "auctionhouse_bids_total",
        "auctionhouse_queue_depth",
        "auctionhouse_websocket_connections",
        'auctionhouse_auctions{state="open"}',
        "process_cpu_seconds_total",
    ):
        assert name in text, name
