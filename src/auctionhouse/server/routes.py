"""The REST endpoints of docs/api.md. Every handler is ``async``: the house lives on the event
loop; writes go through ``HouseService.call`` (answered once durable), argon2 work through
the bounded password workers (passwords.py). Every ``/api`` request first passes the
per-address rate limit."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST

from auctionhouse.errors import AuctionhouseError, Forbidden, LoginThrottled, Unauthorized
from auctionhouse.house import Account
from auctionhouse.server.app import ServerState
from auctionhouse.server.models import (
    CancelRequest,
    NewAccount,
    NewAuction,
    NewBid,
    NewPassword,
    NewSession,
    PublicKey,
    rules_dict,
)

EVENTS_PAGE = 1000  # default page of GET /auctions/{id}/events
MAX_EVENTS_PAGE = 5000
LISTED_DESCRIPTION = 280  # characters of an item's description in a list of auctions

bearer = HTTPBearer(auto_error=False, description="A token from POST /api/v1/sessions.")


def server_of(request: Request) -> ServerState:
    server: ServerState = request.app.state.server
    return server


async def check_address(request: Request) -> None:
    """The per-address rate limit (429 + Retry-After), before anything else."""
    server_of(request).house.check_address(request.client.host if request.client else None)


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def optional_account(request: Request, credentials: Credentials) -> Account | None:
    if credentials is None:
        if "authorization" in request.headers:
            raise Unauthorized("use Authorization: Bearer TOKEN")
        return None
    return server_of(request).house.authenticate(credentials.credentials)


async def current_account(request: Request, credentials: Credentials) -> Account:
    account = await optional_account(request, credentials)
    if account is None:
        raise Unauthorized("a bearer token is required (POST /api/v1/sessions)")
    return account


async def admin_account(account: Annotated[Account, Depends(current_account)]) -> Account:
    if not account.is_admin:
        raise Forbidden("only an admin may do this")
    return account


User = Annotated[Account, Depends(current_account)]
MaybeUser = Annotated[Account | None, Depends(optional_account)]
Admin = Annotated[Account, Depends(admin_account)]
AuctionId = Annotated[str, Path(min_length=1, max_length=100)]

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid_request and friends: `{error: {code, message}}`"},
    401: {"description": "unauthorized, bad_signature, signature_required"},
    403: {"description": "forbidden, seller_cannot_bid"},
    404: {"description": "not_found"},
    409: {"description": "a rule refuses the command (bid_too_low, auction_closed, ...)"},
    429: {"description": "rate_limited, login_throttled (Retry-After) or quota_exceeded"},
    503: {"description": "overloaded: the house's queue is full; retry shortly"},
}

api_router = APIRouter(prefix="/api/v1", dependencies=[Depends(check_address)], responses=ERRORS)
page_router = APIRouter()


# ---------------------------------------------------------------------- accounts and sessions


def address_of(request: Request) -> str | None:
    return request.client.host if request.client else None


def session_answer(server: ServerState, token: str) -> dict[str, Any]:
    """``{token, account, expires_at}``: the answer of every route that opens a session."""
    session = server.house.session(token)
    account = server.house.accounts.get(session.account_id)
    return {"token": token, "account": account.to_public(), "expires_at": session.expires_at}


@api_router.post("/accounts", status_code=201, tags=["accounts"])
async def create_account(body: NewAccount, request: Request) -> dict[str, Any]:
    server = server_of(request)
    account = await server.passwords.run(
        "suspect",
        lambda h: h.create_account(
            body.name, body.password, public_key=body.public_key, address=address_of(request)
        ),
    )
    return account.to_public()


@api_router.post("/sessions", status_code=201, tags=["accounts"])
async def create_session(body: NewSession, request: Request) -> dict[str, Any]:
    """Log in. Failed logins are throttled per address and per account (429
    ``login_throttled`` + Retry-After, growing backoff); docs/operations.md."""
    server = server_of(request)
    house = server.house
    address = address_of(request)
    try:
        house.check_login(body.name, address)  # before any password work
        token = await server.passwords.login(
            house.login_is_known(body.name, address),
            body.name,  # at most a few logins of one name checked at once (passwords.py)
            lambda h: h.login(body.name, body.password, address),
        )
    except AuctionhouseError as exc:
        server.metrics.login(exc.code)
        if isinstance(exc, LoginThrottled):
            await server.tarpit(exc.retry_after)
        raise
    server.metrics.login(None)
    return session_answer(server, token)


@api_router.delete("/sessions/current", tags=["accounts"])
async def logout(request: Request, credentials: Credentials) -> dict[str, Any]:
    """Log out: revoke this token (at once, everywhere: its WebSockets close with 4003)."""
    if credentials is None:
        raise Unauthorized("a bearer token is required (POST /api/v1/sessions)")
    server = server_of(request)
    token = credentials.credentials
    session = server.house.session(token)  # 401 if expired or unknown
    await server.service.call(lambda h: h.logout(token))  # a peer replicates its digest
    server.sessions.end_session(session.digest)
    return {"revoked": 1}


@api_router.delete("/sessions", tags=["accounts"])
async def logout_everywhere(account: User, request: Request) -> dict[str, Any]:
    """Revoke every session of the caller's account (its WebSockets close with 4003)."""
    server = server_of(request)
    revoked = await server.service.call(lambda h: h.logout_everywhere(account.id))
    server.sessions.end_account(account.id)
    return {"revoked": revoked}


