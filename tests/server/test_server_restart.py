"""Restart without loss: kill -9 in the middle of a stream of acknowledged bids, restart, and
every acked bid is there (through the API, the ledger and the audit); watchers resume with no
gap and no duplicate; auctions close on time after the restart; SIGTERM stops cleanly."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import websockets
from server_helpers import Api, LiveServer, write_config, ws_auth, ws_until

import http_helpers
from auctionhouse.auction import BidPlaced
from auctionhouse.ledger import HouseKey, Ledger, SQLiteStore, audit_database

pytestmark = pytest.mark.e2e

BIDDERS = 4


async def bid_stream(
    server: LiveServer, token: str, auction: str, acked: list[tuple[str, int, int]], stop_after: int
) -> None:
    """Pipelined bids over one socket until the server dies; records every ack."""
    try:
        async with websockets.connect(server.ws_url) as ws:
            await ws_auth(ws, token)
            amount = 0
            in_flight: dict[int, int] = {}
            while True:
                while len(in_flight) < 8:
                    amount += 1
                    in_flight[amount] = amount
                    await ws.send(
                        json.dumps(
                            {"op": "bid", "id": amount, "auction": auction, "amount": amount}
                        )
                    )
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if message["type"] == "ack":
                    acked.append((auction, message["ack"]["seq"], in_flight.pop(message["id"])))
                elif message["type"] == "error":
                    raise AssertionError(message)
    except (websockets.ConnectionClosed, OSError):
        return


async def watch(
    server: LiveServer, auctions: list[str], seen: dict[str, list[int]], after: dict[str, int]
) -> None:
    try:
        async with websockets.connect(server.ws_url) as ws:
            await ws.send(json.dumps({"op": "subscribe", "auctions": auctions, "after": after}))
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "event":
                    seen[message["auction"]].append(message["seq"])
    except (websockets.ConnectionClosed, OSError):
        return


def test_kill_9_mid_stream_loses_no_acknowledged_bid(tmp_path: Path) -> None:
    db = tmp_path / "house.db"
    config = write_config(
        tmp_path / "house.toml",
        account_rate=10_000.0,
        account_burst=10_000.0,
        address_rate=10_000.0,
        address_burst=10_000.0,
    )
    server = LiveServer(db, config).start()
    try:
        client = http_helpers.client(base_url=server.url, timeout=10)
        api = Api(client)
        api.account("seller")
        names = [f"bidder{i}" for i in range(BIDDERS)]
        for name in names:
            api.account(name)
        auctions = [api.sell("seller", "english", duration=600)["id"] for _ in names]
        # An auction whose deadline falls after the restart: it must close on time.
        closes_at = time.time() + 6.0
        timed = api.sell("seller", "vickrey", closes_at=closes_at)["id"]
        assert api.bid("bidder0", timed, 777).status_code == 201

        acked: list[tuple[str, int, int]] = []
        seen: dict[str, list[int]] = {a: [] for a in auctions}

        async def stream_then_kill() -> None:
            watcher = asyncio.create_task(watch(server, auctions, seen, {}))
            streams = [
                asyncio.create_task(bid_stream(server, api.tokens[n], a, acked, 0))
                for n, a in zip(names, auctions, strict=True)
            ]
            deadline = time.monotonic() + 20
            while len(acked) < 300 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            server.signal(signal.SIGKILL)  # mid-stream: bids are in flight right now
            await asyncio.gather(*streams, watcher)

        asyncio.run(stream_then_kill())
        server.wait()
        client.close()
        assert len(acked) >= 300

        # The ledger on disk, before any restart: every acked bid is there, the audit passes.
        report = audit_database(db)
        assert report.ok, report.findings
        ledger = Ledger(SQLiteStore(db), HouseKey.load(f"{db}.key"))
        try:
            on_disk = {(e.auction_id, e.seq): e for a in auctions for e in ledger.events_for(a)}
        finally:
            ledger.close()
        for aid, seq, amount in acked:
            event = on_disk[(aid, seq)]
            assert isinstance(event, BidPlaced) and event.amount == amount

        # Restart on the same file and port; the API shows the same bids.
        server = LiveServer(db, config, port=server.port).start()
        client = http_helpers.client(base_url=server.url, timeout=10)
        api.client = client
        events = {a: api.events(a) for a in auctions}
        by_key = {(a, e["seq"]): e for a, evs in events.items() for e in evs}
        for aid, seq, _ in acked:
            # (A lone bidder's later bids raise its secret maximum: their public amount is None.)
            assert by_key[(aid, seq)]["type"] == "BidPlaced"
            assert by_key[(aid, seq)]["bidder"] == on_disk[(aid, seq)].bidder
        for aid in auctions:
            assert [e["seq"] for e in events[aid]] == list(range(1, len(events[aid]) + 1))

        # The watcher reconnects from the last seq it saw: no gap, no duplicate.
        async def resume() -> None:
            after = {a: (seen[a][-1] if seen[a] else 0) for a in auctions}
            task = asyncio.create_task(watch(server, auctions, seen, after))
            for i, aid in enumerate(auctions):  # one more live bid each
                await asyncio.to_thread(api.bid, names[i], aid, 10**6)
            deadline = time.monotonic() + 60  # generous: it ends as soon as all came
            while time.monotonic() < deadline:
                if all(seen[a] and seen[a][-1] == len(events[a]) + 1 for a in auctions):
                    break
                await asyncio.sleep(0.02)
            task.cancel()

        asyncio.run(resume())
        for aid in auctions:
            assert seen[aid] == list(range(1, len(events[aid]) + 2)), aid

        # The Vickrey auction closes at its deadline, never earlier: by its restored timer, on
        # time, if the house was up then; at the restart, by the rules, if the kill and a slow
        # restart on a loaded machine outlasted it (both are the house's behaviour; which one
        # this run sees depends on the real clock, so the test checks the one it saw).
        view = api.view(timed)
        if view["result"] is None:
            assert time.time() < closes_at + 1.0, "a due close was not made"
            view = api.wait_for(timed, lambda v: v["result"] is not None, timeout=15)
            assert closes_at <= view["result"]["closed_at"] < closes_at + 1.0
        else:
            assert closes_at <= view["result"]["closed_at"] <= time.time()
        assert view["result"]["outcome"] == "sold"
        client.close()
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.kill()
            server.wait()
    assert audit_database(db).ok


def test_sigterm_drains_and_stops_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "house.db"
    server = LiveServer(db, write_config(tmp_path / "house.toml")).start()
    with http_helpers.client(base_url=server.url, timeout=10) as client:
        api = Api(client)
        api.account("seller")
        api.account("ann")
        aid = api.sell("seller", "english", duration=600)["id"]
        assert api.bid("ann", aid, 100).status_code == 201

    closed: dict[str, Any] = {}

    async def watcher_sees_close() -> None:
        async with websockets.connect(server.ws_url) as ws:
            await ws.send(json.dumps({"op": "subscribe", "auctions": [aid]}))
            await ws_until(ws, lambda m: m["type"] == "subscribed")
            server.signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(ws.recv(), 15)
            except websockets.ConnectionClosed as exc:
                closed["code"] = exc.rcvd.code if exc.rcvd else None

    asyncio.run(watcher_sees_close())
    assert server.wait(timeout=20) == 0
    assert closed["code"] == 1012  # "service restart": reconnect later
    assert "Traceback" not in server.stderr()
    report = audit_database(db)
    assert report.ok and report.to_dict()["checkpoints"] >= 1, report.to_dict()
