"""Memory per connection is bounded on every path (issue 10, fault 1), on a real server process
with real sockets: clients that never read are dropped (WebSocket close 4008, then the
connection is cut) without the server's RSS growing with them, and a reading client gets the
whole history in frames that do not repeat the view."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from server_helpers import (
    LiveServer,
    live_server,
    long_closed_auction,
    metric,
    rss,
    settled_rss,
    silent_websocket,
    wait_until,
)

import http_helpers
from auctionhouse.client import Client

pytestmark = pytest.mark.e2e

EVENTS = 30_000  # a catch-up larger than the kernel's socket buffers (tcp_wmem max 4 MB)
DESCRIPTION = 3000  # characters, 2 bytes each in UTF-8
SEND_TIMEOUT = 2.0
TCP_ESTABLISHED = 1


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    tmp = tmp_path_factory.mktemp("memory")
    aid = long_closed_auction(tmp / "house.db", EVENTS, DESCRIPTION)
    settings = {"send_timeout": SEND_TIMEOUT, "ws_send_queue": 256, "ws_close_grace": 10.0}
    with live_server(tmp, settings, address_rate=1e6, address_burst=1e6) as server:
        yield server, aid


def subscribe(aid: str) -> str:
    return json.dumps({"op": "subscribe", "auctions": [aid]}, separators=(",", ":"))


def tcp_state(sock: socket.socket) -> int:
    return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0])


def connections(server: LiveServer) -> float:
    with http_helpers.client(base_url=server.url, timeout=10) as client:
        return metric(client, "auctionhouse_websocket_connections")


async def read_until_closed(ws: Any) -> websockets.ConnectionClosed:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as closed:
            return closed
    raise AssertionError("the connection was never closed")


def slow_websocket(port: int) -> tuple[socket.socket, dict[str, Any]]:
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", port))
    return raw, {"sock": raw, "max_queue": 1, "max_size": None}


def test_non_reading_subscribers_are_dropped_and_cost_little(
    house: tuple[LiveServer, str],
) -> None:
    server, aid = house
    assert server.proc is not None
    pid = server.proc.pid
    base = settled_rss(pid, 5.0)

    async def scenario() -> websockets.ConnectionClosed:
        silent = [silent_websocket(server.port, subscribe(aid)) for _ in range(20)]
        # Last, one that will read again once all are dropped, to see the close code (it is
        # dropped last, so its close grace is not over when it reads).
        _, options = slow_websocket(server.port)
        late = await websockets.connect(server.ws_url, **options)
        await late.send(subscribe(aid))
        peak = base
        deadline = time.monotonic() + SEND_TIMEOUT + 30
        while await asyncio.to_thread(connections, server) > 0:
            assert time.monotonic() < deadline, "non-reading subscribers were never dropped"
            peak = max(peak, rss(pid))
            await asyncio.sleep(0.05)
        closed = await read_until_closed(late)
        # Before the fix each of these pinned ~7 KB x 4,096 queued frames (and more).
        assert peak - base < 40 * 2**20, (base, peak)
        # Dropped ones are also cut at the TCP level once the close frame's grace is over:
        # the server's buffers for them are freed, not kept until they read.
        for sock in silent:
            wait_until(lambda s=sock: tcp_state(s) != TCP_ESTABLISHED, 20, "the socket is cut")
            sock.close()
        return closed

    closed = asyncio.run(scenario())
    assert closed.rcvd is not None and closed.rcvd.code == 4008, closed
    assert "stopped reading" in closed.rcvd.reason


def test_a_client_that_sends_commands_and_never_reads_is_dropped(
    house: tuple[LiveServer, str],
) -> None:
    """Replies to commands count against the same bounded queue (ws_send_queue = 256)."""
    server, aid = house

    async def scenario() -> websockets.ConnectionClosed:
        _, options = slow_websocket(server.port)
        ws = await websockets.connect(server.ws_url, **options)
        await ws.send(subscribe(aid))  # the sender blocks on this catch-up
        for i in range(1000):
            await ws.send(json.dumps({"op": "time", "id": i}))
        return await read_until_closed(ws)

    started = time.monotonic()
    closed = asyncio.run(scenario())
    assert closed.rcvd is not None and closed.rcvd.code == 4008, closed
    assert "send queue is full" in closed.rcvd.reason
    assert time.monotonic() - started < 30


def test_a_reader_gets_the_whole_history_in_small_frames(house: tuple[LiveServer, str]) -> None:
    server, aid = house

    async def catch_up() -> tuple[list[dict[str, Any]], int]:
        frames: list[dict[str, Any]] = []
        size = 0
        async with websockets.connect(server.ws_url, max_size=None) as ws:
            await ws.send(subscribe(aid))
            while not frames or frames[-1]["type"] != "subscribed":
                raw = await asyncio.wait_for(ws.recv(), 30)
                size += len(raw.encode() if isinstance(raw, str) else raw)
                frames.append(json.loads(raw))
        return frames, size

    frames, size = asyncio.run(catch_up())
    snapshot, *events, subscribed = frames
    assert snapshot["type"] == "snapshot" and snapshot["view"]["seq"] == EVENTS
    assert len(snapshot["view"]["item"]["description"]) == DESCRIPTION
    assert [e["seq"] for e in events] == list(range(1, EVENTS + 1))
    assert all(e["type"] == "event" and "view" not in e for e in events)
    assert events[-1]["event"]["type"] == "AuctionClosed"
    assert subscribed["type"] == "subscribed"
    on_disk = sum(p.stat().st_size for p in server.db.parent.glob("house.db*"))
    assert size < 20 * on_disk, (size, on_disk)


def test_http_events_come_in_pages_and_the_sdk_follows_them(
    house: tuple[LiveServer, str],
) -> None:
    server, aid = house
    with http_helpers.client(base_url=server.url, timeout=30) as http:
        first = http.get(f"/api/v1/auctions/{aid}/events").json()
        assert len(first["events"]) == 1000 and first["more"] and first["last_seq"] == EVENTS
        tail = http.get(f"/api/v1/auctions/{aid}/events", params={"after": EVENTS - 10}).json()
        assert [e["seq"] for e in tail["events"]] == list(range(EVENTS - 9, EVENTS + 1))
        assert tail["more"] is False
        big = http.get(f"/api/v1/auctions/{aid}/events", params={"limit": 5001})
        assert big.status_code == 400 and big.json()["error"]["code"] == "invalid_request"
    with Client(server.url) as client:
        every = client.events(aid)["events"]
    assert [e["seq"] for e in every] == list(range(1, EVENTS + 1))


def test_an_http_client_that_never_reads_is_cut(house: tuple[LiveServer, str]) -> None:
    server, aid = house
    request = (f"GET /api/v1/auctions/{aid}/events?limit=5000 HTTP/1.1\r\nHost: x\r\n\r\n").encode()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.connect(("127.0.0.1", server.port))
    try:
        sock.sendall(request * 20)  # ~12 MB of answers, pipelined, never read
        took = wait_until(lambda: tcp_state(sock) != TCP_ESTABLISHED, 30, "the server cuts it")
        assert took < SEND_TIMEOUT + 20
    finally:
        sock.close()
    # The house still answers everyone else.
    assert http_helpers.get(f"{server.url}/api/v1/time", timeout=10).status_code == 200


def test_long_descriptions_are_cut_in_lists(tmp_path: Path, house: tuple[LiveServer, str]) -> None:
    server, aid = house
    with http_helpers.client(base_url=server.url, timeout=10) as http:
        listed = http.get("/api/v1/auctions", params={"limit": 500}).json()["auctions"]
        whole = http.get(f"/api/v1/auctions/{aid}").json()
    (row,) = [v for v in listed if v["id"] == aid]
    assert row["item"]["truncated"] is True and len(row["item"]["description"]) == 280
    assert whole["item"]["description"] == "é" * DESCRIPTION


def test_live_events_carry_a_view_without_the_description(house: tuple[LiveServer, str]) -> None:
    server, _ = house
    with http_helpers.client(base_url=server.url, timeout=10) as http:
        tokens = {
            name: http.post(
                "/api/v1/sessions", json={"name": name, "password": "correct horse battery"}
            ).json()["token"]
            for name in ("seller", "ann")
        }
        body = {
            "item": {"name": "vase", "description": "long " * 1000},
            "method": "english",
            "rules": {"duration": 600},
        }
        created = http.post(
            "/api/v1/auctions", json=body, headers={"Authorization": f"Bearer {tokens['seller']}"}
        )
        assert created.status_code == 201, created.text
        aid = created.json()["id"]

        async def watch() -> tuple[dict[str, Any], dict[str, Any]]:
            async with websockets.connect(server.ws_url) as ws:
                await ws.send(subscribe(aid))
                snapshot = json.loads(await asyncio.wait_for(ws.recv(), 10))
                while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "subscribed":
                    pass
                bid = await asyncio.to_thread(
                    http.post,
                    f"/api/v1/auctions/{aid}/bids",
                    json={"amount": 500},
                    headers={"Authorization": f"Bearer {tokens['ann']}"},
                )
                assert bid.status_code == 201, bid.text
                return snapshot, json.loads(await asyncio.wait_for(ws.recv(), 10))

        snapshot, live = asyncio.run(watch())
    assert snapshot["view"]["item"]["description"] == "long " * 1000
    assert live["type"] == "event" and live["event"]["type"] == "BidPlaced"
    assert live["view"]["item"] == {"name": "vase", "photos": []}
    assert live["view"]["price"] == 500
