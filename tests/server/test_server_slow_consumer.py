"""A WebSocket client that stops reading is dropped (close code 4008) once its bounded send
queue is full; the other watchers keep getting every event, in order, with no gap."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import httpx
import pytest
import websockets
from server_helpers import Api, live_server, ws_auth, ws_until

pytestmark = pytest.mark.e2e

BIG = "x" * 5000  # each event carries the view, so the item's description makes frames large


def connections(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("auctionhouse_websocket_connections "):
            return float(line.split()[1])
    raise AssertionError("no connections gauge")


def test_a_slow_reader_is_dropped_and_others_are_not_held_up(tmp_path: Path) -> None:
    with (
        live_server(
            tmp_path,
            {"ws_send_queue": 256},
            account_rate=100_000.0,
            account_burst=100_000.0,
            address_rate=100_000.0,
            address_burst=100_000.0,
        ) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
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
            raw = socket.socket()
            raw.setsockopt(
                socket.SOL_SOCKET, socket.SO_RCVBUF, 4096
            )  # before connect: no autotuning
            raw.connect(("127.0.0.1", server.port))
            slow = await websockets.connect(server.ws_url, sock=raw, max_queue=1)
            fast = await websockets.connect(server.ws_url, max_size=None)
            bidder = await websockets.connect(server.ws_url)
            await ws_auth(bidder, api.tokens["ann"])
            for ws in (slow, fast):
                await ws.send(json.dumps({"op": "subscribe", "auctions": [aid]}))
            await ws_until(fast, lambda m: m["type"] == "subscribed")
            assert connections(client) == 3

            seqs: list[int] = []

            async def read_fast() -> None:
                async for frame in fast:
                    message = json.loads(frame)
                    if message["type"] == "event":
                        seqs.append(message["seq"])

            reader = asyncio.create_task(read_fast())
            amount = 0
            deadline = time.monotonic() + 60
            # Bid until the server has dropped the reader that stopped reading.
            while await asyncio.to_thread(connections, client) > 2:
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
            deadline = time.monotonic() + 30
            while (not seqs or seqs[-1] < final_seq) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
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
        assert "auctionhouse_websocket_connections 0.0" in stats or connections(client) <= 1
