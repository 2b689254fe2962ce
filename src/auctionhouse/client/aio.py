"""AsyncClient: every endpoint of docs/api.md over httpx, bids over HTTP or WebSocket, watching.

Answers are the API's JSON (dicts). An error answer raises the ``auctionhouse.errors`` class of
its ``code`` (``BidTooLow``, ``AuctionClosed``...); no connection raises ``HouseUnreachable``.
Bids are signed when the client holds a key (or the caller asks): ``bid_message`` bytes, a nonce
from the key's persistent counter, ``ts`` on the estimated house clock.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import httpx

from auctionhouse.client.clock import ServerClock
from auctionhouse.client.errors import BadResponse, HouseUnreachable, error_from_body
from auctionhouse.client.keys import BidKey, NonceCounter
from auctionhouse.client.socket import HouseSocket
from auctionhouse.errors import (
    ConfigError,
    InvalidRequest,
    ReplayedNonce,
    StaleTimestamp,
    Unauthorized,
)

DEFAULT_HOUSE = "http://127.0.0.1:8000"
API = "/api/v1"
Json = dict[str, Any]


def default_house() -> str:
    return os.environ.get("AUCTIONHOUSE_HOUSE") or DEFAULT_HOUSE


def normalize_house(url: str) -> str:
    """``host:port`` or ``http://host:port/`` -> ``http://host:port`` (checked)."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "http", text
    rest = rest.rstrip("/")
    if "@" in rest.split("/", 1)[0]:  # user:password@host: a secret that would be echoed
        raise InvalidRequest("the house URL must not hold credentials (log in instead)")
    if scheme not in ("http", "https") or not rest or any(c.isspace() for c in rest):
        raise InvalidRequest(f"the house URL must look like http://HOST:PORT, not {url!r}")
    url = f"{scheme}://{rest}"
    return url


