"""The WebSocket fan-out: who watches which auction, and what each connection is sent.

The house tells ``Hub.on_event`` of every event once it is durable (on the event loop, in seq
order). The hub encodes each event once and hands the same text to every watcher's send queue.

Memory per connection is bounded on every path (docs/api.md "Flow control"):

- A connection's queue is bounded in bytes (``ws_send_buffer_bytes``) and in messages
  (``ws_send_queue``): live events, Dutch ticks and replies to commands all count against it. A
  connection whose queue is full is dropped (close code 4008).
- One sender task per connection hands frames to the socket one at a time and waits whenever the
  socket's write buffer is full (the server's own flow control). A send that stays blocked for
  ``ws_send_timeout`` seconds (a client that stopped reading) drops the connection (4008): one
  sweep a second checks every connection.
- Catch-up after a subscribe is not queued up front: the queue holds a small ``CatchUp`` marker,
  and the sender reads the snapshot and the missed events when it reaches it, page by page, under
  the same flow control as live events. Catch-up frames are ``event`` messages without a view
  (the snapshot before them has it), encoded once per page and shared by every connection through
  a bounded cache of encoded pages (``CatchUpPages``).

No gap, no duplicate: a subscription registers the connection first, so live events start
queueing behind its ``CatchUp`` marker; the sender then takes a durable snapshot (seq H), sends
the events up to H, and skips every queued live event at or below the last seq it has sent.

Dutch clocks: a subscribed open Dutch auction gets a ``tick`` message on each clock step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

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
from auctionhouse.errors import AuctionhouseError, NotFound, QuotaExceeded
from auctionhouse.house import AuctionHouse
from auctionhouse.house.service import HouseService
from auctionhouse.server.wire import dumps

log = logging.getLogger("auctionhouse.server")

CLOSE_SLOW = 4008
CLOSE_RESTART = 1012
CLOSE_TRY_LATER = 1013
TICK_SLACK = 0.002  # fire a Dutch tick just after the step, never just before
PAGE_EVENTS = 256  # events per cached catch-up page (pages are aligned: 1-256, 257-512, ...)
CATCH_UP_COST = 64  # bytes a queued CatchUp marker counts for, plus 8 per auction it names


def live_view(state: AuctionState, now: float) -> dict[str, Any]:
    """The view sent with a live event: the public view without the item's description (up to
    5,000 characters that never change; the snapshot and ``AuctionCreated`` carry it), so a
    live frame stays small however long the description is."""
    view = public_view(state, now)
    view["item"] = {"name": state.item_name, "photos": list(state.photos)}
    return view


class AccountSocket(Protocol):
    """What the per-account quota counts: an auction socket (``Connection``) or a market
    socket (``market_hub.MarketConnection``), one quota for both."""

    account: str | None
    closed: bool


class Socket(Protocol):
    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-connection flow control (ServerConfig's ``ws_*`` settings)."""

    queue_messages: int = 4096
    queue_bytes: int = 1 << 20
    send_timeout: float = 20.0


@dataclass(slots=True)
class CatchUp:
    """A queued subscription: its snapshots and missed events are read when the sender gets
    here. ``auctions`` is the list to catch up on, in order; ``after`` the client's last seqs."""

    auctions: list[str]
    after: dict[str, int]

    @property
    def cost(self) -> int:
        return CATCH_UP_COST + 8 * len(self.auctions)


# A queued item: a ready frame (reply, error, tick), a live event (auction, seq, frame), or a
# CatchUp marker.
_Item = str | tuple[str, int, str] | CatchUp


def _cost(item: _Item) -> int:
    if isinstance(item, str):
        return len(item)
    if isinstance(item, tuple):
        return len(item[2])
    return item.cost


