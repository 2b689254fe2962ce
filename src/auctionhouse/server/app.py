"""``create_app(config, clock=None)``: the FastAPI application of a house.

The app owns one ``HouseService`` (the async shell around the house: bounded queue, group
commit), one ``Hub`` (WebSocket fan-out) and one ``Metrics`` registry; the lifespan starts and
stops them, so SIGTERM (uvicorn's graceful shutdown) drains connections, writes what is queued,
checkpoints and closes the ledger.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import auctionhouse
from auctionhouse.errors import AuctionhouseError, PhotoTooLarge, TooLarge
from auctionhouse.house import AuctionHouse, Clock
from auctionhouse.house.photos import MAX_BYTES as PHOTO_MAX_BYTES
from auctionhouse.house.service import HouseService
from auctionhouse.house.verifier import place_bid_command
from auctionhouse.server.config import ServerConfig
from auctionhouse.server.hub import Hub, Limits
from auctionhouse.server.market_hub import MarketHub
from auctionhouse.server.metrics import Metrics
from auctionhouse.server.models import BidFields
from auctionhouse.server.passwords import PasswordWorkers
from auctionhouse.server.sessions import SessionWatch
from auctionhouse.server.wire import (
    error_body,
    error_response,
    http_status_error,
    retry_after_header,
    validation_error,
)

MAX_BODY_BYTES = 1 << 20
PHOTOS_PATH = "/api/v1/photos"
BID_PATH = re.compile(r"/api/v1/auctions/[^/]+/bids")  # fullmatch: "$" passes a final "\n"

PLACEHOLDER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>auctionhouse</title></head>
<body><h1>auctionhouse</h1><p>The API is at <a href="/docs">/docs</a>.</p></body></html>
"""


def static_dir() -> Path:
    return Path(str(resources.files("auctionhouse.server") / "static"))


class ServerState:
    """Everything a request handler needs: config, service, hub, metrics."""

    def __init__(
        self, config: ServerConfig, clock: Clock | None, service: HouseService | None = None
    ) -> None:
        self.config = config
        self.clock = clock
        self.metrics = Metrics(config.stats_window_seconds)
        self._opened: AuctionHouse | None = None
        self._open_now: Callable[[], AuctionHouse] = self._open_house
        # ``service``: another keeping of the house behind the same interface (p2p peers).
        self.service = service or self._service(config)
        self.hub = Hub(
            self.service,
            limits=Limits(
                queue_messages=config.ws_send_queue,
                queue_bytes=config.ws_send_buffer_bytes,
                send_timeout=config.send_timeout,
            ),
            per_account=config.ws_connections_per_account,
            page_cache_bytes=config.catch_up_cache_bytes,
        )
        self.sessions = SessionWatch(self.hub)
        self.market_hub = MarketHub(  # market_hub.py
            self.service, config.ws_send_queue, config.send_timeout
        )
        self.passwords = PasswordWorkers(
            self.service, config.password_workers, config.login_max_waiting
        )
        self._tarpitted = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        # Called once the house is recovered and serving (run.py tunes the GC here).
        self.on_started: Callable[[], None] | None = None

    def _service(self, config: ServerConfig) -> HouseService:
        if config.database_url is None:
            return HouseService(self._open_house)
        from auctionhouse.house.shared import SharedAuctionHouse, SharedHouseService

        url = config.database_url

        def open_shared() -> AuctionHouse:
            if self._opened is not None:  # opened and verified by open_house_now
                house, self._opened = self._opened, None
                return house
            return SharedAuctionHouse.open_shared(
                url, key_path=config.key_path, config=config.house, clock=self.clock
            )

        self._open_now = open_shared
        return SharedHouseService(open_shared, url)  # type: ignore[arg-type]

    def _open_house(self) -> AuctionHouse:
        if self._opened is not None:
            house, self._opened = self._opened, None
            return house
        return AuctionHouse.open(
            self.config.db,
            config=self.config.house,
            clock=self.clock,
            key_path=self.config.key_path,
            read_only=self.config.read_only,
        )

    def open_house_now(self) -> AuctionHouse:
        """Open (recover and verify) the house before the server starts, so that a ledger
        that fails is one ``error:`` line and a non-zero exit, never a startup traceback."""
        self._opened = self._open_now()
        return self._opened

    @property
    def house(self) -> AuctionHouse:
        return self.service.house

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None
        return self._loop

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.service.start()
        self.hub.start()
        if self.config.database_url is not None:  # the WebSocket quota over every instance
            await self.hub.share_quota(self.config.database_url, self.config.ws_lease_seconds)
        self.market_hub.start()
        self.sessions.start()
        self.service.on_session_revoked = self.sessions.revoked
        # Looked up at each scrape: a peer's house is replaced when it rebuilds from a snapshot.
        self.metrics.watch_house(lambda: self.house.counts(), lambda: self.service.queue_depth)
        self.metrics.watch_markets(lambda: self.house.markets.counts())
        self.metrics.connections.set_function(  # auction and market sockets
            lambda: float(len(self.hub.connections) + len(self.market_hub.connections))
        )
        if self.on_started is not None:
            self.on_started()

    async def stop(self) -> None:
        await self.sessions.stop()
        self.market_hub.stop()
        await self.hub.stop()
        await self.service.stop()
        self.passwords.shutdown()

    async def place_bid(self, account: str, auction: str, bid: BidFields) -> dict[str, Any]:
        return await self.submit_bid(account, auction, bid)

    def submit_bid(
        self, account: str, auction: str, bid: BidFields
    ) -> asyncio.Future[dict[str, Any]]:
        """Queue the bid; the future gets its ack once durable (``HouseService.submit``)."""
        return self.service.submit(
            place_bid_command(  # a signature is verified ahead, in a batch (house/verifier.py)
                account,
                auction,
                bid.amount,
                proxy_max=bid.proxy_max,
                nonce=bid.nonce,
                ts=bid.ts,
                signature=bid.signature,
            )
        )

    async def tarpit(self, retry_after: float) -> None:
        """Hold a throttled login's answer for min(retry_after, login_tarpit_seconds), so a
        guessing loop gets a few answers a second, not thousands (bounded: at most
        login_tarpit_max held at once; beyond that the answer goes at once)."""
        delay = min(retry_after, self.config.login_tarpit_seconds)
        if delay <= 0 or self._tarpitted >= self.config.login_tarpit_max:
            return
        self._tarpitted += 1
        try:
            await asyncio.sleep(delay)
        finally:
            self._tarpitted -= 1

    async def settled(self, auction_id: str) -> None:
        """Wait until everything decided about ``auction_id`` is durable (a read barrier), so a
        read never shows what a crash could still take back."""
        state = self.house.state(auction_id)
        if state.seq > self.hub.durable_seq.get(auction_id, 0):
            await self.service.call(lambda h: None)


