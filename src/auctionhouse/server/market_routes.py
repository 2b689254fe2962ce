"""The market endpoints of docs/markets.md: create, list, view, book (depth), trades, events,
signed orders and cancels, close. Writes go through ``HouseService.call`` (answered once
durable); reads wait for a read barrier (``MarketHub.settled``) so they never show what a crash
could take back. Every request first passes the per-address rate limit."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import Field, StrictFloat, StrictInt

from auctionhouse.house.markets import cancel_order_command, place_order_command
from auctionhouse.server.market_hub import signed_write
from auctionhouse.server.models import Body, Instant, Seconds
from auctionhouse.server.routes import ERRORS, MaybeUser, User, check_address, server_of

MarketId = Annotated[str, Path(min_length=1, max_length=100)]
WideInt = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
Signature = Annotated[str, Field(min_length=1, max_length=256)]
Nonce = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]

market_router = APIRouter(
    prefix="/api/v1", dependencies=[Depends(check_address)], responses=ERRORS, tags=["markets"]
)


class NewMarket(Body):
    name: Annotated[str, Field(min_length=1, max_length=200, examples=["widgets"])]
    kind: Literal["cda", "call"] = "cda"
    max_price: Annotated[StrictInt, Field(ge=1, le=10**12)] | None = None
    max_quantity: Annotated[StrictInt, Field(ge=1, le=10**9)] | None = None
    call_interval: Seconds | None = None
    closes_at: Instant | None = None
    duration: Seconds | None = None


class NewOrder(Body):
    """A signed limit order. Price and quantity are checked by the market (``invalid_order``
    for 0 or less or past its limits), so the wire takes any 64-bit integer."""

    side: Literal["buy", "sell"]
    price: WideInt
    quantity: WideInt
    nonce: Nonce
    ts: Annotated[StrictInt | StrictFloat, Field(ge=0, le=10**11)]
    signature: Signature


class SignedCancel(Body):
    nonce: Nonce
    ts: Annotated[StrictInt | StrictFloat, Field(ge=0, le=10**11)]
    signature: Signature


class CloseRequest(Body):
    reason: Annotated[str, Field(max_length=200)] = ""


@market_router.post("/markets", status_code=201)
async def create_market(body: NewMarket, account: User, request: Request) -> dict[str, Any]:
    server = server_of(request)
    return await server.service.call(
        lambda h: h.markets.create_market(
            account.id,
            body.name,
            body.kind,
            max_price=body.max_price,
            max_quantity=body.max_quantity,
            call_interval=body.call_interval,
            closes_at=body.closes_at,
            duration=body.duration,
        )
    )


@market_router.get("/markets")
async def list_markets(
    request: Request,
    state: Literal["open", "closed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    return {"markets": server_of(request).house.markets.list_markets(state=state, limit=limit)}


@market_router.get("/markets/{market_id}")
async def show_market(
    market_id: MarketId,
    request: Request,
    account: MaybeUser,
    depth: Annotated[int, Query(ge=1, le=500)] = 10,
) -> dict[str, Any]:
    """The market's public view; with a token, ``you`` lists the caller's live orders."""
    server = server_of(request)
    await server.market_hub.settled(market_id)
    markets = server.house.markets
    view = markets.view(market_id, depth)
    if account is not None:
        view["you"] = {"orders": markets.my_orders(market_id, account.id)}
    return view


@market_router.get("/markets/{market_id}/book")
async def market_book(
    market_id: MarketId, request: Request, depth: Annotated[int, Query(ge=1, le=500)] = 10
) -> dict[str, Any]:
    """The book's depth: ``{bids: [[price, quantity, orders]...], asks: [...], seq}``."""
    server = server_of(request)
    await server.market_hub.settled(market_id)
    return server.house.markets.book(market_id, depth)


@market_router.get("/markets/{market_id}/trades")
async def market_trades(
    market_id: MarketId,
    request: Request,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Trades with ``trade_id > after``, oldest first."""
    server = server_of(request)
    await server.market_hub.settled(market_id)
    return {"trades": server.house.markets.trades(market_id, after, limit)}


@market_router.get("/markets/{market_id}/events")
async def market_events(
    market_id: MarketId,
    request: Request,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> dict[str, Any]:
    """The market's public log after seq ``after`` (orders without their trader)."""
    server = server_of(request)
    await server.market_hub.settled(market_id)
    return {"events": server.house.markets.events(market_id, after, limit)}


@market_router.get("/markets/{market_id}/orders")
async def my_orders(market_id: MarketId, account: User, request: Request) -> dict[str, Any]:
    server = server_of(request)
    await server.market_hub.settled(market_id)
    return {"orders": server.house.markets.my_orders(market_id, account.id)}


@market_router.post("/markets/{market_id}/orders", status_code=201)
async def place_order(
    market_id: MarketId, body: NewOrder, account: User, request: Request
) -> dict[str, Any]:
    server = server_of(request)
    return await signed_write(
        server,
        "order",
        place_order_command(
            account.id,
            market_id,
            body.side,
            body.price,
            body.quantity,
            nonce=body.nonce,
            ts=body.ts,
            signature=body.signature,
        ),
    )


@market_router.post("/markets/{market_id}/orders/{order_id}/cancel")
async def cancel_order(
    market_id: MarketId,
    order_id: Annotated[int, Path(ge=0, le=2**62)],
    body: SignedCancel,
    account: User,
    request: Request,
) -> dict[str, Any]:
    server = server_of(request)
    return await signed_write(
        server,
        "cancel",
        cancel_order_command(
            account.id, market_id, order_id, nonce=body.nonce, ts=body.ts, signature=body.signature
        ),
    )


@market_router.post("/markets/{market_id}/close")
async def close_market(
    market_id: MarketId, account: User, request: Request, body: CloseRequest | None = None
) -> dict[str, Any]:
    server = server_of(request)
    reason = body.reason if body is not None else ""
    return await server.service.call(
        lambda h: h.markets.close_market(account.id, market_id, reason)
    )
