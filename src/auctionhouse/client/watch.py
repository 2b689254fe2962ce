"""Resumable watching: the pushed messages of some auctions, across reconnects, gap-free.

The client remembers the last event seq it yielded per auction. Each (re)connection subscribes
with ``after`` set to those seqs, so the house replays only what was missed; an event at or below
the remembered seq is a duplicate and dropped; an event beyond ``last + 1`` (a gap, which a
correct house never sends) is filled from ``GET /auctions/{id}/events`` first, those fillers
carrying ``"view": None``. Connection failures back off (0.1 s doubling to 2 s) and give up with
``HouseUnreachable`` after ``give_up_after`` seconds without a working connection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from auctionhouse.client.errors import HouseUnreachable
from auctionhouse.client.socket import HouseSocket
from auctionhouse.errors import InvalidRequest

if TYPE_CHECKING:
    from auctionhouse.client.aio import AsyncClient

Json = dict[str, Any]
TERMINAL = "AuctionClosed"
# Answers to the watcher's own requests, not news about auctions.
_REPLIES = frozenset({"subscribed", "unsubscribed", "auth", "time", "ack"})


class _Progress:
    """What the watcher has seen: last seq per auction, and which auctions are over."""

    def __init__(self, ids: list[str] | None, after: Mapping[str, int] | None) -> None:
        self.ids = ids
        self.last: dict[str, int] = {str(k): int(v) for k, v in (after or {}).items()}
        self.closed: set[str] = set()

    def done(self) -> bool:
        return self.ids is not None and all(a in self.closed for a in self.ids)

    def subscription(self) -> Json:
        return {
            "op": "subscribe",
            "auctions": self.ids if self.ids is not None else "*",
            "after": dict(self.last),
        }


async def watch(
    client: AsyncClient,
    auctions: Iterable[str] | str,
    *,
    after: Mapping[str, int] | None = None,
    until_closed: bool = False,
    give_up_after: float | None = 30.0,
) -> AsyncIterator[Json]:
    ids = None if auctions == "*" else [str(a) for a in auctions]
    if ids is not None and not ids:
        raise InvalidRequest("watch needs at least one auction id (or '*')")
    progress = _Progress(ids, after)
    backoff = 0.1
    failing_since: float | None = None
    while True:
        socket = HouseSocket(client.house, client.clock, open_timeout=client.timeout)
        try:
            await socket.connect()
            await socket.send(progress.subscription())
            async for message in socket.stream():
                failing_since, backoff = None, 0.1
                async for out in _accept(client, progress, message):
                    yield out
                if until_closed and progress.done():
                    return
        except HouseUnreachable:
            now = time.monotonic()
            failing_since = failing_since or now
            if give_up_after is not None and now - failing_since > give_up_after:
                raise
        finally:
            await socket.close()
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 2.0)


async def _accept(client: AsyncClient, progress: _Progress, message: Json) -> AsyncIterator[Json]:
    """The messages to yield for one pushed ``message`` (none for a duplicate)."""
    kind = message.get("type")
    auction = message.get("auction")
    if kind == "error":
        from auctionhouse.client.errors import error_from_body

        raise error_from_body(0, message)
    if kind in _REPLIES:
        return
    if kind != "event" or not isinstance(auction, str):
        if kind == "snapshot" and isinstance(auction, str):
            view = message.get("view") or {}
            if view.get("result") is not None and view.get("seq", 0) <= progress.last.get(
                auction, 0
            ):
                progress.closed.add(auction)
        yield message
        return
    seq = message.get("seq")
    if not isinstance(seq, int):
        yield message
        return
    last = progress.last.get(auction, 0)
    if seq <= last:
        return
    if seq > last + 1:
        async for filler in _fill(client, auction, last, seq):
            progress.last[auction] = filler["seq"]
            _note_closed(progress, auction, filler["event"])
            yield filler
    progress.last[auction] = seq
    _note_closed(progress, auction, message.get("event"))
    yield message


async def _fill(client: AsyncClient, auction: str, last: int, upto: int) -> AsyncIterator[Json]:
    page = await client.events(auction, after=last)
    for event in page.get("events", []):
        seq = event.get("seq")
        if isinstance(seq, int) and last < seq < upto:
            yield {
                "type": "event",
                "auction": auction,
                "seq": seq,
                "event": event,
                "view": None,
                "server_time": None,
            }


def _note_closed(progress: _Progress, auction: str, event: object) -> None:
    if isinstance(event, dict) and event.get("type") == TERMINAL:
        progress.closed.add(auction)
