"""The WebSocket fan-out: who watches which auction, and what each connection is sent.

The house tells ``Hub.on_event`` of every event once it is durable (on the event loop, in seq
order). The hub encodes each event once and hands the same text to every watcher's bounded send
queue; a connection whose queue is full is dropped (close code 4008), so one slow reader never
holds up the others or the house.

No gap, no duplicate: a subscription first registers the connection, so live events start
buffering in its backlog; then a snapshot and the missed events are read in order with every
write (``HouseService.call``: answered once all that came before is durable); then the backlog
is replayed, skipping every seq the connection has already been sent.

Dutch clocks: a subscribed open Dutch auction gets a ``tick`` message on each clock step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from auctionhouse.auction import (
    AuctionClosed,
    AuctionCreated,
    AuctionPaused,
    AuctionResumed,
    AuctionState,
    Event,
    Method,
    dutch_price,
    public_event,
)
from auctionhouse.auction.rules import next_dutch_step
from auctionhouse.auction.views import public_view
from auctionhouse.errors import NotFound, QuotaExceeded
from auctionhouse.house import AuctionHouse
from auctionhouse.house.service import HouseService
from auctionhouse.server.wire import dumps

log = logging.getLogger("auctionhouse.server")

CLOSE_SLOW = 4008
CLOSE_RESTART = 1012
TICK_SLACK = 0.002  # fire a Dutch tick just after the step, never just before


class Socket(Protocol):
    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


class Connection:
    """One WebSocket client: its account, subscriptions, last seq sent per auction, send queue."""

    def __init__(self, hub: Hub, socket: Socket, address: str, queue_size: int) -> None:
        self.hub = hub
        self.socket = socket
        self.address = address
        self.account: str | None = None
        self.auctions: set[str] = set()
        self.everything = False
        self.last_seq: dict[str, int] = {}
        self.backlog: list[tuple[str, int, str]] | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.closed = False
        # The task reading this socket: cancelled when the hub drops the connection.
        self.reader: asyncio.Task[Any] | None = None
        # The hub's shutdown of a dropped connection (its close frame with the reason).
        self.closing: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self._sender = asyncio.create_task(self._send_loop(), name="ws-sender")

    def push(self, text: str) -> None:
        """Queue a message; a full queue drops the connection (it reads too slowly)."""
        if self.closed:
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self.hub.drop(self, CLOSE_SLOW, "too slow: the send queue is full")

    async def push_wait(self, text: str) -> None:
        """Queue a message, waiting for room: catch-up after a subscribe may be longer than the
        queue, and only this connection's own reader waits for it."""
        if not self.closed:
            await self._queue.put(text)

    def push_event(self, auction_id: str, seq: int, text: str) -> None:
        if self.backlog is not None:
            if len(self.backlog) >= self._queue.maxsize:
                self.hub.drop(self, CLOSE_SLOW, "too slow: live events piled up during catch-up")
                return
            self.backlog.append((auction_id, seq, text))
            return
        if seq <= self.last_seq.get(auction_id, 0):
            return
        self.last_seq[auction_id] = seq
        self.push(text)

    def watches(self, auction_id: str) -> bool:
        return self.everything or auction_id in self.auctions

    async def _send_loop(self) -> None:
        queue = self._queue
        send = self.socket.send_text
        while True:
            text = await queue.get()
            try:
                await send(text)
                while not queue.empty():  # drain without a wake-up per message
                    await send(queue.get_nowait())
            except Exception:  # the peer went away
                self.hub.close(self)
                return

    def discard_queued(self) -> None:
        """Empty the send queue (a closed connection): wakes a reader waiting in push_wait."""
        while not self._queue.empty():
            self._queue.get_nowait()

    async def shutdown(self, code: int, reason: str) -> None:
        self.closed = True
        self._sender.cancel()
        for task in list(self.tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.socket.close(code=code, reason=reason), timeout=2.0)
        if self.reader is not None and self.reader is not asyncio.current_task():
            self.reader.cancel()

    async def flush(self, timeout: float = 1.0) -> None:
        """Wait (bounded) until everything queued so far has been handed to the socket."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._queue.empty() and not self.closed:
            if asyncio.get_running_loop().time() >= deadline:
                return
            await asyncio.sleep(0.005)


@dataclass(slots=True)
class CatchUp:
    auction_id: str
    view: dict[str, Any] | None
    events: list[dict[str, Any]]
    now: float
    error: dict[str, Any] | None = None


class Hub:
    def __init__(self, service: HouseService, *, queue_size: int, per_account: int) -> None:
        self.service = service
        self.queue_size = queue_size
        self.per_account = per_account
        self.connections: set[Connection] = set()
        self.subs: dict[str, set[Connection]] = {}
        self.everyone: set[Connection] = set()
        self.durable_seq: dict[str, int] = {}
        self._accounts: Counter[str] = Counter()
        self._tickers: dict[str, asyncio.TimerHandle] = {}
        self._unsubscribe: Any = None
        self._closing_tasks: set[asyncio.Task[None]] = set()
        self.dropped = 0

    @property
    def house(self) -> AuctionHouse:
        return self.service.house

    def start(self) -> None:
        house = self.house
        for aid in house.auction_ids():
            self.durable_seq[aid] = house.state(aid).seq
        self._unsubscribe = house.subscribe(self.on_event)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        for handle in self._tickers.values():
            handle.cancel()
        self._tickers.clear()
        await asyncio.gather(
            *(c.shutdown(CLOSE_RESTART, "the server is restarting") for c in self.connections),
            return_exceptions=True,
        )
        self.connections.clear()

    # ------------------------------------------------------------------ connections

    def open(self, socket: Socket, address: str) -> Connection:
        conn = Connection(self, socket, address, self.queue_size)
        self.connections.add(conn)
        return conn

    def authenticate(self, conn: Connection, account_id: str) -> None:
        if conn.account == account_id:
            return
        if self._accounts[account_id] >= self.per_account:
            raise QuotaExceeded(
                f"an account may hold {self.per_account} WebSocket connections at once"
            )
        self._release_account(conn)
        conn.account = account_id
        self._accounts[account_id] += 1

    def _release_account(self, conn: Connection) -> None:
        if conn.account is not None:
            self._accounts[conn.account] -= 1
            if self._accounts[conn.account] <= 0:
                del self._accounts[conn.account]
            conn.account = None

    def close(self, conn: Connection) -> None:
        """Forget a connection (its reader ended)."""
        conn.closed = True
        self.connections.discard(conn)
        self._release_account(conn)
        self.everyone.discard(conn)
        for aid in conn.auctions:
            watchers = self.subs.get(aid)
            if watchers is not None:
                watchers.discard(conn)
                if not watchers:
                    del self.subs[aid]
        conn.auctions.clear()
        for task in list(conn.tasks):
            task.cancel()
        conn._sender.cancel()
        conn.discard_queued()

    def drop(self, conn: Connection, code: int, reason: str) -> None:
        if conn.closed:
            return
        self.dropped += 1
        log.warning("dropping WebSocket %s: %s", conn.address, reason)
        self.close(conn)
        task = asyncio.get_running_loop().create_task(conn.shutdown(code, reason))
        conn.closing = task
        self._closing_tasks.add(task)
        task.add_done_callback(self._closing_tasks.discard)

    # ------------------------------------------------------------------ subscriptions

    async def subscribe(
        self, conn: Connection, auctions: list[str] | None, after: dict[str, int]
    ) -> list[dict[str, Any]]:
        """Subscribe ``conn`` to ``auctions`` (None: every auction); send snapshots and missed
        events. Returns the errors for auctions that could not be subscribed."""
        conn.backlog = []
        if auctions is None:
            conn.everything = True
            self.everyone.add(conn)
        else:
            for aid in auctions:
                conn.auctions.add(aid)
                self.subs.setdefault(aid, set()).add(conn)
        errors: list[dict[str, Any]] = []
        try:
            wanted = None if auctions is None else list(auctions)
            results = await self.service.call(lambda h: self._catch_up(h, wanted, after))
            for item in results:
                if item.error is not None:
                    self._unwatch(conn, item.auction_id)
                    errors.append(item.error)
                    continue
                await self._send_catch_up(conn, item)
        except BaseException:
            if auctions is None:
                conn.everything = False
                self.everyone.discard(conn)
            else:
                for aid in auctions:
                    self._unwatch(conn, aid)
            raise
        finally:
            backlog, conn.backlog = conn.backlog, None
            for aid, seq, text in backlog or ():
                if conn.watches(aid):
                    conn.push_event(aid, seq, text)
        for aid in self.house.auction_ids() if auctions is None else auctions:
            if conn.watches(aid):
                self._ensure_ticker(aid)
        return errors

    def unsubscribe(self, conn: Connection, auctions: list[str] | None) -> None:
        if auctions is None:
            conn.everything = False
            self.everyone.discard(conn)
            auctions = list(conn.auctions)
        for aid in auctions:
            self._unwatch(conn, aid)

    def _unwatch(self, conn: Connection, aid: str) -> None:
        conn.auctions.discard(aid)
        if not conn.everything:
            conn.last_seq.pop(aid, None)
        watchers = self.subs.get(aid)
        if watchers is not None:
            watchers.discard(conn)
            if not watchers:
                del self.subs[aid]

    def _catch_up(
        self, house: AuctionHouse, auctions: list[str] | None, after: dict[str, int]
    ) -> list[CatchUp]:
        """Runs in order with every write: what was decided before is durable when it answers."""
        now = house.clock.now()
        if auctions is None:
            # The live list: every auction not closed, plus any the client names in ``after``.
            ids = [a for a in house.auction_ids() if house.state(a).outcome is None]
            live = set(ids)
            ids += [a for a in after if a not in live]
        else:
            ids = auctions
        out = []
        for aid in ids:
            try:
                view = house.view(aid)
                events = house.events(aid, after.get(aid, 0))
            except NotFound as exc:
                out.append(CatchUp(aid, None, [], now, {"auction": aid, **exc.to_dict()}))
                continue
            out.append(CatchUp(aid, view, events, now))
        return out

    async def _send_catch_up(self, conn: Connection, item: CatchUp) -> None:
        aid, view, now = item.auction_id, item.view, item.now
        assert view is not None
        snapshot = {"type": "snapshot", "auction": aid, "view": view, "server_time": now}
        await conn.push_wait(dumps(snapshot))
        for event in item.events:
            message = {
                "type": "event",
                "auction": aid,
                "seq": event["seq"],
                "event": event,
                "view": view,
                "server_time": now,
            }
            await conn.push_wait(dumps(message))
        conn.last_seq[aid] = max(conn.last_seq.get(aid, 0), view["seq"])

    # ------------------------------------------------------------------ fan-out

    def watchers(self, aid: str) -> Iterable[Connection]:
        direct = self.subs.get(aid)
        if not self.everyone:
            return tuple(direct) if direct else ()
        if not direct:
            return tuple(self.everyone)
        return tuple(direct | self.everyone)

    def on_event(self, event: Event, state: AuctionState) -> None:
        """A durable event: send it once, encoded once, to everyone watching its auction.
        Never raises: the house calls this before it answers the commands of the batch."""
        try:
            self._fan_out(event, state)
        except Exception:
            log.exception("could not fan out event %s/%s", event.auction_id, event.seq)

    def _fan_out(self, event: Event, state: AuctionState) -> None:
        aid = event.auction_id
        self.durable_seq[aid] = event.seq
        if state.method is Method.DUTCH and isinstance(
            event, AuctionPaused | AuctionClosed | AuctionResumed | AuctionCreated
        ):
            self._cancel_ticker(aid)
            if isinstance(event, AuctionResumed | AuctionCreated):
                self._ensure_ticker(aid)
        targets = self.watchers(aid)
        if not targets:
            return
        now = self.house.clock.now()
        text = dumps(
            {
                "type": "event",
                "auction": aid,
                "seq": event.seq,
                # Live events are never revealed: a sealed bid is pushed before its close.
                "event": public_event(event, state.method, False),
                "view": public_view(state, now),
                "server_time": now,
            }
        )
        seq = event.seq
        for conn in targets:
            conn.push_event(aid, seq, text)

    # ------------------------------------------------------------------ Dutch clock ticks

    def _cancel_ticker(self, aid: str) -> None:
        handle = self._tickers.pop(aid, None)
        if handle is not None:
            handle.cancel()

    def _ensure_ticker(self, aid: str) -> None:
        if aid in self._tickers:
            return
        try:
            state = self.house.state(aid)
        except NotFound:
            return
        self._schedule_tick(aid, state)

    def _schedule_tick(self, aid: str, state: AuctionState) -> None:
        now = self.house.clock.now()
        at = next_dutch_step(state, now)
        if at is None:
            return
        loop = asyncio.get_running_loop()
        self._tickers[aid] = loop.call_later(max(0.0, at - now) + TICK_SLACK, self._tick, aid)

    def _tick(self, aid: str) -> None:
        self._tickers.pop(aid, None)
        targets = self.watchers(aid)
        if not targets:
            return
        state = self.house.state(aid)
        if state.outcome is not None or state.paused:
            return
        now = self.house.clock.now()
        text = dumps(
            {"type": "tick", "auction": aid, "price": dutch_price(state, now), "server_time": now}
        )
        for conn in targets:
            conn.push(text)
        self._schedule_tick(aid, state)
