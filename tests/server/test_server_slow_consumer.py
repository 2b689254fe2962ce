"""A WebSocket client that stops reading is dropped (close code 4008) once its bounded send
queue is full; the other watchers keep getting every event, in order, with no gap."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
import websockets
from server_helpers import (
    Api,
    collect_seqs,
    flood_server,
    slow_and_fast,
    until_seq,
    ws_auth,
    ws_connections,
    ws_until,
)

pytestmark = pytest.mark.e2e

BIG = "x" * 5000  # each event carries the view, so the item's description makes frames large


def test_a_slow_reader_is_dropped_and_others_are_not_held_up(tmp_path: Path) -> None:
    with flood_server(tmp_path, {"ws_send_queue": 256}) as (server, client):
        api = Api(client)
        api.account("seller")
        api.account("ann")
        body = {
            "item": {"name": "lot", "description": BIG},
            "method": "english",
            "rules": {"duration": 600},
        }
        aid = client.post("/api/v1/auctions", json=body, headers=api.auth("seller")).json()["id"]

        async def scenario() -> None:
            slow, fast = await slow_and_fast(server.port, server.ws_url)
            bidder = await websockets.connect(server.ws_url)
            await ws_auth(bidder, api.tokens["ann"])
            for ws in (slow, fast):
                await ws.send(json.dumps({"op": "subscribe", "auctions": [aid]}))
            await ws_until(fast, lambda m: m["type"] == "subscribed")
            assert ws_connections(client) == 3

            seqs: list[int] = []
            reader = collect_seqs(fast, "event", seqs)
            amount = 0
            deadline = time.monotonic() + 60
            # Bid until the server has dropped the reader that stopped reading.
            while await asyncio.to_thread(ws_connections, client) > 2:
                assert time.monotonic() < deadline, "the slow reader was never dropped"
                for _ in range(100):
                    amount += 1
                    await bidder.send(json.dumps({"op": "bid", "auction": aid, "amount": amount}))
                last = amount
                await ws_until(
                    bidder,
                    lambda m, last=last: m["type"] == "ack" and m["ack"]["seq"] == last + 1,
                    30,
                )
            # The fast watcher still gets everything, live.
            for _ in range(10):
                amount += 1
                await bidder.send(json.dumps({"op": "bid", "auction": aid, "amount": amount}))
            final_seq = amount + 1  # AuctionCreated is seq 1
            await until_seq(seqs, final_seq)
            assert seqs == list(range(2, final_seq + 1))  # seq 1 came with the catch-up
            assert amount < 30_000, amount
            # The slow one, once it reads again, finds its queue was cut off with 4008.
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(slow.recv(), 30)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008
            reader.cancel()
            await fast.close()
            await bidder.close()

        asyncio.run(scenario())
        stats = client.get("/metrics").text
        assert "auctionhouse_websocket_connections 0.0" in stats or ws_connections(client) <= 1