@api_router.put("/me/password", tags=["accounts"])
async def change_password(body: NewPassword, account: User, request: Request) -> dict[str, Any]:
    """Change the password: the current one is checked (throttled like a login), every session
    of the account is revoked (its WebSockets close with 4003), and a new session is opened."""
    server = server_of(request)
    house = server.house
    address = address_of(request)
    try:
        house.check_login(account.id, address)
        token = await server.passwords.run(
            "suspect",
            lambda h: h.change_password(
                account.id, body.current_password, body.new_password, address
            ),
        )
    except LoginThrottled as exc:
        await server.tarpit(exc.retry_after)
        raise
    server.sessions.end_account(account.id)
    return session_answer(server, token)


@api_router.get("/me", tags=["accounts"])
async def me(account: User, request: Request) -> dict[str, Any]:
    house = server_of(request).house
    return {**account.to_public(), "reputation": house.reputation(account.id)}


@api_router.put("/me/key", tags=["accounts"])
async def register_key(body: PublicKey, account: User, request: Request) -> dict[str, Any]:
    server = server_of(request)
    updated = await server.service.run_blocking(
        lambda h: h.register_key(account.id, body.public_key)
    )
    return updated.to_public()


@api_router.get("/accounts/{account_id}/reputation", tags=["accounts"])
async def reputation(
    account_id: Annotated[str, Path(min_length=1, max_length=64)], request: Request
) -> dict[str, Any]:
    return server_of(request).house.reputation(account_id)


# ---------------------------------------------------------------------- auctions


