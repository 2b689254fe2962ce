"""The WebSocket protocol of ``/api/v1/ws`` (docs/api.md): auth, subscribe, unsubscribe, bid,
time. Each bid is answered with an ack or an error carrying the same codes as HTTP.

A socket authenticates with its first ``{op: auth, token}`` message, never a URL (redact.py);
it lives as long as its session: each command checks it, and sessions.py closes the socket
when the session expires (4002) or is revoked (4003)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auctionhouse.errors import AuctionhouseError, InvalidRequest, Overloaded, Unauthorized
from auctionhouse.server.hub import Connection
from auctionhouse.server.models import NewBid, quick_bid
from auctionhouse.server.wire import decode_message, dumps, error_body, validation_error

if TYPE_CHECKING:
    from auctionhouse.server.app import ServerState

MAX_INFLIGHT_BIDS = 1024
WS_PATH = "/api/v1/ws"
_BID_FIELDS = ("amount", "nonce", "ts", "signature", "proxy_max")


def _error(request_id: Any, exc: BaseException, **extra: Any) -> str:
    _, body = error_body(exc)
    message: dict[str, Any] = {"type": "error", "id": request_id, **body, **extra}
    return dumps(message)


def _auction_list(value: Any) -> list[str] | None:
    """``"*"`` (None: every auction) or a list of auction ids."""
    if value == "*":
        return None
    if isinstance(value, str):
        return [value]
    if (
        isinstance(value, list)
        and 0 < len(value) <= 1000
        and all(isinstance(a, str) and 0 < len(a) <= 100 for a in value)
    ):
        return list(dict.fromkeys(value))
    raise InvalidRequest('auctions must be "*" or a list of 1 to 1000 auction ids')


def _creations(message: dict[str, Any]) -> bool | None:
    """``created: true`` asks for every new auction (None: the message does not say)."""
    value = message.get("created")
    if value is None:
        return None
    if value is not True:
        raise InvalidRequest("created must be true (or absent)")
    return True


def _after(value: Any) -> dict[str, int]:
    if value is None:
        return {}
    if isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
        for k, v in value.items()
    ):
        return dict(value)
    raise InvalidRequest("after must map auction ids to the last seq seen (integers >= 0)")


class Session:
    """One connection's protocol: reads ops, answers them through the hub's send queue."""

    def __init__(self, server: ServerState, conn: Connection) -> None:
        self.server = server
        self.conn = conn

    async def handle(self, raw: str | bytes) -> None:
        request_id: Any = None
        try:
            message, request_id = decode_message(raw)
            self.server.house.check_address(self.conn.address)
            if not self.server.sessions.check(self.conn):
                return  # the session expired or was revoked: the socket is being closed
            op = message.get("op")
            if op == "bid":
                self._bid(request_id, message)
            elif op == "subscribe":
                self._subscribe(request_id, message)
            elif op == "unsubscribe":
                if _creations(message) is not None:
                    self.server.hub.watch_creations(self.conn, False)
                    self._reply(request_id, {"type": "unsubscribed", "created": True})
                    return
                auctions = _auction_list(message.get("auctions"))
                self.server.hub.unsubscribe(self.conn, auctions)
                self._reply(request_id, {"type": "unsubscribed", "auctions": auctions or "*"})
            elif op == "auth":
                await self.authenticate(message.get("token"))
                self._reply(request_id, {"type": "auth", "account": self.conn.account})
            elif op == "time":
                now = self.server.house.clock.now()
                self._reply(request_id, {"type": "time", "server_time": now})
            else:
                raise InvalidRequest("op must be auth, subscribe, unsubscribe, bid or time")
        except AuctionhouseError as exc:
            self.conn.push(_error(request_id, exc))

    def _reply(self, request_id: Any, message: dict[str, Any]) -> None:
        if request_id is not None:
            message["id"] = request_id
        self.conn.push(dumps(message))

    async def authenticate(self, token: Any) -> None:
        session = self.server.house.session(token if isinstance(token, str) else None)
        await self.server.hub.claim(self.conn, session.account_id)
        self.server.sessions.watch(self.conn, session.digest, session.expires_at)

    def _subscribe(self, request_id: Any, message: dict[str, Any]) -> None:
        """Queues the catch-up and the answers; the sender sends them in order, under flow
        control (hub.py), so a subscribe never holds more than a marker in memory."""
        if _creations(message) is not None:
            if "auctions" in message:
                raise InvalidRequest('subscribe to "created" or to auctions, not both at once')
            self.server.hub.watch_creations(self.conn, True)
            self._reply(request_id, {"type": "subscribed", "created": True})
            return
        auctions = _auction_list(message.get("auctions"))
        after = _after(message.get("after"))
        errors = self.server.hub.subscribe(self.conn, auctions, after)
        for err in errors:
            auction = err.pop("auction")
            self.conn.push(
                dumps({"type": "error", "id": request_id, "auction": auction, "error": err})
            )
        self._reply(request_id, {"type": "subscribed", "auctions": auctions or "*"})

    def _bid(self, request_id: Any, message: dict[str, Any]) -> None:
        started = time.perf_counter()
        conn = self.conn
        try:
            auction = message.get("auction")
            if not isinstance(auction, str) or not auction:
                raise InvalidRequest("auction must be an auction id")
            if conn.account is None:
                raise Unauthorized("authenticate first: send {op: auth, token}")
            fields = {k: message[k] for k in _BID_FIELDS if k in message}
            bid = quick_bid(fields)
            if bid is None:
                try:
                    bid = NewBid.model_validate(fields).fields()
                except ValidationError as exc:
                    raise validation_error(exc.errors()) from None
            if len(conn.tasks) >= MAX_INFLIGHT_BIDS:
                raise Overloaded("too many bids in flight on this connection")
            # Answered from the future's callback once durable: no task per bid on the loop.
            future = self.server.submit_bid(conn.account, auction, bid)
        except Exception as exc:
            code = exc.code if isinstance(exc, AuctionhouseError) else "internal_error"
            self.server.metrics.bid("websocket", started, code)
            conn.push(_error(request_id, exc))
            return
        conn.tasks.add(future)
        future.add_done_callback(functools.partial(self._answer, request_id, started))

    def _answer(
        self, request_id: Any, started: float, future: asyncio.Future[dict[str, Any]]
    ) -> None:
        self.conn.tasks.discard(future)
        if future.cancelled():  # the connection closed first
            return
        exc = future.exception()
        if exc is not None:
            code = exc.code if isinstance(exc, AuctionhouseError) else "internal_error"
            self.server.metrics.bid("websocket", started, code)
            self.conn.push(_error(request_id, exc))
            return
        self.server.metrics.bid("websocket", started, None)
        self.conn.push(dumps({"type": "ack", "id": request_id, "ack": future.result()}))


class RawSocket:
    """The ASGI WebSocket messages, used directly: no per-frame wrapper on the hot path."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        client = scope.get("client")
        self.address = str(client[0]) if client else "unknown"

    async def accept(self) -> bool:
        message = await self._receive()
        if message["type"] != "websocket.connect":
            return False
        await self._send({"type": "websocket.accept"})
        return True

    async def receive(self) -> Message:
        return await self._receive()

    async def send_text(self, data: str) -> None:
        await self._send({"type": "websocket.send", "text": data})

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        await self._send({"type": "websocket.close", "code": code, "reason": reason or ""})