class AsyncClient:
    """An auction house seen from one account (or anonymously)."""

    def __init__(
        self,
        house: str | None = None,
        *,
        token: str | None = None,
        account: str | None = None,
        key: BidKey | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.house = normalize_house(house or default_house())
        self.token = token
        self.account = account
        self.timeout = timeout
        self.clock = ServerClock()
        self._key = key
        self._nonces: NonceCounter | None = key.nonces() if key is not None else None
        # Loading the CA bundle costs ~20 ms a client; a plain-HTTP house never needs it
        # (measured in bench/bench_agents.py: a thousand agents' clients took 20 s to build).
        # Idle connections are dropped after 4 s, before uvicorn's 5 s keep-alive closes them
        # under us (a request on such a connection fails: "Server disconnected").
        self._http = httpx.AsyncClient(
            base_url=self.house + API,
            timeout=timeout,
            verify=self.house.startswith("https://"),
            limits=httpx.Limits(
                max_connections=100, max_keepalive_connections=20, keepalive_expiry=4.0
            ),
        )
        self._bid_socket: HouseSocket | None = None
        self._market_socket: HouseSocket | None = None
        self._socket_lock = asyncio.Lock()

    @property
    def key(self) -> BidKey | None:
        return self._key

    @key.setter
    def key(self, key: BidKey | None) -> None:
        self._key = key
        self._nonces = key.nonces() if key is not None else None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._bid_socket is not None:
            await self._bid_socket.close()
            self._bid_socket = None
        if self._market_socket is not None:
            await self._market_socket.close()
            self._market_socket = None
        await self._http.aclose()

    # ------------------------------------------------------------------ the one HTTP seam

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | bytes | None = None,
        params: Mapping[str, Any] | None = None,
        auth: bool = False,
        text: bool = False,
    ) -> Any:
        """One request; ``auth`` demands a token, otherwise it is sent when there is one
        (and a public request refused only for an expired token is sent again without it)."""
        if self.token is None and auth:
            raise Unauthorized("log in first (auctionhouse login NAME, or client.login())")
        query = {k: v for k, v in (params or {}).items() if v is not None}
        response = await self._send(method, path, body, query, self.token)
        if response.status_code == 401 and self.token is not None and not auth:
            response = await self._send(method, path, body, query, None)
        if response.status_code >= 400:
            try:
                payload = response.json()
            except ValueError:
                payload = None
            raise error_from_body(
                response.status_code, payload, response.headers.get("Retry-After")
            )
        if text:
            return response.text
        try:
            return response.json()
        except ValueError:
            raise BadResponse(f"{method} {path} did not answer JSON") from None

    async def _send(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | bytes | None,
        query: Mapping[str, Any],
        token: str | None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        try:
            if isinstance(body, bytes):  # a photo: the bytes themselves
                headers["Content-Type"] = "application/octet-stream"
                return await self._http.request(
                    method, path, content=body, params=query, headers=headers
                )
            return await self._http.request(method, path, json=body, params=query, headers=headers)
        except httpx.TimeoutException:
            raise HouseUnreachable(
                f"the house at {self.house} did not answer within {self.timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise HouseUnreachable(f"cannot reach the house at {self.house}: {exc}") from None

    # ------------------------------------------------------------------ time

    async def time(self) -> float:
        """The house's time now (and a fresh sample for the clock offset)."""
        sent = self.clock.local()
        answer = await self._call("GET", "/time")
        received = self.clock.local()
        now = answer.get("now") if isinstance(answer, dict) else None
        if not isinstance(now, int | float):
            raise BadResponse("GET /time answered without a number 'now'")
        self.clock.sample(sent, float(now), received)
        return float(now)

    async def house_info(self) -> Json:
        """The house's money settings and time: ``{"currency": "EUR", "currency_digits": 2,
        "locale": "en", "bids_are_maxima": false, "now": ...}`` (also a clock sample)."""
        sent = self.clock.local()
        answer = await self._call("GET", "/house")
        received = self.clock.local()
        if not isinstance(answer, dict) or not isinstance(answer.get("now"), int | float):
            raise BadResponse("GET /house answered without a number 'now'")
        if not isinstance(answer.get("currency"), str):
            raise BadResponse("GET /house answered without a 'currency'")
        self.clock.sample(sent, float(answer["now"]), received)
        return answer

    async def sync_clock(self, samples: int = 3) -> float:
        """Estimate the house clock offset from a few round trips; returns the offset."""
        for _ in range(max(1, samples)):
            await self.time()
        return self.clock.offset

    def server_now(self) -> float:
        """Estimated house time (no request)."""
        return self.clock.now()

    # ------------------------------------------------------------------ accounts

    async def create_account(
        self, name: str, password: str, *, public_key: str | None = None
    ) -> Json:
        body: Json = {"name": name, "password": password}
        if public_key is not None:
            body["public_key"] = public_key
        result: Json = await self._call("POST", "/accounts", body=body)
        return result

    async def login(self, name: str, password: str) -> Json:
        """Open a session; the client then acts as this account."""
        session: Json = await self._call(
            "POST", "/sessions", body={"name": name, "password": password}
        )
        token = session.get("token")
        if not isinstance(token, str):
            raise BadResponse("POST /sessions answered without a token")
        self.token = token
        account = session.get("account", name)
        self.account = account.get("id", name) if isinstance(account, dict) else str(account)
        return session

    async def logout(self, *, everywhere: bool = False) -> Json:
        """End this client's session (``everywhere``: every session of the account); the token
        stops working at once, and the house closes the WebSockets that used it. The client
        forgets its token (and the bid socket) either way. ``{"revoked": n}``."""
        path = "/sessions" if everywhere else "/sessions/current"
        try:
            result: Json = await self._call("DELETE", path, auth=True)
        finally:
            if self._bid_socket is not None:
                await self._bid_socket.close()
                self._bid_socket = None
            self.token = None
        return result

    async def change_password(self, current: str, new: str) -> Json:
        """Change the account's password. Every session of the account is revoked (other
        clients and sockets are logged out); this client continues on the new session the
        house opens. Answers like :meth:`login`."""
        session: Json = await self._call(
            "PUT",
            "/me/password",
            body={"current_password": current, "new_password": new},
            auth=True,
        )
        token = session.get("token")
        if not isinstance(token, str):
            raise BadResponse("PUT /me/password answered without a token")
        if self._bid_socket is not None:
            await self._bid_socket.close()
            self._bid_socket = None
        self.token = token
        return session

    async def me(self) -> Json:
        result: Json = await self._call("GET", "/me", auth=True)
        if self.account is None and isinstance(result.get("id"), str):
            self.account = result["id"]
        return result

    async def register_key(self, public_key: str | None = None) -> Json:
        """Register ``public_key`` (hex) or the client's own key for signed bids."""
        if public_key is None:
            if self._key is None:
                raise ConfigError("no key to register: give a public key or load a key file")
            public_key = self._key.public_key
        body = {"public_key": public_key}
        result: Json = await self._call("PUT", "/me/key", body=body, auth=True)
        return result

    async def reputation(self, account_id: str) -> Json:
        result: Json = await self._call("GET", f"/accounts/{_seg(account_id)}/reputation")
        return result

    # ------------------------------------------------------------------ auctions

    async def list_auctions(
        self,
        *,
        state: str | None = None,
        method: str | None = None,
        seller: str | None = None,
        bidder: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        search: str | None = None,
        sort: str | None = None,
    ) -> Json:
        """A page of auctions ``{"auctions", "limit", "offset", "total"}``. ``search``: words
        each item must have in its name or description; ``sort``: newest (default),
        ending_soonest, price_low, price_high or most_bids. A bad value raises
        ``InvalidRequest``."""
        params = {
            "state": state,
            "method": method,
            "seller": seller,
            "bidder": bidder,
            "limit": limit,
            "offset": offset,
            "q": search,
            "sort": sort,
        }
        result: Json = await self._call("GET", "/auctions", params=params)
        return result

    async def create_auction(
        self,
        item: str,
        method: str,
        rules: Mapping[str, Any] | None = None,
        *,
        description: str | None = None,
        photos: Sequence[str] = (),
    ) -> Json:
        """Sell ``item`` by ``method``; ``photos``: digests from ``upload_photo``, in order."""
        body: Json = {"item": {"name": item}, "method": method, "rules": dict(rules or {})}
        if description is not None:
            body["item"]["description"] = description
        if photos:
            body["item"]["photos"] = list(photos)
        result: Json = await self._call("POST", "/auctions", body=body, auth=True)
        return result

    async def upload_photo(self, photo: bytes | str | os.PathLike[str]) -> Json:
        """Upload a photo (its bytes, or a file's path): JPEG, PNG or WebP, at most 5 MB.
        Answers ``{"photo": digest, "width", "height", "type"}``; pass the digest to
        ``create_auction(photos=[...])``. Raises InvalidPhoto, PhotoTooLarge."""
        data = photo if isinstance(photo, bytes) else Path(photo).read_bytes()
        result: Json = await self._call("POST", "/photos", body=data, auth=True)
        return result

    async def photo(self, digest: str, *, thumbnail: bool = False) -> bytes:
        """A photo's bytes (``thumbnail``: its WebP thumbnail)."""
        params = {"thumbnail": "true"} if thumbnail else None
        response = await self._send("GET", f"/photos/{_seg(digest)}", None, params or {}, None)
        if response.status_code >= 400:
            raise error_from_body(response.status_code, _json_or_none(response), None)
        return response.content

    async def auction(self, auction_id: str) -> Json:
        result: Json = await self._call("GET", f"/auctions/{_seg(auction_id)}")
        return result

    async def events(self, auction_id: str, after: int = 0) -> Json:
        """Every public event after seq ``after``: ``{"events": [...], "last_seq"}``. The house
        answers in pages (``events_page``); this follows them to the end."""
        events: list[Json] = []
        while True:
            page = await self.events_page(auction_id, after)
            events.extend(page.get("events", []))
            if not page.get("more") or not page.get("events"):
                return {"events": events, "last_seq": page.get("last_seq", after)}
            after = int(page["events"][-1]["seq"])

    async def events_page(self, auction_id: str, after: int = 0, limit: int | None = None) -> Json:
        """One page of public events after ``after``: ``{"events", "last_seq", "more"}``."""
        params: dict[str, int] = {"after": after}
        if limit is not None:
            params["limit"] = limit
        result: Json = await self._call(
            "GET", f"/auctions/{_seg(auction_id)}/events", params=params
        )
        return result

    async def cancel(self, auction_id: str, reason: str | None = None) -> Json:
        body = {"reason": reason} if reason is not None else {}
        result: Json = await self._call(
            "POST", f"/auctions/{_seg(auction_id)}/cancel", body=body, auth=True
        )
        return result

    async def pause(self, auction_id: str) -> Json:
        result: Json = await self._call("POST", f"/auctions/{_seg(auction_id)}/pause", auth=True)
        return result

    async def resume(self, auction_id: str) -> Json:
        result: Json = await self._call("POST", f"/auctions/{_seg(auction_id)}/resume", auth=True)
        return result

    async def admin_stats(self) -> Json:
        result: Json = await self._call("GET", "/admin/stats", auth=True)
        return result

    async def metrics(self) -> str:
        """The Prometheus text of ``/metrics`` (outside ``/api/v1``)."""
        result: str = await self._call("GET", f"{self.house}/metrics", text=True)
        return result

    # ------------------------------------------------------------------ bids

    async def bid(
        self,
        auction_id: str,
        amount: int,
        *,
        proxy_max: int | None = None,
        signed: bool | None = None,
        via: Literal["http", "ws"] = "http",
        presigned: Mapping[str, Any] | None = None,
    ) -> Json:
        """Place a bid (an accept in a Dutch auction) and return the house's ack.

        ``signed`` defaults to "when the client has a key". A signed bid refused only for its
        nonce (another process of the same account got ahead) or its timestamp (the clock
        estimate drifted) is signed again once with a fresh nonce and a fresh clock.
        ``presigned`` (``{"nonce", "ts", "signature"}`` from :meth:`signature`) is sent as is and
        never signed again. After a lost answer (``HouseUnreachable``) resend the same
        ``presigned`` fields: the house answers a byte-identical resend with the original ack
        (or refusal), places nothing and adds no strike; a bid signed anew could be a second bid.
        """
        if via not in ("http", "ws"):
            raise InvalidRequest("via must be 'http' or 'ws'")
        sign = self._key is not None if signed is None else signed
        body: Json = {"amount": amount}
        if proxy_max is not None:
            body["proxy_max"] = proxy_max
        if presigned is not None:
            body.update({k: presigned[k] for k in ("nonce", "ts", "signature")})
            sign = False
        for attempt in (1, 2):
            if sign:
                body.update(await self.signature(auction_id, amount, proxy_max))
            try:
                if via == "ws":
                    return await self._bid_ws(auction_id, body)
                result: Json = await self._call(
                    "POST", f"/auctions/{_seg(auction_id)}/bids", body=body, auth=True
                )
                return result
            except (ReplayedNonce, StaleTimestamp) as exc:
                if not sign or attempt == 2:
                    raise
                server_time = exc.fields.get("server_time")
                if isinstance(exc, StaleTimestamp) and isinstance(server_time, int | float):
                    self.clock.observe(float(server_time))
                await self.time()
        raise AssertionError("unreachable")  # pragma: no cover

    async def signature(self, auction_id: str, amount: int, proxy_max: int | None = None) -> Json:
        """``{"nonce", "ts", "signature"}`` for a bid by this client's account and key."""
        if self._key is None or self._nonces is None:
            raise ConfigError("signed bids need a key: create one or load a key file")
        if self.account is None:
            await self.me()
        if self.account is None:
            raise Unauthorized("log in first: a signed bid names its bidder")
        if not self.clock.synced:
            await self.time()
        nonce = self._nonces.next()
        ts = round(self.clock.now(), 3)
        signature = self._key.sign_bid(auction_id, self.account, amount, nonce, ts, proxy_max)
        return {"nonce": nonce, "ts": ts, "signature": signature}

    async def _bid_ws(self, auction_id: str, body: Json) -> Json:
        if self.token is None:
            raise Unauthorized("log in first (auctionhouse login NAME, or client.login())")
        async with self._socket_lock:
            if self._bid_socket is None or self._bid_socket.closed:
                if self._bid_socket is not None:  # lost (or its session ended): let it go
                    await self._bid_socket.close()
                    self._bid_socket = None
                socket = HouseSocket(self.house, self.clock, open_timeout=self.timeout)
                self._bid_socket = await socket.connect(self.token)
            socket = self._bid_socket
        try:
            answer = await socket.request({"op": "bid", "auction": auction_id, **body})
        except HouseUnreachable as exc:
            raise HouseUnreachable(
                f"{exc.message}; the bid's ack was lost (check the auction: it may be in)"
            ) from None
        ack = answer.get("ack")
        if not isinstance(ack, dict):
            raise BadResponse("the WebSocket answered a bid without an ack")
        return ack

    # ------------------------------------------------------------------ markets (docs/markets.md)

    async def create_market(
        self,
        name: str,
        kind: Literal["cda", "call"] = "cda",
        *,
        max_price: int | None = None,
        max_quantity: int | None = None,
        call_interval: float | None = None,
        closes_at: float | None = None,
        duration: float | None = None,
    ) -> Json:
        """Open a double-auction market owned by this account: its public view."""
        body: Json = {"name": name, "kind": kind}
        for field, value in (
            ("max_price", max_price),
            ("max_quantity", max_quantity),
            ("call_interval", call_interval),
            ("closes_at", closes_at),
            ("duration", duration),
        ):
            if value is not None:
                body[field] = value
        result: Json = await self._call("POST", "/markets", body=body, auth=True)
        return result

    async def markets(self, state: str | None = None, limit: int = 100) -> Json:
        """``{"markets": [view, ...]}``, newest first."""
        result: Json = await self._call("GET", "/markets", params={"state": state, "limit": limit})
        return result

    async def market(self, market_id: str, depth: int = 10) -> Json:
        """A market's public view (with ``you.orders`` when logged in)."""
        result: Json = await self._call(
            "GET", f"/markets/{_seg(market_id)}", params={"depth": depth}
        )
        return result

    async def book(self, market_id: str, depth: int = 10) -> Json:
        """The book's depth: ``{"bids": [[price, quantity, orders], ...], "asks": ..., "seq"}``."""
        result: Json = await self._call(
            "GET", f"/markets/{_seg(market_id)}/book", params={"depth": depth}
        )
        return result

    async def trades(self, market_id: str, after: int = 0, limit: int = 100) -> Json:
        """``{"trades": [...]}`` with ``trade_id > after``, oldest first."""
        result: Json = await self._call(
            "GET", f"/markets/{_seg(market_id)}/trades", params={"after": after, "limit": limit}
        )
        return result

    async def market_events(self, market_id: str, after: int = 0, limit: int = 1000) -> Json:
        result: Json = await self._call(
            "GET", f"/markets/{_seg(market_id)}/events", params={"after": after, "limit": limit}
        )
        return result

    async def my_orders(self, market_id: str) -> Json:
        """``{"orders": [...]}``: this account's live orders in the market."""
        result: Json = await self._call("GET", f"/markets/{_seg(market_id)}/orders", auth=True)
        return result

    async def close_market(self, market_id: str, reason: str = "") -> Json:
        result: Json = await self._call(
            "POST", f"/markets/{_seg(market_id)}/close", body={"reason": reason}, auth=True
        )
        return result

    async def order(
        self,
        market_id: str,
        side: Literal["buy", "sell"],
        price: int,
        quantity: int = 1,
        *,
        via: Literal["http", "ws"] = "http",
    ) -> Json:
        """Place a signed limit order (price in minor units per unit); the house's ack:
        ``{"order_id", "trades", "remaining", "self_trade_cancels", "book", ...}``. Signed
        with this client's key and a fresh nonce; refused only for its nonce or timestamp, it
        is signed again once (as ``bid`` does)."""

        async def send(material: Json) -> Json:
            body: Json = {"side": side, "price": price, "quantity": quantity, **material}
            if via == "ws":
                return await self._market_ws({"op": "order", "market": market_id, **body})
            result: Json = await self._call(
                "POST", f"/markets/{_seg(market_id)}/orders", body=body, auth=True
            )
            return result

        async def material() -> Json:
            account, nonce, ts = await self._signing_material()
            assert self._key is not None
            signature = self._key.sign_order(market_id, account, side, price, quantity, nonce, ts)
            return {"nonce": nonce, "ts": ts, "signature": signature}

        return await self._signed_twice(send, material)

    async def cancel_order(
        self, market_id: str, order_id: int, *, via: Literal["http", "ws"] = "http"
    ) -> Json:
        """Cancel the unfilled rest of one's own order (signed): ``{"cancelled": units, ...}``."""

        async def send(material: Json) -> Json:
            if via == "ws":
                return await self._market_ws(
                    {"op": "cancel", "market": market_id, "order_id": order_id, **material}
                )
            result: Json = await self._call(
                "POST",
                f"/markets/{_seg(market_id)}/orders/{int(order_id)}/cancel",
                body=material,
                auth=True,
            )
            return result

        async def material() -> Json:
            account, nonce, ts = await self._signing_material()
            assert self._key is not None
            signature = self._key.sign_cancel(market_id, account, order_id, nonce, ts)
            return {"nonce": nonce, "ts": ts, "signature": signature}

        return await self._signed_twice(send, material)

    async def _signing_material(self) -> tuple[str, int, float]:
        if self._key is None or self._nonces is None:
            raise ConfigError("market orders are signed: create a key or load a key file")
        if self.account is None:
            await self.me()
        if self.account is None:
            raise Unauthorized("log in first: a signed order names its trader")
        if not self.clock.synced:
            await self.time()
        return self.account, self._nonces.next(), round(self.clock.now(), 3)

    async def _signed_twice(
        self,
        send: Callable[[Json], Awaitable[Json]],
        material: Callable[[], Awaitable[Json]],
    ) -> Json:
        for attempt in (1, 2):
            try:
                return await send(await material())
            except (ReplayedNonce, StaleTimestamp) as exc:
                if attempt == 2:
                    raise
                server_time = exc.fields.get("server_time")
                if isinstance(exc, StaleTimestamp) and isinstance(server_time, int | float):
                    self.clock.observe(float(server_time))
                await self.time()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _market_ws(self, message: Json) -> Json:
        if self.token is None:
            raise Unauthorized("log in first (auctionhouse login NAME, or client.login())")
        async with self._socket_lock:
            socket = self._market_socket
            if socket is None or socket.closed:
                if socket is not None:
                    await socket.close()
                socket = await self.market_socket(self.token)
                self._market_socket = socket
        answer = await socket.request(message)
        ack = answer.get("ack")
        if not isinstance(ack, dict):
            raise BadResponse("the market WebSocket answered without an ack")
        return ack

    async def market_socket(self, token: str | None = None) -> HouseSocket:
        """A connected socket to ``/api/v1/markets/ws`` (authenticated with ``token``)."""
        socket = HouseSocket(self.house, self.clock, open_timeout=self.timeout)
        socket.url = socket.url.removesuffix("/ws") + "/markets/ws"
        return await socket.connect(token)

    async def watch_market(
        self, market_id: str, *, give_up_after: float | None = 30.0
    ) -> AsyncIterator[Json]:
        """The market's snapshot (``type: market``), then every live ``market_event`` with
        the book after it, reconnecting (with a fresh snapshot) when the connection drops."""
        lost_since: float | None = None
        while True:
            try:
                socket = await self.market_socket()
            except HouseUnreachable:
                now = asyncio.get_running_loop().time()
                lost_since = lost_since if lost_since is not None else now
                if give_up_after is not None and now - lost_since > give_up_after:
                    raise
                await asyncio.sleep(0.5)
                continue
            lost_since = None
            seen = 0
            try:
                await socket.request({"op": "subscribe", "markets": [market_id]})
                async for message in socket.stream():
                    if message.get("type") == "market":
                        seen = int(message.get("seq", 0))
                    elif message.get("type") == "market_event":
                        if int(message.get("seq", 0)) <= seen:
                            continue
                        seen = int(message["seq"])
                    yield message
            except HouseUnreachable:
                continue
            finally:
                await socket.close()

    # ------------------------------------------------------------------ watching

    def watch(
        self,
        auctions: Iterable[str] | str,
        *,
        after: Mapping[str, int] | None = None,
        until_closed: bool = False,
        give_up_after: float | None = 30.0,
    ) -> AsyncIterator[Json]:
        """Every pushed message of ``auctions`` (ids, or ``"*"``), reconnecting as needed.

        See :func:`auctionhouse.client.watch.watch`: events come in seq order per auction with
        no gap and no duplicate across reconnects.
        """
        from auctionhouse.client.watch import watch

        return watch(
            self, auctions, after=after, until_closed=until_closed, give_up_after=give_up_after
        )


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _seg(value: str) -> str:
    """One URL path segment (an id), refusing what would change the path."""
    text = str(value)
    if not text or "/" in text or text in (".", "..") or any(c.isspace() for c in text):
        raise InvalidRequest(f"{value!r} is not a valid id")
    return text