class Connection:
    """One WebSocket client: its account, subscriptions, last seq sent per auction, send queue."""

    def __init__(self, hub: Hub, socket: Socket, address: str, limits: Limits) -> None:
        self.hub = hub
        self.socket = socket
        self.address = address
        self.limits = limits
        self.account: str | None = None
        self.auctions: set[str] = set()
        self.everything = False
        # The last seq sent per auction; auctions whose CatchUp is still queued (their queued
        # live events are covered by it, so they are skipped).
        self.last_seq: dict[str, int] = {}
        self.pending: Counter[str] = Counter()
        self.tasks: set[asyncio.Future[Any]] = set()  # bids in flight (cancelled at close)
        self.closed = False
        # When the frame being handed to the socket started waiting (None: not blocked).
        self.sending_since: float | None = None
        # The task reading this socket: cancelled when the hub drops the connection.
        self.reader: asyncio.Task[Any] | None = None
        # The hub's shutdown of a dropped connection (its close frame with the reason).
        self.closing: asyncio.Task[None] | None = None
        self._queue: deque[_Item] = deque()
        self._queued_bytes = 0
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._sender = asyncio.create_task(self._send_loop(), name="ws-sender")

    # ------------------------------------------------------------------ queueing

    def _put(self, item: _Item) -> None:
        if self.closed:
            return
        cost = _cost(item)
        limits = self.limits
        if (
            len(self._queue) >= limits.queue_messages
            or self._queued_bytes + cost > limits.queue_bytes
        ):
            self.hub.drop(self, CLOSE_SLOW, "too slow: the send queue is full")
            return
        self._queue.append(item)
        self._queued_bytes += cost
        self._idle.clear()
        self._wake.set()

    def push(self, text: str) -> None:
        """Queue a message; a full queue drops the connection (it reads too slowly)."""
        self._put(text)

    def push_event(self, auction_id: str, seq: int, text: str) -> None:
        """Queue a live event; the sender skips it if a catch-up already covered it."""
        self._put((auction_id, seq, text))

    def push_catch_up(self, item: CatchUp) -> None:
        for aid in item.auctions:
            self.pending[aid] += 1
        self._put(item)

    def watches(self, auction_id: str) -> bool:
        return self.everything or auction_id in self.auctions

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    # ------------------------------------------------------------------ sending

    async def _send_loop(self) -> None:
        queue = self._queue
        try:
            while True:
                if not queue:
                    self._idle.set()
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                item = queue.popleft()
                self._queued_bytes -= _cost(item)
                if isinstance(item, str):
                    await self._send(item)
                elif isinstance(item, tuple):
                    aid, seq, text = item
                    if self.pending[aid] or not self.watches(aid):
                        continue
                    if seq <= self.last_seq.get(aid, 0):
                        continue
                    self.last_seq[aid] = seq
                    await self._send(text)
                else:
                    await self._catch_up(item)
        except asyncio.CancelledError:
            raise
        except AuctionhouseError as exc:  # the house could not take the snapshot (overloaded)
            self.hub.drop(self, CLOSE_TRY_LATER, exc.code)
        except Exception:  # the peer went away
            self.hub.close(self)

    async def _send(self, text: str) -> None:
        self.sending_since = self.hub.loop_time()
        await self.socket.send_text(text)
        self.sending_since = None

    async def _catch_up(self, item: CatchUp) -> None:
        hub = self.hub
        for aid in item.auctions:
            try:
                if not self.watches(aid) or self.closed:
                    continue
                try:
                    view, seq, now = await hub.snapshot(aid)
                except NotFound:
                    continue
                message = {"type": "snapshot", "auction": aid, "view": view, "server_time": now}
                await self._send(dumps(message))
                after = item.after.get(aid, 0)
                for page in hub.pages.pages(aid, after, seq):
                    for frame in page:
                        await self._send(frame)
                self.last_seq[aid] = max(self.last_seq.get(aid, 0), seq)
            finally:
                self.pending[aid] -= 1
                if self.pending[aid] <= 0:
                    del self.pending[aid]

    def discard_queued(self) -> None:
        """Empty the send queue (a closed connection)."""
        self._queue.clear()
        self._queued_bytes = 0
        self._idle.set()

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
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)