async def serve_socket(server: ServerState, scope: Scope, receive: Receive, send: Send) -> None:
    """One WebSocket from accept to close."""
    websocket = RawSocket(scope, receive, send)
    if not await websocket.accept():
        return
    address = websocket.address
    conn = server.hub.open(websocket, address)
    conn.reader = asyncio.current_task()
    session = Session(server, conn)
    try:
        server.house.check_address(address)
        while not conn.closed:
            frame = await websocket.receive()
            if frame["type"] != "websocket.receive":
                break
            raw = frame.get("text")
            if raw is None:
                raw = frame.get("bytes") or b""
            await session.handle(raw)
    except AuctionhouseError as exc:  # refused at the door (rate limit)
        conn.push(_error(None, exc))
        await conn.flush()
        await websocket.close(code=1013, reason=exc.code)
    except OSError:  # the peer vanished mid-send
        pass
    except asyncio.CancelledError:
        if not conn.closed:  # not our own drop: let the cancellation through
            raise
    finally:
        server.hub.close(conn)
        if conn.closing is not None and conn.closing is not asyncio.current_task():
            # Dropped by the hub: its close frame (code and reason) goes out before the
            # socket ends, else the client would see the connection end with no reason.
            with contextlib.suppress(BaseException):
                await asyncio.shield(conn.closing)


class WebSocketEndpoint:
    """Pure ASGI middleware: ``/api/v1/ws`` is served here, before Starlette's per-frame
    wrappers; everything else goes on to the app."""

    def __init__(self, app: ASGIApp, server: ServerState, path: str = WS_PATH) -> None:
        self.app = app
        self.server = server
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == self.path:
            await serve_socket(self.server, scope, receive, send)
        else:
            await self.app(scope, receive, send)
