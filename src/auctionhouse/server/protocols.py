"""uvicorn's HTTP and WebSocket protocols with the limits a server facing the internet needs.

uvicorn (0.54) has an idle keep-alive timeout and ``limit_concurrency``, but no timeout for a
request's head: its keep-alive timer is armed only once a response is complete and is cancelled
by the first byte of the next request, so a client that trickles one header line every few
seconds, or connects and sends nothing, holds its connection forever; ``limit_concurrency``
answers 503 only once a request's headers are complete, so such clients are never counted out;
httptools puts no bound on a request head's size; and a WebSocket that stops reading keeps its
write buffer (``transport.close()`` waits to flush it) until the process ends. None of this can be
fixed from inside the ASGI app (it sees a request only once its head is complete, and never the
transport), so the narrowest seam is the protocol classes themselves: these subclasses add, per
connection (all settings in ``ServerConfig``, docs/operations.md):

- a connection cap, in all and per client address, checked when the TCP connection is made;
- a head timeout: a request's line and headers must arrive within ``header_timeout`` seconds of
  the connection or of its first byte (408 and close), and a head is at most
  ``max_header_bytes`` (431 and close); a request body that stalls as long is cut;
- ``keep_alive_timeout`` for idle connections between requests (uvicorn's own timer, as float);
- a write-stall guard: a client whose socket takes no bytes for ``send_timeout`` seconds is cut
  (``transport.abort()``: its buffered response is freed, not flushed);
- WebSocket: ``ws_handshake_timeout`` until the app accepts; a close frame is written even when
  the client has stopped reading (behind what is buffered), and the connection is cut
  ``ws_close_grace`` seconds later if the client has not gone by then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

log = logging.getLogger("auctionhouse.server")


def _plain_response(status: str, code: str, message: str) -> bytes:
    body = f'{{"error":{{"code":"{code}","message":"{message}"}}}}'.encode()
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode()
    return head + body


REFUSED = _plain_response("503 Service Unavailable", "overloaded", "too many connections")
HEAD_TIMEOUT = _plain_response(
    "408 Request Timeout", "timeout", "the request headers did not arrive in time"
)
HEAD_TOO_LARGE = _plain_response(
    "431 Request Header Fields Too Large", "too_large", "the request headers are too large"
)


@dataclass
class ConnectionGuard:
    """Open connections by transport, shared by the HTTP and WebSocket protocols of a server
    (a WebSocket starts as an HTTP connection and keeps its place when it upgrades)."""

    max_total: int = 4096  # 0: no limit
    max_per_address: int = 256  # 0: no limit
    header_timeout: float = 10.0
    keep_alive_timeout: float = 5.0
    ws_handshake_timeout: float = 10.0
    ws_close_grace: float = 10.0
    send_timeout: float = 20.0
    max_header_bytes: int = 65_536
    refused: int = 0
    _open: dict[Any, str] = field(default_factory=dict)
    _by_address: Counter[str] = field(default_factory=Counter)

    @property
    def open_count(self) -> int:
        return len(self._open)

    def admit(self, transport: Any, address: str) -> bool:
        """Count a new connection in; False if a cap is reached (it must be closed)."""
        if transport in self._open:
            return True
        if (self.max_total and len(self._open) >= self.max_total) or (
            self.max_per_address and self._by_address[address] >= self.max_per_address
        ):
            self.refused += 1
            return False
        self._open[transport] = address
        self._by_address[address] += 1
        return True

    def release(self, transport: Any) -> None:
        address = self._open.pop(transport, None)
        if address is not None:
            self._by_address[address] -= 1
            if self._by_address[address] <= 0:
                del self._by_address[address]


def _address(transport: Any) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer)


class _StallGuard:
    """Cuts a connection whose socket takes no bytes for ``timeout`` seconds."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self.timer: asyncio.TimerHandle | None = None

    def paused(self, transport: asyncio.BaseTransport) -> None:
        if self.timer is None:
            self.timer = self.loop.call_later(self.timeout, _abort, transport, "stopped reading")

    def resumed(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def _abort(transport: asyncio.BaseTransport, why: str) -> None:
    """Cut the connection now: its buffered output is dropped, not flushed. SO_LINGER 0 makes
    the close a reset, so the kernel frees its buffers too instead of keeping an orphaned
    socket that probes a zero window for minutes."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    log.info("cutting a connection from %s: %s", _address(transport), why)
    abort = getattr(transport, "abort", None)
    if abort is not None:
        abort()
    else:  # pragma: no cover - every stream transport can abort
        transport.close()


class GuardedHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of the module docstring."""

    guard: ConnectionGuard  # set on the subclass made by ``protocols(...)``

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_keep_alive = self.guard.keep_alive_timeout  # type: ignore[assignment]
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._body_timer: asyncio.TimerHandle | None = None
        self._stall = _StallGuard(self.loop, self.guard.send_timeout)
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._refused = not self.guard.admit(transport, _address(transport))
        if self._refused:
            transport.write(REFUSED)
            transport.close()
            return
        self._arm_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        self.guard.release(self.transport)
        super().connection_lost(exc)

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer, self._stall.timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None
        self._stall.timer = None

    # ------------------------------------------------------------------ the request head

    def _arm_head(self) -> None:
        if self._head_timer is None:
            self._head_bytes = 0
            self._head_timer = self.loop.call_later(self.guard.header_timeout, self._head_late)

    def _head_late(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head is late while an answer is still being written: no 408 in
            # the middle of it.
            _abort(self.transport, "no request head in time")
            return
        log.info("closing a connection from %s: no request head in time", self.client)
        self.transport.write(HEAD_TIMEOUT)
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._head_timer is not None:
            self._head_bytes += len(data)
        super().data_received(data)
        if (
            self._head_timer is not None
            and self._head_bytes > self.guard.max_header_bytes
            and not self.transport.is_closing()
        ):
            self._head_timer.cancel()
            self._head_timer = None
            self.transport.write(HEAD_TOO_LARGE)
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head()

    def on_headers_complete(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().on_headers_complete()
        if not self.transport.is_closing():
            self._arm_body()

    # ------------------------------------------------------------------ the request body

    def _arm_body(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
        self._body_timer = self.loop.call_later(self.guard.header_timeout, self._body_late)

    def _body_late(self) -> None:
        self._body_timer = None
        _abort(self.transport, "the request body stalled")

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        if self._body_timer is not None:
            self._arm_body()

    def on_message_complete(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._cancel_timers()
        super().handle_websocket_upgrade()

    # ------------------------------------------------------------------ writing

    def pause_writing(self) -> None:
        super().pause_writing()
        self._stall.paused(self.transport)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._stall.resumed()


class GuardedWebSocket(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol with a handshake timeout, a write-stall guard and a close
    that frees the connection even when its client has stopped reading."""

    guard: ConnectionGuard

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handshake_timer: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        # The app drops a reader after send_timeout (close 4008); this is the backstop.
        self._stall = _StallGuard(self.loop, self.guard.send_timeout + self.guard.ws_close_grace)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # Counted by GuardedHttp before the upgrade; admit() keeps that place.
        self.guard.admit(transport, _address(transport))
        self._handshake_timer = self.loop.call_later(
            self.guard.ws_handshake_timeout, self._handshake_late
        )

    def _handshake_late(self) -> None:
        self._handshake_timer = None
        if not self.handshake_complete:
            _abort(self.transport, "the WebSocket handshake did not finish in time")

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._handshake_timer, self._close_timer, self._stall.timer):
            if timer is not None:
                timer.cancel()
        self.guard.release(self.transport)
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        self._stall.paused(self.transport)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._stall.resumed()

    def keepalive_timeout(self) -> None:
        """No pong within ``ws_ping_timeout``: uvicorn writes a 1011 close and calls
        ``transport.close()``, which waits for the buffer to flush, forever if the client does
        not read (a non-reader whose catch-up fit in the kernel's buffers ends up here)."""
        super().keepalive_timeout()
        _abort(self.transport, "it answered no ping")

    async def send(self, message: Any) -> None:
        if message["type"] == "websocket.accept" and self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        if (
            message["type"] == "websocket.close"
            and self.handshake_complete
            and not self.disconnected
            and self._close_timer is None
        ):
            # The last write: queue the close frame behind what is buffered even if the client
            # has stopped reading (it sees the code if it ever reads), and cut the connection if
            # it is still there ws_close_grace seconds later (transport.close() alone would
            # wait for the buffer to flush, forever).
            self._close_timer = self.loop.call_later(
                self.guard.ws_close_grace, _abort, self.transport, "it did not take the close frame"
            )
            self.writable.set()
        await super().send(message)


def protocols(guard: ConnectionGuard) -> tuple[type[GuardedHttp], type[GuardedWebSocket]]:
    """The two protocol classes for one server, sharing ``guard`` (uvicorn.Config(http=, ws=))."""
    http = type("AuctionhouseHttp", (GuardedHttp,), {"guard": guard})
    ws = type("AuctionhouseWebSocket", (GuardedWebSocket,), {"guard": guard})
    return http, ws