class BodyLimit:
    """Refuse request bodies above ``limit`` bytes with 413 (pure ASGI, no buffering)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # A photo upload may be larger (house/photos.py); it is refused as a photo too large.
        photo = scope.get("path") == PHOTOS_PATH
        limit = PHOTO_MAX_BYTES if photo else self.limit
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                if not value.isdigit() or int(value) > limit:
                    await self._refuse(send, limit, photo)
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(send, limit, photo)

    async def _refuse(self, send: Send, limit: int, photo: bool) -> None:
        err: AuctionhouseError = TooLarge(f"request bodies are limited to {limit} bytes")
        if photo:
            err = PhotoTooLarge(f"a photo has at most {limit // (1 << 20)} MB", limit=limit)
        response = error_response(err)
        await response({"type": "http"}, _no_receive, send)


class _TooLarge(Exception):
    pass


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def create_app(
    config: ServerConfig | None = None,
    *,
    clock: Clock | None = None,
    service: HouseService | None = None,
) -> FastAPI:
    """The house as an ASGI app; ``clock`` is injected in tests (a ``FakeClock``); ``service``
    replaces the embedded house's service (a peer's replicated one, ``p2p.service``)."""
    from auctionhouse.server.market_hub import MarketSocketEndpoint
    from auctionhouse.server.market_routes import market_router
    from auctionhouse.server.page import SecurityHeaders, install_docs
    from auctionhouse.server.redact import SecretsInUrls
    from auctionhouse.server.routes import api_router, page_router
    from auctionhouse.server.ws import WebSocketEndpoint

    config = config or ServerConfig()
    server = ServerState(config, clock, service)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await server.start()
        try:
            yield
        finally:
            await server.stop()

    app = FastAPI(
        title="auctionhouse",
        version=auctionhouse.__version__,
        description="An auction house for people and software agents. See docs/api.md.",
        lifespan=lifespan,
        docs_url=None,  # page.py serves /docs from packaged assets, not a CDN
        redoc_url=None,
    )
    app.state.server = server
    _install_error_handlers(app, server)
    app.include_router(api_router)
    app.include_router(market_router)
    app.include_router(page_router)

    static = static_dir()
    if static.is_dir():
        app.mount("/static", StaticFiles(directory=static), name="static")

    @app.get("/", include_in_schema=False, response_model=None)
    async def index() -> Response:
        page = static / "index.html"
        if page.is_file():
            return FileResponse(page, media_type="text/html")
        return HTMLResponse(PLACEHOLDER_PAGE)

    install_docs(app)
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(WebSocketEndpoint, server=server)  # WS skips the rest
    app.add_middleware(MarketSocketEndpoint, server=server)  # /api/v1/markets/ws
    app.add_middleware(SecretsInUrls)  # outermost: no secret in a URL reaches a route or a log
    return app


def _install_error_handlers(app: FastAPI, server: ServerState) -> None:
    """Every error leaves in one shape, ``{"error": {"code", "message"}}`` (wire.py)."""

    def count_refused_bid(request: Request, err: AuctionhouseError) -> None:
        """Every refused HTTP bid is counted here, once, whatever refused it."""
        if request.method == "POST" and BID_PATH.fullmatch(request.url.path):
            started = getattr(request.state, "bid_started", None)
            server.metrics.bid("http", started, err.code)

    async def house_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AuctionhouseError)
        count_refused_bid(request, exc)
        return error_response(exc)

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        err = validation_error(list(exc.errors()))
        count_refused_bid(request, err)
        return error_response(err)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        err = http_status_error(exc.status_code, exc.detail)
        status, body = error_body(err)
        if exc.status_code not in (404, 405):
            status = exc.status_code
        headers = {**retry_after_header(err), **(exc.headers or {})}
        return JSONResponse(body, status_code=status, headers=headers)

    async def unexpected(request: Request, exc: Exception) -> Response:
        return error_response(exc)

    app.add_exception_handler(AuctionhouseError, house_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
