"""Helpers for the server tests: a real ``auctionhouse serve`` subprocess on a free loopback
port, an in-process app on a FakeClock, signing, and WebSocket reads with bounded deadlines."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from nacl.signing import SigningKey

import http_helpers
from auctionhouse.house import FakeClock, HouseConfig, bid_message, sign
from auctionhouse.server.app import create_app
from auctionhouse.server.config import ServerConfig
from free_ports import START_DEADLINE, free_port, wait_listening
from serve_process import serve_command

PASSWORD = "correct horse battery"
FAST_HOUSE = {"argon2_time_cost": 1, "argon2_memory_kib": 1024}
WS_DEADLINE = 30.0
"""Seconds a WebSocket read waits for what it expects (it returns as soon as that comes:
generous, for a loaded machine)."""


def write_config(path: Path, server: dict[str, Any] | None = None, **house: Any) -> Path:
    """A TOML config: server settings at the top, fast password hashing and ``house`` below."""
    settings = {**FAST_HOUSE, **house}
    lines = [f"{key} = {json.dumps(value)}" for key, value in (server or {}).items()]
    lines.append("[house]")
    for key, value in settings.items():
        lines.append(f"{key} = {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


class LiveServer:
    """``python -m auctionhouse serve`` on 127.0.0.1:<free port>, started and stopped here; its
    output goes to ``serve-PORT.log`` beside the config (a pipe nobody reads would fill and
    stall the server)."""

    def __init__(self, db: Path, config: Path, port: int | None = None) -> None:
        self.db = db
        self.config = config
        self.port = port or free_port()
        self.proc: subprocess.Popen[str] | None = None
        self.err = ""
        self._offset = 0  # where this start's output begins in the log
        self.log = config.parent / f"serve-{self.port}.log"
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/api/v1/ws"

    def start(self, timeout: float = START_DEADLINE) -> LiveServer:
        """Start it; return once it listens (the house is open then). ``RuntimeError`` with
        its output if it exits first or does not listen within ``timeout`` seconds."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUCTIONHOUSE_")}
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                serve_command(self.db, self.port, "--config", str(self.config)),
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
            )
        wait_listening(self.proc, self.log, offset, timeout, "the server")
        self._offset = offset
        return self

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.wait(timeout=timeout)
        self.err = self.log.read_bytes()[self._offset :].decode(errors="replace")
        return self.proc.returncode

    def stderr(self) -> str:
        return self.err

    def kill9(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait()

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.signal(signal.SIGTERM)
        return self.wait()


@contextmanager
def live_server(
    tmp: Path, server_settings: dict[str, Any] | None = None, **house: Any
) -> Iterator[LiveServer]:
    config = write_config(tmp / "house.toml", server_settings, **house)
    server = LiveServer(tmp / "house.db", config).start()
    try:
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.kill()
            server.wait()


def inprocess_app(tmp: Path, clock: FakeClock | None = None, **house: Any) -> Any:
    """The app in-process on a FakeClock (run it with starlette's TestClient)."""
    config = ServerConfig(
        db=tmp / "house.db", house=HouseConfig.for_tests(**house), ws_send_queue=256
    )
    return create_app(config, clock=clock or FakeClock(1_000_000.0))


# ---------------------------------------------------------------------- API helpers


class Api:
    """Thin synchronous helper over any httpx client (live server or TestClient)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.tokens: dict[str, str] = {}
        self.keys: dict[str, SigningKey] = {}
        self.nonces: dict[str, int] = {}

    def account(self, name: str, *, key: bool = False) -> str:
        body: dict[str, Any] = {"name": name, "password": PASSWORD}
        if key:
            self.keys[name] = SigningKey.generate()
            body["public_key"] = self.keys[name].verify_key.encode().hex()
        r = self.client.post("/api/v1/accounts", json=body)
        assert r.status_code == 201, r.text
        r = self.client.post("/api/v1/sessions", json={"name": name, "password": PASSWORD})
        assert r.status_code == 201, r.text
        self.tokens[name] = r.json()["token"]
        return self.tokens[name]

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def sell(self, seller: str, method: str, **rules: Any) -> dict[str, Any]:
        body = {"item": {"name": f"{method} lot"}, "method": method, "rules": rules}
        r = self.client.post("/api/v1/auctions", json=body, headers=self.auth(seller))
        assert r.status_code == 201, r.text
        view: dict[str, Any] = r.json()
        return view

    def signed(
        self, name: str, auction: str, amount: int, *, ts: float, proxy_max: int | None = None
    ) -> dict[str, Any]:
        nonce = self.nonces.get(name, 0) + 1
        self.nonces[name] = nonce
        return signed_bid(self.keys[name], name, auction, amount, nonce, ts, proxy_max)

    def bid(self, name: str, auction: str, amount: int, **extra: Any) -> httpx.Response:
        body = {"amount": amount, **extra}
        response: httpx.Response = self.client.post(
            f"/api/v1/auctions/{auction}/bids", json=body, headers=self.auth(name)
        )
        return response

    def view(self, auction: str, name: str | None = None) -> dict[str, Any]:
        headers = self.auth(name) if name else {}
        r = self.client.get(f"/api/v1/auctions/{auction}", headers=headers)
        assert r.status_code == 200, r.text
        view: dict[str, Any] = r.json()
        return view

    def events(self, auction: str, after: int = 0) -> list[dict[str, Any]]:
        r = self.client.get(f"/api/v1/auctions/{auction}/events", params={"after": after})
        assert r.status_code == 200, r.text
        events: list[dict[str, Any]] = r.json()["events"]
        return events

    def wait_for(
        self, auction: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            view = self.view(auction)
            if predicate(view):
                return view
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting on auction {auction}: {view}")
            time.sleep(0.02)


def signed_bid(
    key: SigningKey,
    bidder: str,
    auction: str,
    amount: int,
    nonce: int,
    ts: float,
    proxy_max: int | None = None,
) -> dict[str, Any]:
    message = bid_message(auction, bidder, amount, nonce, ts, proxy_max)
    body: dict[str, Any] = {
        "amount": amount,
        "nonce": nonce,
        "ts": ts,
        "signature": sign(key, message),
    }
    if proxy_max is not None:
        body["proxy_max"] = proxy_max
    return body


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


# ---------------------------------------------------------------------- WebSocket helpers


async def ws_recv(ws: Any, timeout: float = WS_DEADLINE) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), timeout)
    message: dict[str, Any] = json.loads(raw)
    return message


async def ws_until(
    ws: Any, predicate: Callable[[dict[str, Any]], bool], timeout: float = WS_DEADLINE
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read until a message matches; returns it and everything read before it."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching WebSocket message; got {seen[-5:]}")
        message = await ws_recv(ws, left)
        if predicate(message):
            return message, seen
        seen.append(message)


async def ws_auth(ws: Any, token: str, timeout: float = WS_DEADLINE) -> dict[str, Any]:
    """Authenticate an open socket the one way there is: the ``auth`` message (no URL token)."""
    await ws.send(json.dumps({"op": "auth", "token": token}))
    message, _ = await ws_until(ws, lambda m: m["type"] in ("auth", "error"), timeout)
    assert message["type"] == "auth", message
    return message


async def ws_auth_answer(ws: Any, token: str, timeout: float = WS_DEADLINE) -> str:
    """Send ``auth``; the answer's type (``auth``) or its error's code (``quota_exceeded``...)."""
    await ws.send(json.dumps({"op": "auth", "token": token}))
    message, _ = await ws_until(ws, lambda m: m["type"] in ("auth", "error"), timeout)
    return "auth" if message["type"] == "auth" else str(message["error"]["code"])


async def ws_auth_once_free(ws: Any, token: str, timeout: float = WS_DEADLINE) -> float:
    """Authenticate as soon as the account's quota has a free place (bounded by ``timeout``:
    a closed socket gives its place back asynchronously); the seconds it took."""
    begin = time.monotonic()
    while (answer := await ws_auth_answer(ws, token, timeout)) != "auth":
        assert answer == "quota_exceeded", answer
        assert time.monotonic() - begin < timeout, "the quota never freed a place"
        await asyncio.sleep(0.05)
    return time.monotonic() - begin


# ---------------------------------------------------------------------- clients that never read


UNTHROTTLED = {
    "account_rate": 100_000.0,
    "account_burst": 100_000.0,
    "address_rate": 100_000.0,
    "address_burst": 100_000.0,
}
"""House settings for a flood of bids or orders from one client and one address."""


@contextmanager
def flood_server(
    tmp: Path, server_settings: dict[str, Any]
) -> Iterator[tuple[LiveServer, httpx.Client]]:
    """A live server without the per-account and per-address rate limits, and a client."""
    with (
        live_server(tmp, server_settings, **UNTHROTTLED) as server,
        http_helpers.client(base_url=server.url, timeout=30) as client,
    ):
        yield server, client


def ws_connections(client: httpx.Client) -> float:
    """The server's open WebSocket connections (its /metrics gauge)."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("auctionhouse_websocket_connections "):
            return float(line.split()[1])
    raise AssertionError("no connections gauge")


