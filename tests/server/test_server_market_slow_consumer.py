"""A market WebSocket client that stops reading is dropped (close code 4008) once a send to it
stays blocked for ``ws_send_timeout`` or its bounded queue fills; a reading watcher keeps getting
every market event in order, with no gap."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
import websockets
from nacl.signing import SigningKey
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

from auctionhouse.house.signing import order_message, sign

pytestmark = pytest.mark.e2e
MAX_ORDERS = 100_000


def test_a_slow_market_reader_is_dropped_and_others_are_not_held_up(tmp_path: Path) -> None:
    settings = {"ws_send_queue": 1024, "send_timeout": 1.0, "ws_compression": False}
    with flood_server(tmp_path, settings) as (server, client):
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
            slow, fast = await slow_and_fast(server.port, url)
            trader = await websockets.connect(url)
            await ws_auth(trader, api.tokens["ann"])
            for ws in (slow, fast):
                await ws.send(json.dumps({"op": "subscribe", "markets": [mid], "id": "s"}))
            await ws_until(fast, lambda m: m["type"] == "subscribed")
            seqs: list[int] = []
            reader = collect_seqs(fast, "market_event", seqs)
            assert await asyncio.to_thread(ws_connections, client) == 3
            nonce = 0
            deadline = time.monotonic() + 90
            # Orders until the server has dropped the reader that stopped reading.
            while await asyncio.to_thread(ws_connections, client) > 2:
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
            await until_seq(seqs, nonce + 1)
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
