"""One account's WebSocket quota (``ws_connections_per_account``) counts its auction sockets
(``/api/v1/ws``) and its market sockets (``/api/v1/markets/ws``) together, on a real server: a
market socket past the quota is refused with ``quota_exceeded`` like an auction socket, and a
closed socket of either kind gives its place back. (Market sockets were not counted at all.)"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import websockets
from server_helpers import Api, live_server, ws_auth_answer, ws_auth_once_free

import http_helpers

pytestmark = pytest.mark.e2e

DEADLINE = 20.0
QUOTA = 2


async def auth(ws: Any, token: str) -> str:
    return await ws_auth_answer(ws, token, DEADLINE)


async def auth_once_free(ws: Any, token: str) -> None:
    await ws_auth_once_free(ws, token, DEADLINE)


def test_market_and_auction_sockets_share_the_accounts_quota(tmp_path: Path) -> None:
    with (
        live_server(tmp_path, {"ws_connections_per_account": QUOTA}) as server,
        http_helpers.client(base_url=server.url, timeout=30) as client,
    ):
        api = Api(client)
        api.account("ann")
        token = api.tokens["ann"]
        markets = server.ws_url.replace("/api/v1/ws", "/api/v1/markets/ws")

        async def scenario() -> None:
            m1, m2, m3 = [await websockets.connect(markets) for _ in range(3)]
            w1, w2 = [await websockets.connect(server.ws_url) for _ in range(2)]
            try:
                assert await auth(m1, token) == "auth"
                assert await auth(m2, token) == "auth"
                assert await auth(m3, token) == "quota_exceeded"  # markets alone: 2 of 2
                assert await auth(w1, token) == "quota_exceeded"  # and auction sockets too
                assert await auth(m2, token) == "auth"  # the same account again: no new place
                await m1.close()
                await auth_once_free(w1, token)
                assert await auth(w2, token) == "quota_exceeded"
                assert await auth(m3, token) == "quota_exceeded"
                await w1.close()
                await auth_once_free(m3, token)
            finally:
                for ws in (m1, m2, m3, w1, w2):
                    await ws.close()

        asyncio.run(scenario())
