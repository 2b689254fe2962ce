"""ASGI over the peer tunnel: a ring peer runs a client's HTTP request or WebSocket on another
peer, with the client's address carried in the mutually authenticated TLS channel.

Why not HTTP between the peers' public APIs (what forwarding first did): the member then saw the
forwarding peer's address, so every per-address limit (``house.check_address``, the WebSocket
hub's per-address connections) put all of that peer's clients in one bucket and no flood could
be told from its source; and a header naming the client on the public port could be sent by
anyone. A connection on the peer port is a member's (its certificate is checked before a byte
is read, ``tls.Tunnels``), so the address it names is trusted as the load balancer's
``X-Forwarded-For`` would be, and nothing a client sends can name one.

A connection names ``CHANNEL`` after the handshake, then carries frames: ``!II`` (JSON length,
bytes length), the JSON (an ASGI message, its ``body``/``bytes`` field left out), the bytes.
The first frame of each request is its head (``head_of``: the scope's type, method, path,
query, headers, the client's address, and the group whose replica must answer, if any); then
the ASGI messages flow both ways as the app's ``receive``/``send`` would pass them. An HTTP
exchange leaves the connection open for the next request (``ChannelPool``); a WebSocket keeps
it to itself and closes it at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

log = logging.getLogger("auctionhouse.p2p")

CHANNEL = "asgi"  # the group name a channel connection gives after the handshake
VIA = "auctionhouse.via"  # scope key: {"peer": member name, "group": gid | None}
FRAME = struct.Struct("!II")
MAX_JSON = 1 << 20
MAX_BYTES = 96 << 20  # a body (a photo upload is the largest)
IDLE_SECONDS = 20.0  # a pooled connection unused this long is closed, not reused
SERVE_IDLE_SECONDS = 30.0  # the serving side drops a connection idle this long

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def encode(message: Message) -> bytes:
    """One frame of an ASGI message (or a head)."""
    raw = message.get("body", message.get("bytes"))
    data = bytes(raw) if isinstance(raw, bytes | bytearray | memoryview) else b""
    head = {k: v for k, v in message.items() if k not in ("body", "bytes")}
    if "headers" in head:  # ASGI's (bytes, bytes) pairs, as latin-1 text in the JSON
        head["headers"] = [
            [bytes(k).decode("latin-1"), bytes(v).decode("latin-1")] for k, v in head["headers"]
        ]
    if "body" in message:
        head["body"] = True
    elif isinstance(raw, bytes | bytearray | memoryview):
        head["bytes"] = True
    text = orjson.dumps(head)
    return FRAME.pack(len(text), len(data)) + text + data


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any]:
    """The next frame's message. Raises IncompleteReadError (closed), ValueError (malformed)."""
    size, extra = FRAME.unpack(await reader.readexactly(FRAME.size))
    if size > MAX_JSON or extra > MAX_BYTES:
        raise ValueError("a channel frame over its bounds")
    message = orjson.loads(await reader.readexactly(size))
    if not isinstance(message, dict):
        raise ValueError("a channel frame is not an object")
    data = await reader.readexactly(extra) if extra else b""
    if "headers" in message:
        message["headers"] = [
            (str(k).encode("latin-1"), str(v).encode("latin-1")) for k, v in message["headers"]
        ]
    if message.pop("body", None):
        message["body"] = data
    elif message.pop("bytes", None):
        message["bytes"] = data
    return message


def head_of(scope: Scope, group: str | None) -> dict[str, Any]:
    """What a member needs of a client's scope to run it as its own: the client's address
    comes from the scope the client's connection made here, never from what it sent."""
    client = scope.get("client")
    return {
        "type": scope["type"],
        "method": scope.get("method", "GET"),
        "path": scope["path"],
        "query_string": scope.get("query_string", b"").decode("latin-1"),
        "headers": list(scope.get("headers") or []),
        "client": list(client) if client else None,
        "scheme": scope.get("scheme", "http"),
        "subprotocols": list(scope.get("subprotocols") or []),
        "group": group,
    }


