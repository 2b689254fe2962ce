"""Any ring peer serves every auction: the API request about an auction of a group this peer is
not in is forwarded to a member of that group; one about a group it is in runs on that group's
replica (``groups.current_group``). Plus ``RingService``: the house service of a ring peer.

Forwarding is an ASGI middleware (no route changes): it reads the auction id from the path
``/api/v1/auctions/{id}...``, asks the directory for the auction's group, and either runs the
request locally with ``current_group`` set or sends it, headers (the client's session) and body
unchanged, to the API of the group's members in turn (``httpx``), and relays the answer. A
request already forwarded once is never forwarded again (``FORWARDED_HEADER``): a member that
no longer holds the group answers 503 instead of bouncing it on.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from auctionhouse.errors import AuctionhouseError, BadSignature, NotFound
from auctionhouse.p2p import ring
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
FORWARDED_HEADER = "x-auctionhouse-forwarded-by"
HOP_HEADERS = frozenset(
    {b"host", b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"upgrade"}
)
FORWARD_SECONDS = 30.0


class RingForwarder:
    def __init__(self, app: ASGIApp, peer: RingPeer) -> None:
        self.app = app
        self.peer = peer
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = AUCTION_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
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
        headers = dict(scope.get("headers") or [])
        if FORWARDED_HEADER.encode() in headers:
            await _json(send, 503, "no_quorum", f"this peer is not in group {gid}; retry")
            return
        await self._forward(gid, scope, receive, send)

    async def _forward(self, gid: str, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope.get("headers") or []
            if k.lower() not in HOP_HEADERS
        ]
        headers.append((FORWARDED_HEADER, self.peer.config.address))
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope["path"] + (f"?{query}" if query else "")
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=FORWARD_SECONDS)
        members = self.peer.directory.groups.get(gid, [])
        for member in members:
            api = self.peer.directory.apis.get(member)
            if api is None:
                continue
            try:
                answer = await self._client.request(
                    scope["method"], api + path, headers=headers, content=body
                )
            except httpx.TransportError as exc:
                log.info("forwarding to %s (group %s) failed: %s", member, gid, exc)
                continue
            if answer.status_code == 503 and member != members[-1]:
                continue  # that member is not (or no longer) in the group: try the next
            self.peer.forwarded += 1
            out = [
                (k.encode("latin-1"), v.encode("latin-1"))
                for k, v in answer.headers.multi_items()
                if k.lower().encode() not in HOP_HEADERS and k.lower() != "content-encoding"
            ]
            out.append((b"content-length", str(len(answer.content)).encode()))
            start = {"type": "http.response.start", "status": answer.status_code}
            await send(start | {"headers": out})
            await send({"type": "http.response.body", "body": answer.content})
            return
        await _json(send, 503, "no_quorum", f"no member of group {gid} answered; retry later")


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
        """Every replica proposes its groups' due closes (a dead leader cannot hold one)."""
        loop = asyncio.get_running_loop()
        proposed: dict[str, tuple[float, float]] = {}
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
                proposed[gid] = (wake, loop.time())
                token = current_group.set(gid)
                try:
                    await node.propose("tick", {})
                except AuctionhouseError as exc:
                    log.debug("could not propose a close in %s: %s", gid, exc.message)
                finally:
                    current_group.reset(token)