class CatchUpPages:
    """Encoded catch-up frames, shared by every connection and bounded in bytes (LRU).

    Key: (auction, first seq, last seq, revealed). Pages are aligned to ``PAGE_EVENTS`` so that
    subscribers starting anywhere share the full pages; a page's events are durable, so it never
    changes, except that a sealed auction's bids are revealed at close (hence ``revealed``)."""

    def __init__(self, service: HouseService, max_bytes: int) -> None:
        self.service = service
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._pages: OrderedDict[tuple[str, int, int, bool], tuple[list[str], int]] = OrderedDict()

    def pages(self, auction_id: str, after: int, upto: int) -> Iterator[list[str]]:
        """The frames of events ``after + 1 .. upto``, a page at a time (read lazily)."""
        first = after + 1
        while first <= upto:
            last = min(upto, ((first - 1) // PAGE_EVENTS + 1) * PAGE_EVENTS)
            yield self._page(auction_id, first, last)
            first = last + 1

    def _page(self, aid: str, first: int, last: int) -> list[str]:
        house = self.service.house
        revealed = house.state(aid).outcome is not None
        key = (aid, first, last, revealed)
        hit = self._pages.get(key)
        if hit is not None:
            self.hits += 1
            self._pages.move_to_end(key)
            return hit[0]
        self.misses += 1
        frames = [
            orjson.dumps(
                {"type": "event", "auction": aid, "seq": event["seq"], "event": event}
            ).decode()
            for event in house.events(aid, first - 1, limit=last - first + 1)
        ]
        size = sum(len(f) for f in frames) + 100
        if size <= self.max_bytes:
            self._pages[key] = (frames, size)
            self.size += size
            while self.size > self.max_bytes:
                _, (_, dropped) = self._pages.popitem(last=False)
                self.size -= dropped
        return frames


class Hub:
    def __init__(
        self,
        service: HouseService,
        *,
        limits: Limits | None = None,
        per_account: int = 32,
        page_cache_bytes: int = 32 << 20,
    ) -> None:
        self.service = service
        self.limits = limits or Limits()
        self.per_account = per_account
        self.pages = CatchUpPages(service, page_cache_bytes)
        self.connections: set[Connection] = set()
        self.subs: dict[str, set[Connection]] = {}
        self.everyone: set[Connection] = set()
        # Connections told of every new auction (its AuctionCreated frame only): a list page
        # follows its rows by id and learns of new ones here (docs/api.md "created").
        self.creation_watchers: set[Connection] = set()
        self.durable_seq: dict[str, int] = {}
        self._accounts: Counter[str] = Counter()
        self._tickers: dict[str, asyncio.TimerHandle] = {}
        self._unsubscribe: Any = None
        self._closing_tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self.dropped = 0
        # A shared house's count of the quota over every instance (house/shared_leases.py).
        self.leases: Any = None
        self._renewer: asyncio.Task[None] | None = None

    @property
    def house(self) -> AuctionHouse:
        return self.service.house

    def loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    def start(self) -> None:
        house = self.house
        for aid in house.auction_ids():
            self.durable_seq[aid] = house.state(aid).seq
        self._unsubscribe = house.subscribe(self.on_event)
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep(), name="ws-sweeper")

    async def share_quota(self, url: str, lease_seconds: float) -> None:
        """Count ``per_account`` over every instance of the shared house at ``url``: this
        instance's connections are leases in the database, renewed every third of
        ``lease_seconds`` (those of a killed instance stop counting that long after)."""
        from auctionhouse.house.shared_leases import ConnectionLeases

        loop = asyncio.get_running_loop()
        self.leases = await loop.run_in_executor(None, ConnectionLeases, url, lease_seconds)
        self._renewer = loop.create_task(self._renew(lease_seconds / 3), name="ws-leases")

    async def _renew(self, period: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(period)
            try:
                await loop.run_in_executor(None, self.leases.renew)
            except AuctionhouseError as exc:
                log.warning("%s (tried again)", exc)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._renewer is not None:
            self._renewer.cancel()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for handle in self._tickers.values():
            handle.cancel()
        self._tickers.clear()
        await asyncio.gather(
            *(c.shutdown(CLOSE_RESTART, "the server is restarting") for c in self.connections),
            return_exceptions=True,
        )
        self.connections.clear()
        if self.leases is not None:  # a clean stop gives its leases back at once
            await asyncio.get_running_loop().run_in_executor(None, self.leases.close)

    async def _sweep(self) -> None:
        """Drop every connection whose current send has been blocked for ``send_timeout``:
        its client stopped reading (the socket's buffers are full), on whatever path."""
        timeout = self.limits.send_timeout
        period = min(1.0, timeout / 4)
        while True:
            await asyncio.sleep(period)
            now = self.loop_time()
            for conn in list(self.connections):
                since = conn.sending_since
                if since is not None and now - since > timeout:
                    self.drop(conn, CLOSE_SLOW, "too slow: the client stopped reading")

    # ------------------------------------------------------------------ connections

    def open(self, socket: Socket, address: str) -> Connection:
        conn = Connection(self, socket, address, self.limits)
        self.connections.add(conn)
        return conn

    async def claim(self, conn: AccountSocket, account_id: str) -> None:
        """Authenticate ``conn`` (an auction or a market socket: one quota counts both) as
        ``account_id`` within the account's connection quota: counted here, and on a shared
        house over every instance (``QuotaExceeded``)."""
        if conn.account == account_id:
            return
        self._check_quota(account_id)
        if self.leases is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, self.leases.claim, account_id, self.per_account)
            if conn.closed or conn.account == account_id:  # it ended while the claim ran
                loop.run_in_executor(None, self.leases.release, account_id)
                return
        self._take_quota(conn, account_id)

    def authenticate(self, conn: AccountSocket, account_id: str) -> None:
        """``claim`` counted on this instance only (an embedded house)."""
        if conn.account == account_id:
            return
        self._check_quota(account_id)
        self._take_quota(conn, account_id)

    def _check_quota(self, account_id: str) -> None:
        if self._accounts[account_id] >= self.per_account:
            raise QuotaExceeded(
                f"an account may hold {self.per_account} WebSocket connections at once"
            )

    def _take_quota(self, conn: AccountSocket, account_id: str) -> None:
        self._release_account(conn)
        conn.account = account_id
        self._accounts[account_id] += 1

    def release(self, conn: AccountSocket) -> None:
        """``conn`` ended: its place in its account's quota is free (a market socket; an
        auction socket's is freed by ``close``)."""
        conn.closed = True
        self._release_account(conn)

    def _release_account(self, conn: AccountSocket) -> None:
        if conn.account is not None:
            self._accounts[conn.account] -= 1
            if self._accounts[conn.account] <= 0:
                del self._accounts[conn.account]
            if self.leases is not None:
                asyncio.get_running_loop().run_in_executor(None, self.leases.release, conn.account)
            conn.account = None

    def close(self, conn: Connection) -> None:
        """Forget a connection (its reader ended)."""
        conn.closed = True
        self.connections.discard(conn)
        self._release_account(conn)
        self.everyone.discard(conn)
        self.creation_watchers.discard(conn)
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

    def subscribe(
        self, conn: Connection, auctions: list[str] | None, after: dict[str, int]
    ) -> list[dict[str, Any]]:
        """Subscribe ``conn`` to ``auctions`` (None: every auction) and queue their catch-up
        (snapshots and missed events, read by the sender when it gets there). Returns the
        errors for auctions that could not be subscribed (unknown ids)."""
        house = self.house
        errors: list[dict[str, Any]] = []
        if auctions is None:
            # The live list: every auction not closed, plus any the client names in ``after``.
            ids = [a for a in house.auction_ids() if house.state(a).outcome is None]
            live = set(ids)
            ids += [a for a in after if a not in live and self._exists(a)]
            conn.everything = True
            self.everyone.add(conn)
        else:
            ids = []
            for aid in auctions:
                if not self._exists(aid):
                    errors.append({"auction": aid, **NotFound(f"no auction {aid!r}").to_dict()})
                    continue
                ids.append(aid)
                conn.auctions.add(aid)
                self.subs.setdefault(aid, set()).add(conn)
        conn.push_catch_up(CatchUp(ids, after))
        for aid in ids:
            if conn.watches(aid):
                self._ensure_ticker(aid)
        return errors

    def _exists(self, aid: str) -> bool:
        try:
            self.house.state(aid)
        except NotFound:
            return False
        return True

    async def snapshot(self, aid: str) -> tuple[dict[str, Any], int, float]:
        """The public view of ``aid``, its seq and the house time, showing only durable events:
        read at once when its state is durable, else in order with the writes (answered once
        what came before is durable). Raises NotFound, or Overloaded from the house queue."""
        house = self.house
        state = house.state(aid)
        if state.seq <= self.durable_seq.get(aid, 0):
            now = house.clock.now()
            return public_view(state, now), state.seq, now
        return await self.service.call(lambda h: (h.view(aid), h.state(aid).seq, h.clock.now()))

    def watch_creations(self, conn: Connection, on: bool) -> None:
        """Tell ``conn`` of every auction created from now on (or stop)."""
        if on:
            self.creation_watchers.add(conn)
        else:
            self.creation_watchers.discard(conn)

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
        created = self.creation_watchers if type(event) is AuctionCreated else ()
        if not targets and not created:
            return
        now = self.house.clock.now()
        text = dumps(
            {
                "type": "event",
                "auction": aid,
                "seq": event.seq,
                # Live events are never revealed: a sealed bid is pushed before its close.
                "event": public_event(event, state.method, False),
                "view": live_view(state, now),
                "server_time": now,
            }
        )
        seq = event.seq
        for conn in targets:
            conn.push_event(aid, seq, text)
        for conn in created:
            if conn not in targets:
                conn.push(text)

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
