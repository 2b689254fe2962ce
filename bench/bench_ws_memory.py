"""Memory per connection on the catch-up path (issue 10, fault 1). Prints one JSON object.

Builds a house file with one closed English auction of ``--events`` events whose item has a
``--description``-character description, starts a real ``auctionhouse serve`` on it and:

- ``non_readers``: opens ``--subscribers`` raw WebSockets that each send one ``subscribe`` to that
  auction and then never read a byte (small receive buffers); waits until the server's RSS
  (``/proc/PID/status`` VmRSS) stops growing and reports what they added. Goal: < 50 MB for 100.
  ``dropped_after_s`` is when the server had closed them all (``send_timeout``, close 4008).
- ``reader``: one client that reads its whole catch-up: bytes of all frames until ``subscribed``,
  seconds, and the ratio to the house file's size on disk. Goal: < 20x.
- ``http_pages``: the same history over ``GET /api/v1/auctions/{id}/events`` pages.

Before the fix (issue 10) one such non-reading subscriber pinned ~128 MB and a reader got
~232 MB of catch-up for 7,000 events. Usage:
python bench/bench_ws_memory.py [--events 10000] [--subscribers 100] [--description 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig

# The tests' port helper (tests/free_ports.py): outside the ephemeral range, locked per
# process; a bind-0 pick could be taken by another socket before the server binds it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from free_ports import free_port

SERVE = [sys.executable, "-m", "auctionhouse", "serve", "--log-level", "warning"]


def build_house(db: Path, events: int, description: int) -> str:
    """One closed English auction with ``events`` events (creation, bids, close)."""
    config = HouseConfig.for_tests(account_rate=1e9, account_burst=1e9, min_bidders=1)
    clock = FakeClock(time.time() - 7200)
    house = AuctionHouse.open(db, config=config, clock=clock)
    try:
        for name in ("seller", "ann", "bob"):
            house.create_account(name, "correct horse battery")
        with house.batch():
            view = house.create_auction(
                "seller", "lot", "english", {"duration": 3600}, description="d" * description
            )
            aid = str(view["id"])
            for i in range(events - 2):
                house.place_bid(("ann", "bob")[i % 2], aid, 100 + i)
        clock.advance(3601)
        house.tick()
    finally:
        house.close()
    return aid


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def start(db: Path, config: Path) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    proc = subprocess.Popen(
        [*SERVE, "--db", str(db), "--port", str(port), "--config", str(config)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    if "listening on" not in proc.stdout.readline():
        proc.kill()
        raise SystemExit("the server did not start")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/time").status_code == 200:
                return proc, port
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit("the server did not answer")


def masked_text(text: str) -> bytes:
    """One client-to-server text frame (masked, as RFC 6455 requires)."""
    payload = text.encode()
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + body


def non_reader(port: int, message: str) -> socket.socket:
    """A WebSocket that sends ``message`` and then never reads (beyond the 101 response)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:  # byte by byte: nothing past the response is read
        chunk = sock.recv(1)
        if not chunk:
            raise RuntimeError("the server closed the handshake")
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head[:100]
    sock.sendall(masked_text(message))
    return sock


def settle(pid: int, seconds: float = 20.0) -> int:
    """RSS once it has not grown by more than 1 MB for 2 s (bounded by ``seconds``)."""
    deadline = time.monotonic() + seconds
    last, since = rss_bytes(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = rss_bytes(pid)
        if now > last + (1 << 20):
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= 2.0:
            break
    return rss_bytes(pid)


def open_connections(port: int) -> float:
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics").text.splitlines():
        if line.startswith("auctionhouse_websocket_connections "):
            return float(line.split()[1])
    return -1.0


async def read_catch_up(port: int, aid: str) -> tuple[int, int, float]:
    """Bytes and frames of a whole catch-up, read as fast as possible, and its seconds."""
    started = time.perf_counter()
    total = frames = 0
    async with websockets.connect(f"ws://127.0.0.1:{port}/api/v1/ws", max_size=None) as ws:
        await ws.send(json.dumps({"op": "subscribe", "auctions": [aid]}))
        while True:
            raw = await asyncio.wait_for(ws.recv(), 60)
            total += len(raw.encode() if isinstance(raw, str) else raw)
            frames += 1
            if json.loads(raw).get("type") == "subscribed":
                break
    return total, frames, time.perf_counter() - started


def http_pages(port: int, aid: str) -> dict[str, Any]:
    started = time.perf_counter()
    total = pages = count = after = 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
        while True:
            r = http.get(f"/api/v1/auctions/{aid}/events", params={"after": after})
            body = r.json()
            total += len(r.content)
            pages += 1
            count += len(body["events"])
            if not body["more"]:
                break
            after = body["events"][-1]["seq"]
    return {
        "events": count,
        "pages": pages,
        "bytes": total,
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--description", type=int, default=5000)
    parser.add_argument("--send-timeout", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        db = tmp / "house.db"
        aid = build_house(db, args.events, args.description)
        log_bytes = sum(p.stat().st_size for p in tmp.glob("house.db*") if p.suffix != ".key")
        config = tmp / "house.toml"
        config.write_text(
            f"send_timeout = {args.send_timeout}\nmax_connections_per_address = 1000\n"
            "[house]\naddress_rate = 1e9\naddress_burst = 1e9\n"
        )
        proc, port = start(db, config)
        try:
            base = settle(proc.pid, 5.0)
            message = json.dumps({"op": "subscribe", "auctions": [aid]}, separators=(",", ":"))
            t0 = time.monotonic()
            socks = [non_reader(port, message) for _ in range(args.subscribers)]
            held = settle(proc.pid)
            connected = open_connections(port)
            deadline = time.monotonic() + args.send_timeout + 30
            while open_connections(port) > 0 and time.monotonic() < deadline:
                time.sleep(0.25)
            dropped_after = time.monotonic() - t0 if open_connections(port) == 0 else None
            for s in socks:
                s.close()
            after_close = settle(proc.pid, 10.0)
            size, frames, seconds = asyncio.run(read_catch_up(port, aid))
            pages = http_pages(port, aid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    added = held - base
    print(
        json.dumps(
            {
                "events": args.events,
                "description_chars": args.description,
                "log_bytes_on_disk": log_bytes,
                "non_readers": {
                    "subscribers": args.subscribers,
                    "connected": connected,
                    "rss_base_mb": round(base / 2**20, 1),
                    "rss_held_mb": round(held / 2**20, 1),
                    "rss_added_mb": round(added / 2**20, 1),
                    "goal_added_mb": 50,
                    "rss_after_close_mb": round(after_close / 2**20, 1),
                    "dropped_after_s": None if dropped_after is None else round(dropped_after, 1),
                    "send_timeout_s": args.send_timeout,
                },
                "reader": {
                    "catch_up_bytes": size,
                    "frames": frames,
                    "seconds": round(seconds, 3),
                    "ratio_to_log": round(size / log_bytes, 3),
                    "goal_ratio": 20,
                },
                "http_pages": {**pages, "seconds": round(pages["seconds"], 3)},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