def scope_of(head: dict[str, Any], member: str) -> dict[str, Any]:
    """The ASGI scope a member's request runs in here, marked ``VIA`` (never forwarded on)."""
    client = head.get("client")
    scope: dict[str, Any] = {
        "type": str(head["type"]),
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": str(head.get("method", "GET")),
        "scheme": str(head.get("scheme", "http")),
        "path": str(head["path"]),
        "raw_path": str(head["path"]).encode(),
        "root_path": "",
        "query_string": str(head.get("query_string", "")).encode("latin-1"),
        "headers": list(head["headers"]),
        "client": (str(client[0]), int(client[1])) if client else None,
        "server": None,
        "state": {},
        VIA: {"peer": member, "group": head.get("group")},
    }
    if scope["type"] == "websocket":
        scope["subprotocols"] = list(head.get("subprotocols") or [])
    return scope


async def serve(
    app: ASGIApp, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, member: str
) -> None:
    """Run a member's requests on ``app``, one after another, until it closes the channel."""
    try:
        while True:
            try:
                head = await asyncio.wait_for(read_frame(reader), SERVE_IDLE_SECONDS)
            except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, OSError):
                return
            scope = scope_of(head, member)
            if not await _run_one(app, scope, reader, writer):
                return
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        log.warning("a malformed channel frame from %s: %s", member, exc)
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _run_one(
    app: ASGIApp, scope: Scope, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> bool:
    """One request; True if the channel can carry another (an HTTP exchange ended cleanly)."""
    websocket = scope["type"] == "websocket"
    gone = asyncio.Event()
    finished = False

    async def receive() -> Message:
        if gone.is_set():
            return {
                "type": "websocket.disconnect" if websocket else "http.disconnect",
                "code": 1006,
            }
        try:
            return await read_frame(reader)
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError):
            gone.set()
            return {
                "type": "websocket.disconnect" if websocket else "http.disconnect",
                "code": 1006,
            }

    async def send(message: Message) -> None:
        nonlocal finished
        if gone.is_set():
            raise OSError("the forwarding peer closed the channel")
        writer.write(encode(message))
        await writer.drain()
        if message["type"] == "http.response.body" and not message.get("more_body"):
            finished = True

    try:
        await app(scope, receive, send)
    except (ConnectionError, OSError):
        return False
    return not websocket and finished and not gone.is_set()


class ChannelPool:
    """Open channels to members, kept between HTTP exchanges (a TLS handshake per forwarded
    bid would cost more than the bid)."""

    def __init__(self, connect: Callable[[str, str], Awaitable[Stream]]) -> None:
        self._connect = connect
        self._idle: dict[str, list[tuple[float, Stream]]] = {}

    async def open(self, member: str) -> Stream:
        """A new channel connection to ``member`` (for a WebSocket). Raises OSError,
        TimeoutError or ssl.SSLError when it cannot be reached."""
        return await self._connect(member, CHANNEL)

    async def take(self, member: str) -> Stream:
        idle = self._idle.get(member, [])
        now = time.monotonic()
        while idle:
            since, stream = idle.pop()
            if now - since < IDLE_SECONDS and not stream[0].at_eof():
                return stream
            stream[1].close()
        return await self.open(member)

    def give_back(self, member: str, stream: Stream) -> None:
        self._idle.setdefault(member, []).append((time.monotonic(), stream))

    def close(self) -> None:
        for idle in self._idle.values():
            for _, (_, writer) in idle:
                writer.close()
        self._idle.clear()


async def exchange(
    pool: ChannelPool, member: str, head: dict[str, Any], body: bytes
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run one HTTP request on ``member``: its response start and body messages. Raises
    OSError (or TimeoutError, ssl.SSLError, IncompleteReadError) when the member cannot be
    reached or the channel breaks before the answer is whole."""
    reader, writer = await pool.take(member)
    try:
        writer.write(
            encode(head) + encode({"type": "http.request", "body": body, "more_body": False})
        )
        await writer.drain()
        start = await read_frame(reader)
        if start.get("type") != "http.response.start":
            raise ConnectionError(f"a member answered {start.get('type')!r}")
        parts = []
        while True:
            part = await read_frame(reader)
            parts.append(part)
            if not part.get("more_body"):
                break
    except BaseException:
        writer.close()
        raise
    pool.give_back(member, (reader, writer))
    return start, parts
