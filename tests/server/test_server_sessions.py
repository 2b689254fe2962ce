"""Sessions over real sockets on the house's FakeClock: an expired session closes its open
WebSocket (4002) and acks nothing more; logout, logout everywhere and a password change revoke
tokens at once, closing their WebSockets (4003). The app runs under uvicorn in this process,
so the clock can be injected while the sockets are real."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import websockets
from server_helpers import PASSWORD, free_port, ws_auth, ws_until

import http_helpers
from auctionhouse.house import FakeClock, HouseConfig
from auctionhouse.server.app import create_app
from auctionhouse.server.config import ServerConfig

T0 = 1_000_000.0
TTL = 3.0


@asynccontextmanager
async def serving(tmp: Path, clock: FakeClock) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    config = ServerConfig(
        db=tmp / "house.db",
        house=HouseConfig.for_tests(token_ttl_seconds=TTL),
        login_tarpit_seconds=0.0,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, clock=clock), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    task = asyncio.create_task(server.serve())
    deadline = asyncio.get_running_loop().time() + 60  # generous: a loaded machine is slow
    while not server.started and not task.done():
        assert asyncio.get_running_loop().time() < deadline, "the server did not start"
        await asyncio.sleep(0.02)  # polling uvicorn's flag, bounded by the deadline above
    assert server.started, task.exception() if task.done() else None
    try:
        async with http_helpers.async_client(base_url=f"http://127.0.0.1:{port}") as http:
            yield f"127.0.0.1:{port}", http
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def login(http: httpx.AsyncClient, name: str) -> str:
    r = await http.post("/api/v1/sessions", json={"name": name, "password": PASSWORD})
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def closed_with(ws: Any, timeout: float = 5.0) -> int:
    """Read until the server closes the socket (bounded); its close code."""
    try:
        async with asyncio.timeout(timeout):
            async for _ in ws:
                pass
    except websockets.ConnectionClosed:
        pass
    code: int = ws.close_code
    return code


async def bid(ws: Any, auction: str, amount: int, ref: int) -> dict[str, Any]:
    await ws.send(json.dumps({"op": "bid", "id": ref, "auction": auction, "amount": amount}))
    answer, _ = await ws_until(ws, lambda m: m.get("id") == ref)
    return answer


async def setup(http: httpx.AsyncClient) -> str:
    for name in ("seller", "ann"):
        r = await http.post("/api/v1/accounts", json={"name": name, "password": PASSWORD})
        assert r.status_code == 201, r.text
    seller = await login(http, "seller")
    r = await http.post(
        "/api/v1/auctions",
        json={"item": {"name": "lamp"}, "method": "english", "rules": {"duration": 3600}},
        headers=bearer(seller),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_an_expired_session_closes_its_socket_and_acks_nothing(tmp_path: Path) -> None:
    clock = FakeClock(T0)

    async def scenario() -> None:
        async with serving(tmp_path, clock) as (host, http):
            aid = await setup(http)
            token = await login(http, "ann")
            url = f"ws://{host}/api/v1/ws"
            async with websockets.connect(url) as idle, websockets.connect(url) as busy:
                await ws_auth(idle, token)
                await ws_auth(busy, token)
                assert (await bid(busy, aid, 100, 1))["type"] == "ack"
                # The case: 6.5 s after a 3 s session began, nothing is acked.
                clock.advance(TTL + 3.5)
                await busy.send(json.dumps({"op": "bid", "id": 2, "auction": aid, "amount": 200}))
                assert await closed_with(busy) == 4002
                # The idle socket is closed by the sweep, with no command from it.
                assert await closed_with(idle) == 4002
                assert idle.close_reason == "session_expired"
            r = await http.get("/api/v1/me", headers=bearer(token))
            assert r.status_code == 401
            r = await http.get(f"/api/v1/auctions/{aid}")
            assert r.json()["price"] == 100  # the late bid never went in

    asyncio.run(scenario())


def test_logout_and_password_change_revoke_everywhere(tmp_path: Path) -> None:
    clock = FakeClock(T0)

    async def scenario() -> None:
        async with serving(tmp_path, clock) as (host, http):
            aid = await setup(http)
            one, two, three = [await login(http, "ann") for _ in range(3)]
            url = f"ws://{host}/api/v1/ws"
            async with (
                websockets.connect(url) as ws_one,
                websockets.connect(url) as ws_two,
                websockets.connect(url) as ws_three,
            ):
                for ws, token in ((ws_one, one), (ws_two, two), (ws_three, three)):
                    await ws_auth(ws, token)
                # Logout: this token only, at once, its socket closed with 4003.
                r = await http.delete("/api/v1/sessions/current", headers=bearer(one))
                assert r.status_code == 200 and r.json() == {"revoked": 1}
                assert await closed_with(ws_one) == 4003
                assert (await http.get("/api/v1/me", headers=bearer(one))).status_code == 401
                r = await http.delete("/api/v1/sessions/current", headers=bearer(one))
                assert r.status_code == 401
                assert (await bid(ws_two, aid, 100, 1))["type"] == "ack"

                # A wrong current password changes nothing.
                change = {"current_password": "not it at all", "new_password": "new secret 1"}
                r = await http.put("/api/v1/me/password", json=change, headers=bearer(two))
                assert r.status_code == 401
                assert (await bid(ws_two, aid, 200, 2))["type"] == "ack"
                # The right one: every session revoked, their sockets closed; a new session.
                change["current_password"] = PASSWORD
                r = await http.put("/api/v1/me/password", json=change, headers=bearer(two))
                assert r.status_code == 200, r.text
                fresh = r.json()["token"]
                assert await closed_with(ws_two) == 4003
                assert await closed_with(ws_three) == 4003
            for token in (two, three):
                r = await http.get("/api/v1/me", headers=bearer(token))
                assert r.status_code == 401
            assert (await http.get("/api/v1/me", headers=bearer(fresh))).status_code == 200
            r = await http.post("/api/v1/sessions", json={"name": "ann", "password": PASSWORD})
            assert r.status_code == 401
            r = await http.post(
                "/api/v1/sessions", json={"name": "ann", "password": "new secret 1"}
            )
            assert r.status_code == 201
            # Logout everywhere.
            other = r.json()["token"]
            r = await http.delete("/api/v1/sessions", headers=bearer(fresh))
            assert r.status_code == 200 and r.json() == {"revoked": 2}
            for token in (fresh, other):
                r = await http.get("/api/v1/me", headers=bearer(token))
                assert r.status_code == 401

    asyncio.run(scenario())
