"""Any ring peer serves every auction: the API request about an auction of a group this peer is
not in is forwarded to a member of that group; one about a group it is in runs on that group's
replica (``groups.current_group``). Plus ``RingService``: the house service of a ring peer.

Forwarding is an ASGI middleware (no route changes): it reads the auction id from the path
``/api/v1/auctions/{id}...``, asks the directory for the auction's group, and either runs the
request locally with ``current_group`` set or runs it, headers (the client's session) and body
unchanged, on the group's members in turn over the peer channel (``channel``: mutually
authenticated TLS, carrying the client's address, so the member's per-address limits count
the client), and relays the answer. A request a member sent is never forwarded again (it
carries ``channel.VIA``): a member that no longer holds the group answers 503 instead of
bouncing it on. A WebSocket (``/api/v1/ws``) is relayed per auction by ``wsrelay``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import ssl
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

import orjson

from auctionhouse.errors import AuctionhouseError, BadSignature, InvalidRequest, NotFound
from auctionhouse.p2p import ring
from auctionhouse.p2p.channel import VIA, ChannelPool, exchange, head_of
from auctionhouse.p2p.groups import AUCTION_OPS, current_group
from auctionhouse.p2p.service import ReplicatedService

if TYPE_CHECKING:
    from auctionhouse.p2p.groups import RingPeer
    from auctionhouse.p2p.service import _Captured

log = logging.getLogger("auctionhouse.p2p")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

AUCTION_PATH = re.compile(r"^/api/v1/auctions/([^/]+)(?:/|$)")
WS_PATH = "/api/v1/ws"
FORWARD_SECONDS = 30.0
LISTING_DEPTH = 500  # how deep a merged listing's pages reach (offset + limit)


class RingForwarder:
    def __init__(self, app: ASGIApp, peer: RingPeer) -> None:
        self.app = app
        self.peer = peer
        self._pool: ChannelPool | None = None

    @property
    def pool(self) -> ChannelPool:
        if self._pool is None:
            assert self.peer.tunnels is not None
            self._pool = ChannelPool(self.peer.tunnels.connect)
        return self._pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        via = scope.get(VIA)  # set only on a request a member sent over the peer channel
        if scope["type"] == "websocket":
            if via is None and scope.get("path") == WS_PATH:
                from auctionhouse.p2p.wsrelay import SocketRelay

                await SocketRelay(self.peer, self.pool, scope).run(self.app, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if via is not None and via.get("group"):  # a part of a listing a member is merging
            await self._in_group(str(via["group"]), scope, receive, send)
            return
        if via is None and scope.get("path") == "/api/v1/auctions" and scope.get("method") == "GET":
            await self._listing(scope, send)
            return
        match = AUCTION_PATH.match(scope.get("path", ""))
        if match is None:
            await self.app(scope, receive, send)
            return
        try:
            gid = await self.peer.group_of(match.group(1))
        except NotFound:
            await self.app(scope, receive, send)  # the house's own 404
            return
        if self.peer.holds(gid):
            token = current_group.set(gid)
            try:
                await self.app(scope, receive, send)
            finally:
                current_group.reset(token)
            return
        if via is not None:  # never forwarded twice: this member no longer holds the group
            await _json(send, 503, "no_quorum", f"this peer is not in group {gid}; retry")
            return
        await self._forward(gid, scope, receive, send)

    async def _in_group(self, gid: str, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.peer.holds(gid):
            await _json(send, 503, "no_quorum", f"this peer is not in group {gid}; retry")
            return
        token = current_group.set(gid)
        try:
            await self.app(scope, receive, send)
        finally:
            current_group.reset(token)

    async def _listing(self, scope: Scope, send: Send) -> None:
        """``GET /api/v1/auctions`` over every group: each group's first ``offset + limit``
        auctions (filters as asked), merged in the order asked, then the page cut. Pages
        reach ``LISTING_DEPTH`` auctions deep (a group answers at most that many)."""
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        try:
            limit = int(query.get("limit", 100))
            offset = int(query.get("offset", 0))
        except ValueError:
            limit, offset = -1, -1
        sort = query.get("sort", "newest")
        if not 1 <= limit <= 500 or offset < 0 or sort not in SORT_KEYS:
            await self.app(scope, _no_body, send)  # the route's own 422
            return
        if offset + limit > LISTING_DEPTH:
            message = f"on a ring, a listing reaches {LISTING_DEPTH} auctions deep: filter more"
            await _json(send, 400, InvalidRequest.code, message)
            return
        depth = offset + limit
        part = {**query, "limit": str(depth), "offset": "0"}
        part_scope = dict(scope)
        part_scope["query_string"] = urlencode(part).encode()
        gids = [g for g in self.peer.directory.groups if g != ring.DIRECTORY]
        answers = await asyncio.gather(
            *(self._group_part(gid, part_scope) for gid in gids), return_exceptions=True
        )
        views: list[dict[str, Any]] = []
        total = 0
        for gid, answer in zip(gids, answers, strict=True):
            if not isinstance(answer, tuple) or answer[0] != 200:
                status, body = answer if isinstance(answer, tuple) else (503, b"")
                if status == 200 or status >= 500 or not body:
                    await _json(send, 503, "no_quorum", f"group {gid} did not answer; retry")
                else:  # the route refused the query (422): every group would alike
                    await _raw(send, status, body)
                return
            page = orjson.loads(answer[1])
            views.extend(page["auctions"])
            total += int(page["total"])
        views.sort(key=SORT_KEYS[sort](time.time()))
        listed = {
            "auctions": views[offset : offset + limit],
            "limit": limit,
            "offset": offset,
            "total": total,
        }
        await _raw(send, 200, orjson.dumps(listed))

    async def _group_part(self, gid: str, scope: Scope) -> tuple[int, bytes]:
        """One group's part of a listing: from this peer's replica, or a member's (over the
        peer channel, as the client: its address counts there)."""
        if self.peer.holds(gid):
            captured: dict[str, Any] = {"status": 500, "body": b""}

            async def capture(message: Message) -> None:
                if message["type"] == "http.response.start":
                    captured["status"] = message["status"]
                else:
                    captured["body"] += message.get("body", b"")

            await self._in_group(gid, scope, _no_body, capture)
            return int(captured["status"]), bytes(captured["body"])
        head = head_of(scope, gid)
        for member in self.peer.directory.groups.get(gid, []):
            try:
                start, parts = await asyncio.wait_for(
                    exchange(self.pool, member, head, b""), FORWARD_SECONDS
                )
            except (OSError, TimeoutError, ssl.SSLError, asyncio.IncompleteReadError):
                continue
            if start["status"] != 503:
                return int(start["status"]), b"".join(p.get("body", b"") for p in parts)
        return 503, b""

    async def _forward(self, gid: str, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request on a member of ``gid`` over the peer channel (the client's address
        goes with it: the member's per-address limits count the client), relay the answer."""
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        head = head_of(scope, None)
        members = [
            m for m in self.peer.directory.groups.get(gid, []) if m != self.peer.config.address
        ]
        for member in members:
            try:
                start, parts = await asyncio.wait_for(
                    exchange(self.pool, member, head, body), FORWARD_SECONDS
                )
            except (OSError, TimeoutError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
                log.info(
                    "forwarding to %s (group %s) failed: %s", member, gid, exc or type(exc).__name__
                )
                continue
            if start["status"] == 503 and member != members[-1]:
                continue  # that member is not (or no longer) in the group: try the next
            self.peer.forwarded += 1
            await send(start)
            for part in parts:
                await send(part)
            return
        await _json(send, 503, "no_quorum", f"no member of group {gid} answered; retry later")


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _newest(view: dict[str, Any]) -> int:
    """Ring auction ids are ``p<serial>`` given by the directory: a higher one is newer."""
    aid = str(view.get("id", ""))
    return -int(aid[1:]) if aid[1:].isdigit() else 0


def _ending(now: float) -> Callable[[dict[str, Any]], Any]:
    def key(view: dict[str, Any]) -> Any:
        due = view.get("close_due_at") or view.get("closes_at")
        live = view.get("result") is None and isinstance(due, int | float) and due > now
        return (due if live else math.inf, _newest(view))

    return key


def _price(view: dict[str, Any]) -> int:
    price = view.get("price")
    if isinstance(price, int):
        return price
    start = (view.get("rules") or {}).get("starting_price")
    return start if isinstance(start, int) else 0


# The listing's orders (house/listing.py ``SORTS``) on the views each group returns; ties
# newest first, as there.
SORT_KEYS: dict[str, Callable[[float], Callable[[dict[str, Any]], Any]]] = {
    "newest": lambda now: _newest,
    "ending_soonest": _ending,
    "price_low": lambda now: lambda v: (_price(v), _newest(v)),
    "price_high": lambda now: lambda v: (-_price(v), _newest(v)),
    "most_bids": lambda now: lambda v: (-int(v.get("bid_count") or 0), _newest(v)),
}


async def _raw(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _json(send: Send, status: int, code: str, message: str) -> None:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RingService(ReplicatedService):
    """``ReplicatedService`` over a ``RingPeer``: writes go to their group (``RingPeer.propose``),
    reads to the replica of the request's group, and every group's due closes are proposed."""

    peer: RingPeer  # type: ignore[assignment]

    def __init__(self, peer: RingPeer) -> None:
        super().__init__(peer)  # type: ignore[arg-type]

    async def _replicate(self, write: _Captured) -> Any:
        if write.op not in AUCTION_OPS:
            return await super()._replicate(write)
        gid = current_group.get() or await self.peer.group_of(str(write.values.get("auction_id")))
        if not self.peer.holds(gid):  # reached here other than through the forwarder (WS)
            return await self.peer.propose_in(gid, write.op, write.values)
        token = current_group.set(gid)
        try:
            if write.op == "place_bid":
                try:
                    self._check_signature(self.house, write.values)
                except BadSignature:
                    # A key registered a moment ago through another peer may not be in
                    # this group yet: wait for the group to catch up, then check again.
                    await self.peer.key_settled(gid)
            return await super()._replicate(write)
        finally:
            current_group.reset(token)

    async def _timers(self) -> None:
        """Every replica proposes its groups' due closes (a dead leader cannot hold one); a
        group without a majority does not hold up the others' closes."""
        loop = asyncio.get_running_loop()
        proposed: dict[str, tuple[float, float]] = {}
        running: dict[str, asyncio.Task[None]] = {}
        while True:
            await asyncio.sleep(0.05)
            for gid, node in list(self.peer.nodes.items()):
                if gid == ring.DIRECTORY or node.syncobj is None:
                    continue
                house = node.machine.house
                wake = house.next_wakeup()
                if wake is None or wake > house.clock.now():
                    continue
                last = proposed.get(gid)
                if last is not None and last[0] == wake and loop.time() - last[1] < 0.3:
                    continue
                if gid in running and not running[gid].done():
                    continue
                proposed[gid] = (wake, loop.time())
                running[gid] = loop.create_task(self._close_due(gid), name=f"close-{gid}")

    async def _close_due(self, gid: str) -> None:
        token = current_group.set(gid)
        try:
            await self.peer.propose("tick", {})
        except AuctionhouseError as exc:
            log.debug("could not propose a close in %s: %s", gid, exc.message)
        finally:
            current_group.reset(token)
