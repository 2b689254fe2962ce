"""Two real ``auctionhouse serve`` processes on one PostgreSQL database: an account's WebSocket
quota (``ws_connections_per_account``) holds over both instances, a closed socket gives its
place back to either, and the sockets of an instance killed with -9 stop counting once its lease
runs out (``ws_lease_seconds``), with no restart of anything."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from server_helpers import Api, LiveServer, write_config, ws_auth_answer, ws_auth_once_free

import http_helpers
import pg_cluster

pytestmark = pytest.mark.e2e

DEADLINE = 10.0
QUOTA = 3
LEASE = 3.0  # seconds: a killed instance's sockets stop counting this long after it renewed


@pytest.fixture
def pair(tmp_path: Any) -> Iterator[tuple[LiveServer, LiveServer]]:
    url = pg_cluster.new_database()
    config = write_config(
        tmp_path / "house.toml",
        {
            "key_file": str(tmp_path / "house.key"),
            "ws_connections_per_account": QUOTA,
            "ws_lease_seconds": LEASE,
        },
    )
    a = LiveServer(url, config).start()  # type: ignore[arg-type]
    try:
        b = LiveServer(url, config).start()  # type: ignore[arg-type]
    except BaseException:
        a.stop()
        raise
    try:
        yield a, b
    finally:
        for server in (a, b):
            server.stop()


async def auth(ws: Any, token: str) -> str:
    return await ws_auth_answer(ws, token, DEADLINE)


async def auth_once_free(ws: Any, token: str) -> float:
    return await ws_auth_once_free(ws, token, DEADLINE)


def test_the_websocket_quota_holds_over_every_instance(
    pair: tuple[LiveServer, LiveServer],
) -> None:
    a, b = pair
    api = Api(http_helpers.client(base_url=a.url, timeout=10))
    api.account("ann-q")
    token = api.tokens["ann-q"]

    async def scenario() -> None:
        on_a = [await websockets.connect(a.ws_url) for _ in range(3)]
        on_b = [await websockets.connect(b.ws_url) for _ in range(3)]
        try:
            assert await auth(on_a[0], token) == "auth"
            assert await auth(on_a[1], token) == "auth"
            assert await auth(on_b[0], token) == "auth"  # 3 of 3, over both instances
            # each instance holds fewer than 3 itself: what the other holds counts too
            assert await auth(on_b[1], token) == "quota_exceeded"
            assert await auth(on_a[2], token) == "quota_exceeded"
            await on_a[0].close()  # a place freed on a is taken on b
            await auth_once_free(on_b[1], token)
            assert await auth(on_b[2], token) == "quota_exceeded"
            assert await auth(on_a[2], token) == "quota_exceeded"

            a.kill9()  # its socket (on_a[1]) is gone: its place comes back once its lease ends
            took = await auth_once_free(on_b[2], token)
            assert took >= LEASE / 3, took  # not before a's lease could have run out
            spare = await websockets.connect(b.ws_url)
            try:
                assert await auth(spare, token) == "quota_exceeded"  # 3 of 3 on b alone
            finally:
                await spare.close()
        finally:
            for ws in on_a + on_b:
                await ws.close()

    asyncio.run(scenario())


def test_a_stopped_instance_gives_its_places_back_at_once(
    pair: tuple[LiveServer, LiveServer],
) -> None:
    a, b = pair
    api = Api(http_helpers.client(base_url=a.url, timeout=10))
    api.account("bob-q")
    token = api.tokens["bob-q"]

    async def scenario() -> None:
        on_a = [await websockets.connect(a.ws_url) for _ in range(QUOTA)]
        on_b = await websockets.connect(b.ws_url)
        try:
            for ws in on_a:
                assert await auth(ws, token) == "auth"
            assert await auth(on_b, token) == "quota_exceeded"
            assert await asyncio.to_thread(a.stop) == 0  # a clean stop deletes its leases
            assert await auth(on_b, token) == "auth"  # no lease to wait for
        finally:
            for ws in [*on_a, on_b]:
                await ws.close()

    asyncio.run(scenario())


def test_market_sockets_count_in_the_quota_over_every_instance(
    pair: tuple[LiveServer, LiveServer],
) -> None:
    a, b = pair
    api = Api(http_helpers.client(base_url=a.url, timeout=10))
    api.account("cat-q")
    token = api.tokens["cat-q"]

    def markets(server: LiveServer) -> str:
        return server.ws_url.replace("/api/v1/ws", "/api/v1/markets/ws")

    async def scenario() -> None:
        on_a = [await websockets.connect(markets(a)) for _ in range(2)]
        on_b = [await websockets.connect(markets(b)) for _ in range(2)]
        auction_b = await websockets.connect(b.ws_url)
        try:
            assert await auth(on_a[0], token) == "auth"
            assert await auth(on_a[1], token) == "auth"
            assert await auth(on_b[0], token) == "auth"  # 3 of 3, over both instances
            assert await auth(on_b[1], token) == "quota_exceeded"
            assert await auth(auction_b, token) == "quota_exceeded"  # one quota for both kinds
            await on_a[0].close()  # a market socket's place freed on a is taken on b
            await auth_once_free(on_b[1], token)
            assert await auth(auction_b, token) == "quota_exceeded"
        finally:
            for ws in [*on_a, *on_b, auction_b]:
                await ws.close()

    asyncio.run(scenario())