async def slow_and_fast(port: int, url: str) -> tuple[Any, Any]:
    """Two WebSockets on ``url``: one that stops reading (a 4 KiB receive buffer set before
    connecting, so no autotuning, and a one-frame queue), and one that takes any frame."""
    import websockets

    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", port))
    slow = await websockets.connect(url, sock=raw, max_queue=1)
    fast = await websockets.connect(url, max_size=None)
    return slow, fast


def collect_seqs(ws: Any, kind: str, seqs: list[int]) -> asyncio.Task[None]:
    """A task appending the ``seq`` of every ``kind`` message ``ws`` gets to ``seqs``."""

    async def read() -> None:
        async for frame in ws:
            message = json.loads(frame)
            if message["type"] == kind:
                seqs.append(message["seq"])

    return asyncio.create_task(read())


async def until_seq(seqs: list[int], last: int, timeout: float = 60.0) -> None:
    """Until ``seqs`` reaches ``last`` (bounded by ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not seqs or seqs[-1] < last:
        assert time.monotonic() < deadline, f"seq {last} never came; got {seqs[-5:]}"
        await asyncio.sleep(0.02)  # the reader task appends; bounded by the deadline above


def long_closed_auction(db: Path, events: int, description: int) -> str:
    """Write, before the server starts, a house file with one closed English auction of
    ``events`` events whose item has a ``description``-character description."""
    from auctionhouse.house import AuctionHouse

    config = HouseConfig.for_tests(account_rate=1e9, account_burst=1e9, min_bidders=1)
    clock = FakeClock(time.time() - 7200)
    house = AuctionHouse.open(db, config=config, clock=clock)
    try:
        for name in ("seller", "ann", "bob"):
            house.create_account(name, PASSWORD)
        with house.batch():
            view = house.create_auction(
                "seller", "lot", "english", {"duration": 3600}, description="é" * description
            )
            for i in range(events - 2):
                house.place_bid(("ann", "bob")[i % 2], view["id"], 100 + i)
        clock.advance(3601)
        house.tick()
    finally:
        house.close()
    return str(view["id"])


def rss(pid: int) -> int:
    """Resident memory of a process, in bytes (/proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def settled_rss(pid: int, timeout: float = 20.0) -> int:
    """RSS once it has grown by less than 1 MB in 1.5 s (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    last, since = rss(pid), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < 1.5:
        time.sleep(0.1)
        now = rss(pid)
        if now > last + (1 << 20):
            last, since = now, time.monotonic()
    return rss(pid)


def _client_frame(text: str) -> bytes:
    """One masked text frame from client to server (RFC 6455), under 126 bytes."""
    payload = text.encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


def silent_websocket(port: int, *messages: str) -> socket.socket:
    """A WebSocket on a raw socket that sends ``messages`` and then reads nothing past the
    handshake's answer (read byte by byte), with a 4 KiB receive buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        (
            f"GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        assert byte, f"the server closed the handshake: {head!r}"
        head += byte
    assert head.startswith(b"HTTP/1.1 101"), head
    for message in messages:
        sock.sendall(_client_frame(message))
    return sock


def metric(client: httpx.Client, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``predicate`` until true (bounded); returns the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting until {what}")
        time.sleep(0.05)
    return time.monotonic() - start
