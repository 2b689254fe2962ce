"""Two and three real ``auctionhouse serve`` processes on one PostgreSQL database (started by the
tests): bidders on every instance bid on the same auctions over WebSocket, one instance is
killed with kill -9 mid-stream, and then: no acknowledged bid is lost or doubled, each auction
closes once (made by a survivor), the watchers on the survivors saw every event of every
instance in order with no gap, and the audit passes."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import websockets
from server_helpers import Api, ws_until

import http_helpers
import pg_cluster
from auctionhouse.auction import AuctionClosed, BidPlaced
from auctionhouse.ledger import audit_database
from auctionhouse.ledger.encoding import decode_event
from auctionhouse.ledger.postgres import PostgresStore
from serve_process import ServeProcess

pytestmark = pytest.mark.e2e

LIMITS = {
    f"AUCTIONHOUSE_HOUSE_{name}": "100000"
    for name in ("ACCOUNT_RATE", "ACCOUNT_BURST", "ADDRESS_RATE", "ADDRESS_BURST")
}
DURATION = 10.0  # seconds each auction runs: the kill and the close both fall inside the test
DEADLINE = 60.0


def ws_url(server: ServeProcess) -> str:
    return server.url.replace("http://", "ws://") + "/api/v1/ws"


async def bid_stream(
    server: ServeProcess,
    token: str,
    auction: str,
    offset: int,
    acked: list[tuple[str, int, int, str]],
    who: str,
) -> None:
    """Pipelined bids on one socket until the auction closes or the server dies."""
    try:
        async with websockets.connect(ws_url(server)) as ws:
            await ws.send(json.dumps({"op": "auth", "token": token}))  # never in the URL
            await ws_until(ws, lambda m: m["type"] == "auth")
            amount, in_flight = offset, {}
            end = time.monotonic() + DEADLINE
            while time.monotonic() < end:
                while len(in_flight) < 4:
                    amount += 7
                    in_flight[amount] = amount
                    await ws.send(
                        json.dumps(
                            {"op": "bid", "id": amount, "auction": auction, "amount": amount}
                        )
                    )
                message = json.loads(await asyncio.wait_for(ws.recv(), 15))
                if message["type"] == "ack":
                    acked.append(
                        (auction, message["ack"]["seq"], in_flight.pop(message["id"]), who)
                    )
                elif message["type"] == "error":
                    in_flight.pop(message.get("id"), None)
                    code = message["error"]["code"]
                    if code == "auction_closed":
                        return
                    assert code == "bid_too_low", message
    except (websockets.ConnectionClosed, OSError, TimeoutError):
        return  # the server was killed


async def watch(server: ServeProcess, auctions: list[str], seen: dict[str, list[int]]) -> None:
    """Every event the server pushes for ``auctions`` until each has closed."""
    open_ = set(auctions)
    async with websockets.connect(ws_url(server)) as ws:
        await ws.send(json.dumps({"op": "subscribe", "auctions": auctions}))
        end = time.monotonic() + DEADLINE + DURATION
        while open_ and time.monotonic() < end:
            message = json.loads(await asyncio.wait_for(ws.recv(), DEADLINE))
            if message["type"] == "event":
                seen[message["auction"]].append(message["seq"])
                if message["event"]["type"] == "AuctionClosed":
                    open_.discard(message["auction"])


@pytest.mark.parametrize("instances", [2, 3])
def test_instances_share_auctions_and_survive_a_kill_9(tmp_path: Path, instances: int) -> None:
    url = pg_cluster.new_database()
    key = tmp_path / "house.key"
    env = {**LIMITS, "AUCTIONHOUSE_KEY_FILE": str(key)}
    servers = [ServeProcess(url, tmp_path / f"serve-{i}.log", env) for i in range(instances)]  # type: ignore[arg-type]
    servers[0].start()  # the first creates the house key the others load
    for server in servers[1:]:
        server.start()
    try:
        api = Api(http_helpers.client(base_url=servers[0].url, timeout=10))
        api.account("seller")
        bidders = [f"b{i}" for i in range(2 * instances)]
        for name in bidders:
            api.account(name)
        auctions = [api.sell("seller", "english", duration=DURATION)["id"] for _ in range(2)]
        acked: list[tuple[str, int, int, str]] = []
        seen: dict[int, dict[str, list[int]]] = {
            i: {a: [] for a in auctions} for i in range(instances)
        }
        victim = servers[1]

        async def scenario() -> None:
            watchers = [
                asyncio.create_task(watch(servers[i], auctions, seen[i]))
                for i in range(instances)
                if servers[i] is not victim
            ]
            streams = [
                asyncio.create_task(
                    bid_stream(
                        servers[i % instances],
                        api.tokens[name],
                        auctions[i % 2],
                        i,
                        acked,
                        name,
                    )
                )
                for i, name in enumerate(bidders)
            ]
            # kill -9 once the victim has acknowledged some bids of its own
            end = time.monotonic() + DEADLINE
            while Counter(w for *_, w in acked)["b1"] < 20 and time.monotonic() < end:
                await asyncio.sleep(0.01)
            victim.kill()
            await asyncio.wait_for(asyncio.gather(*streams, *watchers), DEADLINE + DURATION)

        asyncio.run(scenario())
        for server in servers:
            if server is not victim:
                server.stop()
    finally:
        for server in servers:
            server.kill()

    store = PostgresStore(url, readonly=True)
    events = [decode_event(body) for _pos, body in store.page(0, 1_000_000)]
    store.close()
    by_auction: dict[str, list[Any]] = {
        a: [e for e in events if e.auction_id == a] for a in auctions
    }
    assert any(who == "b1" for *_, who in acked), "the victim acknowledged bids before the kill"
    for aid, log in by_auction.items():
        assert [e.seq for e in log] == list(range(1, len(log) + 1))
        bids = {e.seq: (e.amount, e.bidder) for e in log if isinstance(e, BidPlaced)}
        mine = [(seq, amount, who) for a, seq, amount, who in acked if a == aid]
        assert len({seq for seq, *_ in mine}) == len(mine), "two acks for one seq"
        for seq, amount, who in mine:  # no acknowledged bid lost
            assert bids.get(seq) == (amount, who), f"acked bid {aid}/{seq} is not in the ledger"
        # a bid nobody heard of can only be one the victim committed as it died
        unheard = set(bids) - {seq for seq, *_ in mine}
        on_victim = {name for i, name in enumerate(bidders) if i % instances == 1}
        assert all(bids[seq][1] in on_victim for seq in unheard), unheard
        assert len(unheard) <= 4 * len(on_victim)
        closes = [e for e in log if isinstance(e, AuctionClosed)]
        assert len(closes) == 1 and closes[0] is log[-1], "one close per auction, last"
        for i, watched in seen.items():  # every survivor's watcher: every event, in order
            if servers[i] is victim:
                continue
            assert watched[aid] == [e.seq for e in log], f"watcher on instance {i}"
    report = audit_database(url, key_path=key)
    assert report.ok, report.findings[:5]
