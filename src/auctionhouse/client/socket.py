"""One WebSocket connection to ``/api/v1/ws`` (docs/api.md): requests with ids, and a stream.

:class:`HouseSocket` reads every frame on one task: an answer that carries the ``id`` of a pending
request (a bid's ack or error, ``time``) resolves that request; ``auth`` answers the login; the
rest (snapshots, events, ticks) goes to :meth:`HouseSocket.stream`. A dropped connection fails
every pending request and ends the stream with :class:`HouseUnreachable`, so callers decide
whether to reconnect (``watch`` does) or not (a bid whose ack was lost may or may not be in).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

from auctionhouse.client.clock import ServerClock
from auctionhouse.client.errors import BadResponse, HouseUnreachable, error_from_body
from auctionhouse.errors import AuctionhouseError, NotFound, Unauthorized

_END = object()
# Close codes that end a session (docs/api.md): reconnecting with the same token cannot help.
SESSION_CLOSE_CODES = {
    4001: "the house refused the token",
    4002: "the session expired: log in again",
    4003: "the session was revoked (logged out, or the password changed): log in again",
}


def ws_url(house: str) -> str:
    """``http://host:port`` -> ``ws://host:port/api/v1/ws`` (and https -> wss)."""
    if house.startswith("https://"):
        return "wss://" + house[len("https://") :] + "/api/v1/ws"
    if house.startswith("http://"):
        return "ws://" + house[len("http://") :] + "/api/v1/ws"
    return house.rstrip("/") + "/api/v1/ws"


class HouseSocket:
    def __init__(self, house: str, clock: ServerClock, *, open_timeout: float = 10.0) -> None:
        self.house = house
        self.url = ws_url(house)
        self.clock = clock
        self.open_timeout = open_timeout
        self.account: str | None = None
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._auth: asyncio.Future[dict[str, Any]] | None = None
        self._stream: asyncio.Queue[Any] = asyncio.Queue()
        self._ids = itertools.count(1)
        self._lost: AuctionhouseError | None = None

    @property
    def closed(self) -> bool:
        return self._lost is not None or self._ws is None

    async def connect(self, token: str | None = None) -> HouseSocket:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus, WebSocketException

        try:
            self._ws = await connect(
                self.url, open_timeout=self.open_timeout, max_size=2**24, ping_interval=20
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise Unauthorized(f"the house refused the WebSocket (HTTP {status})") from None
            if status == 404:
                raise NotFound(f"{self.url} is not an auctionhouse WebSocket") from None
            raise HouseUnreachable(f"the WebSocket at {self.url} answered HTTP {status}") from None
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise HouseUnreachable(f"cannot reach {self.url}: {_reason(exc)}") from None
        self._reader = asyncio.create_task(self._read(), name="auctionhouse-ws-reader")
        if token is not None:
            self._auth = asyncio.get_running_loop().create_future()
            try:
                await self.send({"op": "auth", "token": token})
                answer = await self._wait(self._auth)
            except BaseException:
                await self.close()  # a refused token: no socket (or reader) left behind
                raise
            account = answer.get("account")
            self.account = account.get("id") if isinstance(account, dict) else account
        return self

    async def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        self._fail(HouseUnreachable("the WebSocket was closed"))

    async def send(self, message: dict[str, Any]) -> None:
        if self._lost is not None:
            raise self._lost
        from websockets.exceptions import WebSocketException

        try:
            await self._ws.send(json.dumps(message))
        except (OSError, WebSocketException) as exc:
            self._fail(HouseUnreachable(f"the WebSocket to {self.house} broke: {_reason(exc)}"))
            raise self._lost from None  # type: ignore[misc]

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send ``message`` with a fresh ``id`` and wait for the answer with that id."""
        ref = f"c{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ref] = future
        try:
            await self.send({**message, "id": ref})
            return await self._wait(future)
        finally:
            self._pending.pop(ref, None)

    async def stream(self) -> AsyncIterator[dict[str, Any]]:
        """Pushed messages (snapshot, event, tick...) until the connection ends."""
        while True:
            item = await self._stream.get()
            if item is _END:
                self._stream.put_nowait(_END)
                assert self._lost is not None
                raise self._lost
            yield item

    async def _wait(self, future: asyncio.Future[dict[str, Any]]) -> dict[str, Any]:
        answer = await future
        if answer.get("type") == "error":
            raise error_from_body(0, answer)
        return answer

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed, WebSocketException

        try:
            async for frame in self._ws:
                self._dispatch(frame)
            code = getattr(self._ws, "close_code", None)
            if code in SESSION_CLOSE_CODES:
                self._fail(Unauthorized(SESSION_CLOSE_CODES[code]))
            else:
                self._fail(HouseUnreachable(f"the house at {self.house} closed the WebSocket"))
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            if code in SESSION_CLOSE_CODES:
                self._fail(Unauthorized(SESSION_CLOSE_CODES[code]))
            else:
                reason = _reason(exc)
                self._fail(HouseUnreachable(f"the WebSocket to {self.house} closed: {reason}"))
        except (OSError, WebSocketException) as exc:
            self._fail(HouseUnreachable(f"the WebSocket to {self.house} broke: {_reason(exc)}"))
        except AuctionhouseError as exc:
            self._fail(exc)

    def _dispatch(self, frame: str | bytes) -> None:
        try:
            message = json.loads(frame)
        except ValueError:
            raise BadResponse("the house sent a WebSocket frame that is not JSON") from None
        if not isinstance(message, dict):
            raise BadResponse("the house sent a WebSocket frame that is not an object")
        server_time = message.get("server_time")
        if isinstance(server_time, int | float):
            self.clock.observe(float(server_time))
        ref = message.get("id")
        kind = message.get("type")
        if isinstance(ref, str) and ref in self._pending:
            future = self._pending.pop(ref)
            if not future.done():
                future.set_result(message)
        elif self._auth is not None and not self._auth.done() and kind in ("auth", "error"):
            self._auth.set_result(message)
        elif kind == "error" and message.get("error", {}).get("code") in ("unauthorized",):
            self._fail(error_from_body(401, message))
        else:
            self._stream.put_nowait(message)

    def _fail(self, error: AuctionhouseError) -> None:
        if self._lost is not None:
            return
        self._lost = error
        for future in [*self._pending.values(), self._auth]:
            if future is not None and not future.done():
                future.set_exception(error)
        self._pending.clear()
        self._stream.put_nowait(_END)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__