@api_router.get("/auctions", tags=["auctions"])
async def list_auctions(
    request: Request,
    account: MaybeUser,
    state: Literal["scheduled", "open", "paused", "closed"] | None = None,
    method: Literal["english", "dutch", "fpsb", "vickrey"] | None = None,
    seller: Annotated[str | None, Query(max_length=64)] = None,
    bidder: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    q: Annotated[str | None, Query(max_length=200, description="words in the item")] = None,
    sort: Literal["newest", "ending_soonest", "price_low", "price_high", "most_bids"] = "newest",
) -> dict[str, Any]:
    house = server_of(request).house
    views, total = house.find_auctions(
        state=state,
        method=method,
        seller=seller,
        bidder=bidder,
        viewer=account.id if account is not None else None,
        query=q,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    return {
        "auctions": [_listed(v) for v in views],
        "limit": limit,
        "offset": offset,
        "total": total,
    }


def _listed(view: dict[str, Any]) -> dict[str, Any]:
    """A view in a list: a long description is cut to ``LISTED_DESCRIPTION`` characters (with
    ``item.truncated``), so a page of 500 stays about 1 MB however long the descriptions are;
    ``GET /auctions/{id}`` has the whole."""
    item = view["item"]
    description = item.get("description") or ""
    if len(description) > LISTED_DESCRIPTION:
        view["item"] = {**item, "description": description[:LISTED_DESCRIPTION], "truncated": True}
    return view


@api_router.post("/auctions", status_code=201, tags=["auctions"])
async def create_auction(body: NewAuction, account: User, request: Request) -> dict[str, Any]:
    rules = rules_dict(body.rules)
    photos = tuple(body.item.photos)
    extra: dict[str, Any] = {"photos": photos} if photos else {}
    return await server_of(request).service.call(
        lambda h: h.create_auction(
            account.id,
            body.item.name,
            body.method,
            rules,
            description=body.item.description,
            **extra,
        )
    )


# ---------------------------------------------------------------------- photos

PHOTO_CACHE = "public, max-age=31536000, immutable"  # content-addressed: never changes
PhotoDigest = Annotated[str, Path(pattern="^[0-9a-f]{64}$")]


@api_router.post("/photos", status_code=201, tags=["photos"])
async def upload_photo(account: User, request: Request) -> dict[str, Any]:
    """The body is the image itself (JPEG, PNG or WebP, at most 5 MB). The house checks it,
    re-encodes it without metadata and keeps it with a thumbnail; the answer's ``photo`` (its
    SHA-256) goes in a new auction's ``item.photos``."""
    upload = await request.body()
    house = server_of(request).house
    return await asyncio.to_thread(house.add_photo, account.id, upload)


@api_router.get("/photos/{digest}", tags=["photos"])
async def photo(digest: PhotoDigest, request: Request, thumbnail: bool = False) -> Response:
    """A photo (``thumbnail=true``: its thumbnail, WebP, at most 400 pixels a side)."""
    # On a thread: the bytes may come from a file, the shared house's database or, on a
    # replica that lacks them yet, another member of its group (p2p/photos.py).
    house = server_of(request).house
    data, media = await asyncio.to_thread(house.photo, digest, thumbnail=thumbnail)
    return Response(data, media_type=media, headers={"Cache-Control": PHOTO_CACHE})


@api_router.get("/auctions/{auction_id}", tags=["auctions"])
async def show_auction(auction_id: AuctionId, account: MaybeUser, request: Request) -> Any:
    server = server_of(request)
    await server.settled(auction_id)
    return server.house.view(auction_id, account.id if account else None)


@api_router.post("/auctions/{auction_id}/bids", status_code=201, tags=["bids"])
async def place_bid(
    auction_id: AuctionId, body: NewBid, account: User, request: Request
) -> dict[str, Any]:
    server = server_of(request)
    request.state.bid_started = started = time.perf_counter()
    ack = await server.place_bid(account.id, auction_id, body.fields())  # refusals: app.py
    server.metrics.bid("http", started, None)
    return ack


@api_router.post("/auctions/{auction_id}/cancel", tags=["auctions"])
async def cancel_auction(
    auction_id: AuctionId, account: User, request: Request, body: CancelRequest | None = None
) -> dict[str, Any]:
    reason = body.reason if body is not None else ""
    return await server_of(request).service.call(
        lambda h: h.cancel_auction(account.id, auction_id, reason)
    )


@api_router.post("/auctions/{auction_id}/pause", tags=["admin"])
async def pause_auction(auction_id: AuctionId, account: Admin, request: Request) -> dict[str, Any]:
    return await server_of(request).service.call(lambda h: h.pause_auction(account.id, auction_id))


@api_router.post("/auctions/{auction_id}/resume", tags=["admin"])
async def resume_auction(auction_id: AuctionId, account: Admin, request: Request) -> dict[str, Any]:
    return await server_of(request).service.call(lambda h: h.resume_auction(account.id, auction_id))


@api_router.get("/auctions/{auction_id}/events", tags=["auctions"])
async def auction_events(
    auction_id: AuctionId,
    request: Request,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_EVENTS_PAGE)] = EVENTS_PAGE,
) -> dict[str, Any]:
    """A page of at most ``limit`` durable public events after seq ``after``; ``more`` says
    whether events follow (ask again with ``after`` = the last seq of this page)."""
    server = server_of(request)
    await server.settled(auction_id)
    last = server.hub.durable_seq.get(auction_id, 0)
    count = min(limit, max(0, last - after))
    events = server.house.events(auction_id, after, limit=count) if count else []
    return {"events": events, "last_seq": last, "more": after + len(events) < last}


# ---------------------------------------------------------------------- house


@api_router.get("/time", tags=["house"])
async def server_time(request: Request) -> dict[str, float]:
    return {"now": server_of(request).house.clock.now()}


@api_router.get("/house", tags=["house"])
async def house_info(request: Request) -> dict[str, Any]:
    """What a face needs to show and take money as people write it, and the house time:
    ``currency`` (ISO 4217; every amount is an integer of its minor units), ``currency_digits``
    (its minor-unit digits: EUR 2, JPY 0), ``locale`` (for Babel's or Intl's currency format),
    ``bids_are_maxima`` (the house default for English auctions) and ``now`` (seconds)."""
    from auctionhouse.money import currency_digits

    house = server_of(request).house
    config = house.config
    return {
        "currency": config.currency,
        "currency_digits": currency_digits(config.currency),
        "locale": config.locale,
        "bids_are_maxima": config.bids_are_maxima,
        "now": house.clock.now(),
    }


@api_router.get("/admin/stats", tags=["admin"])
async def admin_stats(account: Admin, request: Request) -> dict[str, Any]:
    server = server_of(request)
    counts = server.house.counts()["by_state"]
    return {
        "bids_per_second": server.metrics.bids_per_second(),
        "open_auctions": counts.get("open", 0),
        "connections": len(server.hub.connections),
        "rejected": dict(server.metrics.rejected),
        "queue_depth": server.service.queue_depth,
        "dropped_connections": server.hub.dropped,
    }


@page_router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(server_of(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)
