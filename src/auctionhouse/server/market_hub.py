"""Markets over WebSocket: ``/api/v1/markets/ws`` (docs/markets.md).

One ``MarketHub`` per server listens to the house's market events once durable and sends each,
encoded once, to every connection watching its market, with the top of the book after it. A
connection's send queue is bounded (``ws_send_queue`` messages) and a send blocked for
``ws_send_timeout`` seconds (a client that stopped reading) ends it: either way the connection is
dropped (close code 4008), so a slow reader never grows the server's memory.

Protocol (same framing as ``/api/v1/ws``; every answer carries the request's ``id``):

- ``{op: auth, token}`` -> ``{type: auth, account}``
- ``{op: subscribe, markets: [ids]}`` -> per market a ``{type: market, market, view, trades,
  seq}`` snapshot (durable: taken after a read barrier), then ``{type: market_event, market,
  seq, event, book, server_time}`` for every later event; a client drops live events with a seq
  at or below the snapshot's.
- ``{op: order, market, side, price, quantity, nonce, ts, signature}`` -> ``{type: ack, ack}``
- ``{op: cancel, market, order_id, nonce, ts, signature}`` -> ``{type: ack, ack}``
- ``{op: unsubscribe, markets}``, ``{op: time}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Receive, Scope, Send

from auctionhouse.auction.market import MarketState, book_view, public_market_event
from auctionhouse.auction.market_events import MarketEvent
from auctionhouse.errors import (
    AuctionhouseError,
    InvalidRequest,
    NotFound,
    Overloaded,
    Unauthorized,
)
from auctionhouse.house.markets import cancel_order_command, place_order_command
from auctionhouse.house.service import HouseService
from auctionhouse.server.wire import decode_message, dumps

if TYPE_CHECKING:
    from auctionhouse.server.app import ServerState

log = logging.getLogger("auctionhouse.server")
MARKET_WS_PATH = "/api/v1/markets/ws"
LIVE_DEPTH = 10  # book levels a side sent with each live event
SNAPSHOT_TRADES = 50
CLOSE_SLOW = 4008
MAX_INFLIGHT = 1024  # orders awaiting their ack per connection


class MarketConnection:
    """One socket: its account, watched markets, and a bounded queue of frames to send."""

    def __init__(self, send_text: Callable[[str], Awaitable[None]], limit: int) -> None:
        self.send_text = send_text
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=limit)
        self.markets: set[str] = set()
        self.account: str | None = None  # counted in the account's WebSocket quota (hub.py)
        self.token: str | None = None
        self.dropped = False
        self.closed = False

    def push(self, text: str) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.dropped = True  # the sender closes the socket with 4008


def event_frame(event: MarketEvent, state: MarketState, now: float) -> dict[str, Any]:
    """The live message of one durable market event: its public form and the market's book
    (``LIVE_DEPTH`` levels a side) and last price as they are once it is durable."""
    return {
        "type": "market_event",
        "market": event.market_id,
        "seq": event.seq,
        "event": public_market_event(event),
        "book": book_view(state, LIVE_DEPTH),
        "last_price": state.last_price,
        "server_time": now,
    }


class MarketHub:
    """Who watches which market; the durable seq of each market (a read barrier)."""

    def __init__(
        self, service: HouseService, queue_limit: int = 4096, send_timeout: float = 20.0
    ) -> None:
        self.service = service
        self.queue_limit = queue_limit
        self.send_timeout = send_timeout
        self.durable_seq: dict[str, int] = {}
        self.watchers: dict[str, set[MarketConnection]] = {}
        self.connections: set[MarketConnection] = set()  # open sockets (a metrics gauge)
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        house = self.service.house
        for mid in house.markets.market_ids():
            self.durable_seq[mid] = house.markets.state(mid).seq
        self._unsubscribe = house.markets.subscribe(self.on_event)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    async def settled(self, market_id: str) -> None:
        """Wait until everything decided about the market is durable."""
        state = self.service.house.markets.state(market_id)
        if state.seq > self.durable_seq.get(market_id, 0):
            await self.service.call(lambda h: None)

    def on_event(self, event: MarketEvent, state: MarketState) -> None:
        mid = event.market_id
        self.durable_seq[mid] = event.seq
        targets = self.watchers.get(mid)
        if not targets:
            return
        text = dumps(event_frame(event, state, self.service.house.clock.now()))
        for conn in tuple(targets):
            conn.push(text)

    def watch(self, conn: MarketConnection, market_id: str) -> None:
        self.watchers.setdefault(market_id, set()).add(conn)
        conn.markets.add(market_id)

    def unwatch(self, conn: MarketConnection, market_id: str) -> None:
        found = self.watchers.get(market_id)
        if found is not None:
            found.discard(conn)
            if not found:
                del self.watchers[market_id]
        conn.markets.discard(market_id)


async def signed_write(server: ServerState, op: str, command: Any) -> dict[str, Any]:
    """Run a signed order (``op`` ``order``) or cancel (``cancel``) through the house service
    and count its answer in the metrics (HTTP and WebSocket alike)."""
    try:
        ack: dict[str, Any] = await server.service.call(command)
    except Exception as exc:
        code = exc.code if isinstance(exc, AuctionhouseError) else "internal_error"
        server.metrics.market(op, code)
        raise
    server.metrics.market(op, None)
    return ack


def _error(request_id: Any, exc: BaseException) -> str:
    from auctionhouse.server.ws import _error as ws_error

    return ws_error(request_id, exc)


class MarketSession:
    def __init__(self, server: ServerState, conn: MarketConnection, address: str) -> None:
        self.server = server
        self.hub: MarketHub = server.market_hub
        self.conn = conn
        self.address = address
        self.tasks: set[asyncio.Task[None]] = set()

    def reply(self, request_id: Any, message: dict[str, Any]) -> None:
        if request_id is not None:
            message["id"] = request_id
        self.conn.push(dumps(message))

    async def handle(self, raw: str | bytes) -> None:
        request_id: Any = None
        try:
            message, request_id = decode_message(raw)
            house = self.server.house
            house.check_address(self.address)
            op = message.get("op")
            if op == "auth":
                token = message.get("token")
                session = house.session(token if isinstance(token, str) else None)
                # the auction sockets' quota, counted with them (over every instance of a
                # shared house): quota_exceeded
                await self.server.hub.claim(self.conn, session.account_id)
                self.conn.token = token
                self.reply(request_id, {"type": "auth", "account": session.account_id})
            elif op == "subscribe":
                for mid in _markets(message.get("markets")):
                    await self._subscribe(request_id, mid)
                self.reply(request_id, {"type": "subscribed"})
            elif op == "unsubscribe":
                for mid in _markets(message.get("markets")):
                    self.hub.unwatch(self.conn, mid)
                self.reply(request_id, {"type": "unsubscribed"})
            elif op in ("order", "cancel"):
                if len(self.tasks) >= MAX_INFLIGHT:
                    raise Overloaded(f"at most {MAX_INFLIGHT} orders in flight per connection")
                task = asyncio.create_task(self._trade(request_id, op, message))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            elif op == "time":
                self.reply(request_id, {"type": "time", "server_time": house.clock.now()})
            else:
                raise InvalidRequest(
                    "op must be auth, subscribe, unsubscribe, order, cancel or time"
                )
        except AuctionhouseError as exc:
            self.conn.push(_error(request_id, exc))

    async def _subscribe(self, request_id: Any, mid: str) -> None:
        self.hub.watch(self.conn, mid)  # first: live events queue behind the snapshot
        try:
            await self.hub.settled(mid)
        except NotFound:
            self.hub.unwatch(self.conn, mid)
            raise
        markets = self.server.house.markets
        view = markets.view(mid, 20)
        self.reply(
            None,
            {
                "type": "market",
                "market": mid,
                "seq": view["seq"],
                "view": view,
                "trades": markets.recent_trades(mid, SNAPSHOT_TRADES),
                "server_time": self.server.house.clock.now(),
            },
        )

    async def _trade(self, request_id: Any, op: str, message: dict[str, Any]) -> None:
        try:
            if self.conn.account is None or self.conn.token is None:
                raise Unauthorized("send {op: auth, token} first")
            self.server.house.session(self.conn.token)  # expired or revoked: refused
            account = self.conn.account
            market = message.get("market")
            nonce, ts, signature = message.get("nonce"), message.get("ts"), message.get("signature")
            if not isinstance(market, str):
                raise InvalidRequest("market must be a market id")
            if op == "order":
                side, price = message.get("side"), message.get("price")
                quantity = message.get("quantity")
                ack = await signed_write(
                    self.server,
                    "order",
                    place_order_command(
                        account,
                        market,
                        side,  # type: ignore[arg-type]
                        price,  # type: ignore[arg-type]
                        quantity,  # type: ignore[arg-type]
                        nonce=nonce,
                        ts=ts,
                        signature=signature,
                    ),
                )
            else:
                order_id = message.get("order_id")
                ack = await signed_write(
                    self.server,
                    "cancel",
                    cancel_order_command(
                        account,
                        market,
                        order_id,  # type: ignore[arg-type]
                        nonce=nonce,
                        ts=ts,
                        signature=signature,
                    ),
                )
            self.reply(request_id, {"type": "ack", "ack": ack})
        except AuctionhouseError as exc:
            self.conn.push(_error(request_id, exc))
        except Exception as exc:  # never lose the answer
            log.exception("a market order over WebSocket failed")
            self.conn.push(_error(request_id, exc))


def _markets(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if (
        isinstance(value, list)
        and 0 < len(value) <= 100
        and all(isinstance(m, str) and 0 < len(m) <= 100 for m in value)
    ):
        return list(dict.fromkeys(value))
    raise InvalidRequest("markets must be a list of 1 to 100 market ids")


async def serve_market_socket(
    server: ServerState, scope: Scope, receive: Receive, send: Send
) -> None:
    """One market WebSocket from accept to close."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    client = scope.get("client")
    address = client[0] if client else ""

    async def send_text(text: str) -> None:
        await send({"type": "websocket.send", "text": text})

    hub = server.market_hub
    conn = MarketConnection(send_text, hub.queue_limit)
    hub.connections.add(conn)

    async def sender() -> None:
        while True:
            text = await conn.queue.get()
            if conn.dropped or text is None:
                break
            try:  # a client that stopped reading blocks the send: dropped after send_timeout
                await asyncio.wait_for(send_text(text), hub.send_timeout)
            except TimeoutError:
                conn.dropped = True
                break
        with contextlib.suppress(Exception):
            code = CLOSE_SLOW if conn.dropped else 1000
            await asyncio.wait_for(
                send({"type": "websocket.close", "code": code, "reason": ""}), 1.0
            )

    session = MarketSession(server, conn, address)

    async def reader() -> None:
        try:
            while not conn.dropped:
                frame = await receive()
                if frame["type"] != "websocket.receive":
                    break
                raw = frame.get("text")
                if raw is None:
                    raw = frame.get("bytes") or b""
                await session.handle(raw)
        except AuctionhouseError as exc:
            conn.push(_error(None, exc))
        except OSError:
            pass
        with contextlib.suppress(asyncio.QueueFull):
            conn.queue.put_nowait(None)  # the sender sends what is queued, then closes

    # The socket lives until either side ends: the client leaves (the reader ends, the sender
    # flushes and closes), or the client stops reading (the sender drops it and ends, and the
    # reader, blocked on a client that sends nothing, is cancelled so the connection ends).
    tasks = [
        asyncio.create_task(sender(), name="market-ws-sender"),
        asyncio.create_task(reader(), name="market-ws-reader"),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if tasks[1] in done and not tasks[0].done():
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(tasks[0]), hub.send_timeout + 1.0)
    finally:
        hub.connections.discard(conn)
        server.hub.release(conn)  # its place in the account's quota
        for mid in list(conn.markets):
            hub.unwatch(conn, mid)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


class MarketSocketEndpoint:
    """Pure ASGI middleware: ``/api/v1/markets/ws`` is served here."""

    def __init__(self, app: ASGIApp, server: ServerState) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == MARKET_WS_PATH:
            await serve_market_socket(self.server, scope, receive, send)
        else:
            await self.app(scope, receive, send)
