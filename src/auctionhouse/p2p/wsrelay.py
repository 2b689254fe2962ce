"""A WebSocket on a ring peer reaches the auctions of every group, not only of the groups this
peer is in: ``SocketRelay`` sits between the client's socket and the house's own WebSocket
endpoint (``server/ws.py``) and sends what concerns another group's auctions to a member of
that group, over the peer channel (``channel``: the member runs it as a WebSocket of the same
client, from the same address, so its per-address limits count the client).

Per client socket, one upstream socket per other group it uses, opened when first needed:

- ``bid`` on an auction of another group: sent up as is; its ``ack`` (given by the member once
  the bid is committed in its group) or ``error`` comes back with the client's id.
- ``subscribe``: the auctions are split by group; this peer's part goes to its own endpoint,
  each other group's part to that group's upstream. ``"*"`` goes to the endpoint and to an
  upstream of every other group; an upstream's frames about auctions of other groups (the
  member's own groups) are dropped, so each auction is heard from one place, in seq order.
  One answer (``subscribed``) comes back with the client's id; a part's per-auction errors
  come back with it too.
- ``auth`` goes to the endpoint and to every upstream (each member checks the session: sessions
  reach every group); ``unsubscribe`` likewise; ``time`` stays here.

An upstream that breaks (its member died): its bids in flight are answered ``no_quorum``
(resend them: a signed bid's nonce makes the resend safe), and its subscriptions are taken up
on another member of the group with ``after`` set to the last seq relayed, so no event is lost
or repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import orjson

from auctionhouse.errors import NoQuorum, NotFound
from auctionhouse.p2p.channel import ChannelPool, encode, head_of, read_frame

if TYPE_CHECKING:
    from auctionhouse.p2p.groups import RingPeer

log = logging.getLogger("auctionhouse.p2p")

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
TAG = "ring-relay:"  # ids of the relay's own requests upstream; their answers stay here
OPEN_SECONDS = 10.0
REOPEN_TRIES = 5


def _error(request_id: Any, code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "id": request_id, "error": {"code": code, "message": message}, **extra}


class Upstream:
    """One socket to a member of group ``gid``, on behalf of one client socket."""

    def __init__(self, relay: SocketRelay, gid: str) -> None:
        self.relay = relay
        self.gid = gid
        self.stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.reader_task: asyncio.Task[None] | None = None
        self.bids: set[Any] = set()  # the client's ids of bids sent up, not yet answered
        self.auctions: set[str] = set()  # subscribed up by id
        self.everything = False  # subscribed up to "*"
        self.created = False  # subscribed up to new auctions
        self.last: dict[str, int] = {}  # last event seq relayed, per auction
        self.closed = False
        self.close_code: int | None = None  # the member's close code, if it closed
        self.reopening = False  # on another member after a break (``_broken``)

    async def open(self) -> None:
        """Open the socket on the first member that accepts it. Raises NoQuorum."""
        peer = self.relay.peer
        members = [m for m in peer.directory.groups.get(self.gid, []) if m != peer.config.address]
        head = head_of(self.relay.scope, None)
        for member in members:
            try:
                stream = await asyncio.wait_for(self.relay.pool.open(member), OPEN_SECONDS)
            except (OSError, TimeoutError, ssl.SSLError) as exc:
                log.info("relay: member %s of %s unreachable: %s", member, self.gid, exc)
                continue
            reader, writer = stream
            try:
                writer.write(encode(head) + encode({"type": "websocket.connect"}))
                await writer.drain()
                answer = await asyncio.wait_for(read_frame(reader), OPEN_SECONDS)
            except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError):
                writer.close()
                continue
            if answer.get("type") != "websocket.accept":
                writer.close()
                continue
            self.stream = stream
            if self.relay.auth is not None:
                await self.send(self.relay.tagged(self.relay.auth))
            self.reader_task = asyncio.ensure_future(self._read())
            return
        raise NoQuorum(f"no member of group {self.gid} took the WebSocket; retry later")

    async def send(self, data: dict[str, Any]) -> None:
        if self.stream is None:
            raise ConnectionError("the upstream socket is not open")
        text = orjson.dumps(data).decode()
        self.stream[1].write(encode({"type": "websocket.receive", "text": text}))
        await self.stream[1].drain()

    async def _read(self) -> None:
        assert self.stream is not None
        reader = self.stream[0]
        try:
            while True:
                message = await read_frame(reader)
                kind = message.get("type")
                if kind == "websocket.send":
                    await self._relay(message.get("text") or message.get("bytes") or b"")
                elif kind == "websocket.close":
                    self.close_code = int(message.get("code") or 1000)
                    log.info("relay: group %s's member closed: %s", self.gid, self.close_code)
                    break
        except (OSError, ValueError, asyncio.IncompleteReadError):
            pass
        if not self.closed and not self.relay.closed:
            await self._broken()

    async def _relay(self, raw: str | bytes) -> None:
        try:
            frame = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return
        if not isinstance(frame, dict):
            return
        relay = self.relay
        request_id = frame.get("id")
        if isinstance(request_id, str) and request_id.startswith(TAG):
            original = relay.answers.get(request_id)
            if frame.get("type") == "error" and original is not None and "auction" in frame:
                await relay.to_client(frame | {"id": original})  # a part's refused auction
            elif frame.get("type") in ("subscribed", "unsubscribed", "auth"):
                relay.answers.pop(request_id, None)
            return
        if frame.get("type") in ("ack", "error") and request_id is not None:
            self.bids.discard(request_id)
        aid = frame.get("auction")
        if isinstance(aid, str) and frame.get("type") in ("event", "snapshot", "tick"):
            if await relay.group(aid) != self.gid:
                return  # the member's own other groups: heard from elsewhere, or not asked
            seq = frame.get("seq")
            if isinstance(seq, int):
                if seq <= self.last.get(aid, 0):
                    return  # replayed by a resubscription after a break
                self.last[aid] = seq
        await relay.to_client(frame)

    async def _broken(self) -> None:
        """The member went away: answer the bids in flight, resubscribe elsewhere."""
        self.close()
        relay = self.relay
        for request_id in sorted(self.bids, key=str):
            message = f"group {self.gid}'s member went away before answering; send the bid again"
            await relay.to_client(_error(request_id, NoQuorum.code, message))
        self.bids.clear()
        refused = self.close_code is not None and (
            self.close_code in (1008, 1013) or self.close_code >= 4000
        )  # refused by the member (a limit, the session), not gone: not asked again
        if refused or not (self.auctions or self.everything or self.created):
            relay.upstreams.pop(self.gid, None)
            if refused:
                message = f"group {self.gid}'s member closed the relayed socket ({self.close_code})"
                await relay.to_client(_error(None, NoQuorum.code, message))
            return
        self.reopening = True
        try:
            await self._reopen()
        finally:
            self.reopening = False

    async def _reopen(self) -> None:
        relay = self.relay
        for attempt in range(REOPEN_TRIES):
            if relay.closed:
                return
            await asyncio.sleep(0.2 * (attempt + 1))
            self.closed = False
            self.close_code = None
            try:
                await self.open()
                await self._resubscribe()
            except (NoQuorum, OSError, ConnectionError):
                self.close()
                continue
            return
        relay.upstreams.pop(self.gid, None)
        for aid in sorted(self.auctions):
            message = f"no member of group {self.gid} answers; subscribe again later"
            await relay.to_client(_error(None, NoQuorum.code, message, auction=aid))

    async def _resubscribe(self) -> None:
        relay = self.relay
        if self.created:
            await self.send(relay.tagged({"op": "subscribe", "created": True}))
        if self.everything:
            after = dict(self.last)
            await self.send(relay.tagged({"op": "subscribe", "auctions": "*", "after": after}))
        elif self.auctions:
            after = {a: self.last[a] for a in self.auctions if a in self.last}
            message = {"op": "subscribe", "auctions": sorted(self.auctions), "after": after}
            await self.send(relay.tagged(message))

    def close(self) -> None:
        self.closed = True
        if self.stream is not None:
            self.stream[1].close()
            self.stream = None
        task = self.reader_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()


class SocketRelay:
    """One client socket's relay (see module)."""

    def __init__(self, peer: RingPeer, pool: ChannelPool, scope: MutableMapping[str, Any]) -> None:
        self.peer = peer
        self.pool = pool
        self.scope = scope
        self.upstreams: dict[str, Upstream] = {}
        self.auth: dict[str, Any] | None = None
        self.answers: dict[str, Any] = {}  # tag -> the client's id it stands for
        self.closed = False
        self._send: Send | None = None
        self._lock = asyncio.Lock()
        self._tags = itertools.count(1)

    async def run(self, app: Callable[..., Awaitable[None]], receive: Receive, send: Send) -> None:
        self._send = send

        async def app_send(message: Message) -> None:
            async with self._lock:
                await send(message)

        async def app_receive() -> Message:
            while True:
                message = await receive()
                if message["type"] != "websocket.receive":
                    return message
                kept = await self._route(message)
                if kept is not None:
                    return kept

        try:
            await app(self.scope, app_receive, app_send)
        finally:
            self.closed = True
            for upstream in list(self.upstreams.values()):
                upstream.close()

    async def to_client(self, frame: dict[str, Any]) -> None:
        assert self._send is not None
        async with self._lock:
            with contextlib.suppress(Exception):  # the client went away: the app sees it
                await self._send({"type": "websocket.send", "text": orjson.dumps(frame).decode()})

    def tagged(self, data: dict[str, Any], original: Any = None) -> dict[str, Any]:
        tag = f"{TAG}{next(self._tags)}"
        self.answers[tag] = original
        if len(self.answers) > 10_000:  # answers never came (a broken upstream): bounded
            for old in list(self.answers)[:5000]:
                self.answers.pop(old, None)
        return data | {"id": tag}

    async def group(self, aid: Any) -> str | None:
        """The group of auction ``aid`` (None: unknown, or not an id)."""
        if not isinstance(aid, str) or not aid:
            return None
        gid = self.peer.directory.where.get(aid)
        if gid is None:
            with contextlib.suppress(NotFound):
                gid = await self.peer.group_of(aid)
        return gid

    async def _remote(self, aid: Any) -> str | None:
        """The group of ``aid`` if this peer is not in it (None: handled here)."""
        gid = await self.group(aid)
        return None if gid is None or self.peer.holds(gid) else gid

    async def _upstream(self, gid: str) -> Upstream:
        upstream = self.upstreams.get(gid)
        if upstream is not None and upstream.reopening:  # one socket per group at a time
            raise NoQuorum(f"the WebSocket to group {gid} is moving to another member; retry")
        if upstream is None or upstream.stream is None:
            upstream = Upstream(self, gid)
            await upstream.open()
            self.upstreams[gid] = upstream
        return upstream

    def _other_groups(self) -> list[str]:
        from auctionhouse.p2p import ring

        return sorted(
            g for g in self.peer.directory.groups if g != ring.DIRECTORY and not self.peer.holds(g)
        )

    async def _route(self, message: Message) -> Message | None:
        """The client's frame for this peer's endpoint (maybe cut to its part), or None when
        it went upstream only."""
        raw = message.get("text")
        if raw is None:
            raw = message.get("bytes") or b""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return message  # the endpoint answers it
        if not isinstance(data, dict):
            return message
        op = data.get("op")
        try:
            if op == "auth":
                self.auth = {"op": "auth", "token": data.get("token")}
                for upstream in list(self.upstreams.values()):
                    await upstream.send(self.tagged(self.auth))
                return message
            if op == "bid":
                gid = await self._remote(data.get("auction"))
                if gid is None:
                    return message
                upstream = await self._upstream(gid)
                if data.get("id") is not None:
                    upstream.bids.add(data["id"])
                await upstream.send(data)
                return None
            if op == "subscribe":
                return await self._subscribe(data, message)
            if op == "unsubscribe":
                for upstream in list(self.upstreams.values()):
                    auctions = data.get("auctions")
                    if data.get("created") is True:
                        upstream.created = False
                    elif auctions == "*":
                        upstream.everything = False
                        upstream.auctions.clear()
                    elif isinstance(auctions, list):
                        upstream.auctions.difference_update(
                            a for a in auctions if isinstance(a, str)
                        )
                    await upstream.send(self.tagged(data))
                return message
        except (NoQuorum, OSError, ConnectionError) as exc:
            text = (
                exc.message if isinstance(exc, NoQuorum) else f"a group's member went away: {exc}"
            )
            await self.to_client(_error(data.get("id"), NoQuorum.code, text))
            return None
        return message

    async def _subscribe(self, data: dict[str, Any], message: Message) -> Message | None:
        auctions = data.get("auctions")
        given = data.get("after")
        after: dict[str, Any] = given if isinstance(given, dict) else {}
        if data.get("created") is True and "auctions" not in data:
            for gid in self._other_groups():
                upstream = await self._upstream(gid)
                upstream.created = True
                await upstream.send(self.tagged(data))
            return message
        if auctions == "*":
            for gid in self._other_groups():
                upstream = await self._upstream(gid)
                upstream.everything = True
                seen = {a: s for a, s in after.items() if await self.group(a) == gid}
                await upstream.send(self.tagged(data | {"after": seen}, data.get("id")))
            return message
        ids = [auctions] if isinstance(auctions, str) else auctions
        if not isinstance(ids, list) or not all(isinstance(a, str) for a in ids):
            return message  # the endpoint refuses it
        remote: dict[str, list[str]] = {}
        local: list[str] = []
        for aid in ids:
            other = await self._remote(aid)
            if other is None:
                local.append(aid)
            else:
                remote.setdefault(other, []).append(aid)
        if not remote:
            return message
        answered_here = bool(local)
        for i, (gid, part) in enumerate(sorted(remote.items())):
            upstream = await self._upstream(gid)
            upstream.auctions.update(part)
            cut = {a: after[a] for a in part if a in after}
            sub = data | {"auctions": part, "after": cut}
            if answered_here or i > 0:
                await upstream.send(self.tagged(sub, data.get("id")))
            else:
                await upstream.send(sub)  # this part's answer is the client's answer
        if not answered_here:
            return None
        cut = {a: after[a] for a in local if a in after}
        text = orjson.dumps(data | {"auctions": local, "after": cut}).decode()
        return {"type": "websocket.receive", "text": text}
