"""A market WebSocket client that stops reading is dropped (close code 4008) once a send to it
stays blocked for ``ws_send_timeout`` or its bounded queue fills; a reading watcher keeps getting
every market event in order, with no gap."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import httpx
import pytest
import websockets
from nacl.signing import SigningKey
from server_helpers import Api, live_server, ws_auth, ws_until

from auctionhouse.house.signing import order_message, sign

pytestmark = pytest.mark.e2e
MAX_ORDERS = 100_000


def connections(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("auctionhouse_websocket_connections "):
            return float(line.split()[1])
    raise AssertionError("no connections gauge")


def test_a_slow_market_reader_is_dropped_and_others_are_not_held_up(tmp_path: Path) -> None:
    with (
        live_server(
            tmp_path,
            {"ws_send_queue": 1024, "send_timeout": 1.0, "ws_compression": False},
            account_rate=100_000.0,
            account_burst=100_000.0,
            address_rate=100_000.0,
            address_burst=100_000.0,
        ) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        api = Api(client)
        api.account("owner")
        api.account("ann", key=True)
        key: SigningKey = api.keys["ann"]
        mid = client.post(
            "/api/v1/markets", json={"name": "lot"}, headers=api.auth("owner")
        ).json()["id"]
        url = server.ws_url.replace("/api/v1/ws", "/api/v1/markets/ws")
        ts = client.get("/api/v1/time").json()["now"]

        async def scenario() -> None:
            raw = socket.socket()
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect
            raw.connect(("127.0.0.1", server.port))
            slow = await websockets.connect(url, sock=raw, max_queue=1)
            fast = await websockets.connect(url, max_size=None)
            trader = await websockets.connect(url)
            await ws_auth(trader, api.tokens["ann"])
            for ws in (slow, fast):
                await ws.send(json.dumps({"op": "subscribe", "markets": [mid], "id": "s"}))
            await ws_until(fast, lambda m: m["type"] == "subscribed")
            seqs: list[int] = []

            async def read_fast() -> None:
                async for frame in fast:
                    message = json.loads(frame)
                    if message["type"] == "market_event":
                        seqs.append(message["seq"])

            reader = asyncio.create_task(read_fast())
            assert await asyncio.to_thread(connections, client) == 3
            nonce = 0
            deadline = time.monotonic() + 90
            # Orders until the server has dropped the reader that stopped reading.
            while await asyncio.to_thread(connections, client) > 2:
                assert time.monotonic() < deadline, "the slow reader was never dropped"
                assert nonce < MAX_ORDERS, "the slow reader was never dropped"
                for _ in range(200):  # resting orders on many levels: full book frames
                    nonce += 1
                    price = 1000 + nonce % 400
                    order = {"side": "buy", "price": price, "quantity": 1, "nonce": nonce}
                    message = order_message(mid, "ann", "buy", price, 1, nonce, ts)
                    await trader.send(
                        json.dumps(
                            {
                                "op": "order",
                                "market": mid,
                                **order,
                                "ts": ts,
                                "signature": sign(key, message),
                                "id": nonce,
                            }
                        )
                    )
                last = nonce
                await ws_until(trader, lambda m, last=last: m.get("id") == last, 30)
            received, closed_with = await _read_to_close(slow)
            assert received < nonce  # it was cut off, not sent everything
            assert closed_with == 4008
            deadline = time.monotonic() + 30
            while (not seqs or seqs[-1] < nonce + 1) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert seqs == list(range(2, nonce + 2))  # every order, in order (seq 1: created)
            reader.cancel()
            await fast.close()
            await trader.close()

        asyncio.run(scenario())


async def _read_to_close(ws: websockets.ClientConnection) -> tuple[int, int | None]:
    """How many market events ``ws`` got before the server closed it, and the close code."""
    events = 0
    try:
        while True:
            frame = await asyncio.wait_for(ws.recv(), 30)
            events += json.loads(frame).get("type") == "market_event"
    except websockets.ConnectionClosed as closed:
        return events, closed.rcvd.code if closed.rcvd is not None else None
