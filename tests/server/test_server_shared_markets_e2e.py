"""Markets on two real ``auctionhouse serve`` processes on one PostgreSQL database (started by
the tests): traders on both instances trade over HTTP and WebSocket in a continuous double
auction and in a call market that the instances' own timers clear and close. Then: every
acknowledged order is in the shared ledger once, each call period is cleared once and each
market closed once, watchers on both instances saw every market event in order with no gap,
and the audit passes."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import websockets

import pg_cluster
from auctionhouse.auction.market_events import (
    CallCleared,
    MarketClosed,
    OrderPlaced,
    Trade,
)
from auctionhouse.client import AsyncClient, BidKey
from auctionhouse.errors import MarketClosedError
from auctionhouse.ledger import audit_database
from auctionhouse.ledger.encoding import decode_event
from auctionhouse.ledger.postgres import PostgresStore
from serve_process import ServeProcess

pytestmark = pytest.mark.e2e

LIMITS = {
    f"AUCTIONHOUSE_HOUSE_{name}": "100000"
    for name in ("ACCOUNT_RATE", "ACCOUNT_BURST", "ADDRESS_RATE", "ADDRESS_BURST")
}
DURATION = 6.0  # seconds each market runs: its calls and its close fall inside the test
DEADLINE = 60.0
PASSWORD = "correct horse battery"


async def watch(server: ServeProcess, markets: list[str], seen: dict[str, list[Any]]) -> None:
    """Every market event the server pushes for ``markets`` until each has closed."""
    url = server.url.replace("http://", "ws://") + "/api/v1/markets/ws"
    open_ = set(markets)
    snapshot: dict[str, int] = {}
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"op": "subscribe", "markets": markets, "id": 1}))
        end = time.monotonic() + DEADLINE
        while open_ and time.monotonic() < end:
            message = json.loads(await asyncio.wait_for(ws.recv(), DEADLINE))
            if message["type"] == "market":
                snapshot[message["market"]] = message["seq"]
                assert message["seq"] <= 2, "subscribed before any order"
                seen[message["market"]].extend(range(1, message["seq"] + 1))
            elif message["type"] == "market_event":
                mid = message["market"]
                if message["seq"] <= snapshot[mid]:
                    continue
                seen[mid].append(message["seq"])
                if message["event"]["type"] == "MarketClosed":
                    open_.discard(mid)
    assert not open_, "a market's close never reached this instance's watcher"


async def trade(
    client: AsyncClient, markets: list[str], k: int, acked: list[tuple[str, int, str, int]]
) -> None:
    """Orders, alternately over HTTP and WebSocket, in both markets until both are closed."""
    open_ = list(markets)
    step = 0
    end = time.monotonic() + DEADLINE
    while open_ and time.monotonic() < end:
        step += 1
        mid = open_[step % len(open_)]
        side = "buy" if (k + step) % 2 else "sell"
        price = 100 + (step * 7 + k * 3) % 11
        try:
            ack = await client.order(mid, side, price, 1 + step % 2, via=("http", "ws")[step % 2])
        except MarketClosedError:
            open_.remove(mid)
            continue
        assert client.account is not None
        acked.append((mid, ack["order_id"], client.account, price))


def test_two_instances_run_one_cda_and_one_call_market(tmp_path: Path) -> None:
    url = pg_cluster.new_database()
    key = tmp_path / "house.key"
    env = {**LIMITS, "AUCTIONHOUSE_KEY_FILE": str(key)}
    servers = [ServeProcess(url, tmp_path / f"serve-{i}.log", env) for i in range(2)]  # type: ignore[arg-type]
    servers[0].start()  # the first creates the house key the other loads
    servers[1].start()
    acked: list[tuple[str, int, str, int]] = []
    seen: dict[int, dict[str, list[int]]] = {0: {}, 1: {}}

    async def scenario() -> list[str]:
        clients = []
        for i in range(4):  # two traders on each instance
            client = AsyncClient(servers[i % 2].url, key=BidKey.generate())
            assert client.key is not None
            await client.create_account(f"t{i}", PASSWORD, public_key=client.key.public_key)
            await client.login(f"t{i}", PASSWORD)
            clients.append(client)
        try:
            cda = await clients[0].create_market("copper", duration=DURATION)
            call = await clients[1].create_market(
                "tin", "call", call_interval=1.5, duration=DURATION
            )
            markets = [cda["id"], call["id"]]
            for i in (0, 1):
                seen[i] = {m: [] for m in markets}
            watchers = [asyncio.create_task(watch(servers[i], markets, seen[i])) for i in (0, 1)]
            traders = [trade(c, markets, k, acked) for k, c in enumerate(clients)]
            await asyncio.wait_for(asyncio.gather(*traders, *watchers), DEADLINE + DURATION)
            return markets
        finally:
            for client in clients:
                await client.aclose()

    try:
        markets = asyncio.run(scenario())
        for server in servers:
            server.stop()
    finally:
        for server in servers:
            server.kill()

    store = PostgresStore(url, readonly=True)
    events = [decode_event(body) for _pos, body in store.page(0, 1_000_000)]
    store.close()
    for mid in markets:
        log = [e for e in events if e.auction_id == mid]
        assert [e.seq for e in log] == list(range(1, len(log) + 1))
        placed = {e.order_id: (e.trader, e.price) for e in log if type(e) is OrderPlaced}
        mine = [(order, who, price) for m, order, who, price in acked if m == mid]
        assert len(mine) > 4 and len({order for order, *_ in mine}) == len(mine)
        for order, who, price in mine:  # no acknowledged order lost, none doubled
            assert placed.get(order) == (who, price), f"acked order {mid}/{order} is missing"
        assert len(placed) == len(mine), "an order nobody was told of"
        closes = [e for e in log if type(e) is MarketClosed]
        assert len(closes) == 1 and closes[0] is log[-1], "one close per market, last"
        assert all(t.buyer != t.seller for t in log if type(t) is Trade)
        for i in (0, 1):  # both instances' watchers: every event, in order
            assert seen[i][mid] == [e.seq for e in log], f"watcher on instance {i}"
    call_log = [e for e in events if e.auction_id == markets[1]]
    periods = Counter(e.period for e in call_log if type(e) is CallCleared)
    assert len(periods) >= 3 and set(periods.values()) == {1}, periods  # each period once
    assert any(type(e) is Trade for e in call_log)
    report = audit_database(url, key_path=key)
    assert report.ok, report.findings[:5]
