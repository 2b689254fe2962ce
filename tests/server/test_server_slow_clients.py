"""Slow clients do not hold connections (issue 10, fault 5), on a real server process: a request
head must arrive within ``header_timeout``, an idle keep-alive connection lives
``keep_alive_timeout``, a stalled body is cut, an oversized head is refused, and connections are
capped in all and per client address. Small configured timeouts keep this to seconds; every
wait is on an event (the server closing the socket) with a deadline."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_helpers import LiveServer, live_server, wait_until

import http_helpers

pytestmark = pytest.mark.e2e

HEADER_TIMEOUT = 1.0
KEEP_ALIVE = 0.5
PER_ADDRESS = 30
TOTAL = 40


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("slow")
    settings = {
        "header_timeout": HEADER_TIMEOUT,
        "keep_alive_timeout": KEEP_ALIVE,
        "max_connections": TOTAL,
        "max_connections_per_address": PER_ADDRESS,
        "max_header_bytes": 8192,
    }
    with live_server(tmp, settings, address_rate=1e6, address_burst=1e6) as live:
        yield live


def connect(server: LiveServer, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(15)
    sock.connect(("127.0.0.1", server.port))
    return sock


def read_to_close(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes (bounded by the socket timeout), and when."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data, time.monotonic()


def test_a_client_trickling_headers_is_cut_at_the_header_timeout(server: LiveServer) -> None:
    socks = [connect(server) for _ in range(20)]
    started = time.monotonic()
    stop = threading.Event()

    def trickle() -> None:  # one header line every 0.2 s, forever, on every socket
        for sock in socks:
            sock.sendall(b"GET /api/v1/time HTTP/1.1\r\nHost: x\r\n")
        while not stop.wait(0.2):
            for sock in socks:
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        for sock in socks:
            data, ended = read_to_close(sock)
            assert data.startswith(b"HTTP/1.1 408"), data[:200]
            assert HEADER_TIMEOUT * 0.8 < ended - started < HEADER_TIMEOUT + 10
    finally:
        stop.set()
        thread.join(5)
        for sock in socks:
            sock.close()


def test_a_silent_connection_is_closed(server: LiveServer) -> None:
    sock = connect(server)
    with sock:
        started = time.monotonic()
        data, ended = read_to_close(sock)
    assert data.startswith(b"HTTP/1.1 408")
    assert ended - started < HEADER_TIMEOUT + 10


def test_an_idle_keep_alive_connection_is_closed(server: LiveServer) -> None:
    sock = connect(server)
    with sock:
        sock.sendall(b"GET /api/v1/time HTTP/1.1\r\nHost: x\r\n\r\n")
        sent = time.monotonic()
        data, ended = read_to_close(sock)
    # One answer, then closed quietly (the head timer would have said 408, later).
    assert data.startswith(b"HTTP/1.1 200") and data.count(b"HTTP/1.1") == 1, data
    assert ended - sent < KEEP_ALIVE + 3.5  # uvicorn's own default would be 5 s


def test_a_stalled_body_is_cut(server: LiveServer) -> None:
    sock = connect(server)
    with sock:
        sock.sendall(
            b"POST /api/v1/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"name": '
        )
        started = time.monotonic()
        _, ended = read_to_close(sock)
    assert ended - started < HEADER_TIMEOUT + 10


def test_an_oversized_head_is_refused(server: LiveServer) -> None:
    sock = connect(server)
    with sock:
        sock.sendall(b"GET /api/v1/time HTTP/1.1\r\nHost: x\r\n")
        try:
            for _ in range(100):
                sock.sendall(b"X-Big: " + b"a" * 1000 + b"\r\n")
        except OSError:
            pass
        data, _ = read_to_close(sock)
    assert data.startswith(b"HTTP/1.1 431"), data[:200]


def test_connections_are_capped_per_address_and_in_all(server: LiveServer) -> None:
    held = [connect(server) for _ in range(PER_ADDRESS)]
    try:
        # One more from the same address is refused at once with 503.
        with connect(server) as extra:
            data, _ = read_to_close(extra)
        assert data.startswith(b"HTTP/1.1 503"), data[:200]
        # Another address may still connect, up to the total.
        others = [connect(server, "127.0.0.2") for _ in range(TOTAL - PER_ADDRESS)]
        held += others
        with connect(server, "127.0.0.3") as over:
            data, _ = read_to_close(over)
        assert data.startswith(b"HTTP/1.1 503"), data[:200]
    finally:
        for sock in held:
            sock.close()

    # Closed connections free their places: the house answers again.
    def answers() -> bool:
        try:
            return http_helpers.get(f"{server.url}/api/v1/time", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(answers, 10 + HEADER_TIMEOUT, "the house answers again")


def test_a_slow_websocket_upgrade_is_cut_like_any_request(server: LiveServer) -> None:
    sock = connect(server)
    with sock:
        sock.sendall(b"GET /api/v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
        started = time.monotonic()
        data, ended = read_to_close(sock)
    assert data.startswith(b"HTTP/1.1 408")
    assert ended - started < HEADER_TIMEOUT + 10
