"""DESIGN.md section 4 over the network: every refused bid gets its code and changes nothing.

Each case snapshots the auction (view and public log) before the attempt and checks both are
unchanged after it. The flood cases run on a server of their own with small limits.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from nacl.signing import SigningKey
from server_helpers import Api, LiveServer, error_code, live_server, signed_bid, ws_auth, ws_until

import http_helpers

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("security")) as srv:
        yield srv


@pytest.fixture(scope="module")
def api(server: LiveServer) -> Iterator[Api]:
    with http_helpers.client(base_url=server.url, timeout=10) as client:
        api = Api(client)
        api.account("seller", key=True)
        api.account("ann", key=True)
        api.account("bo", key=True)
        yield api


def state_of(api: Api, auction: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    view = api.view(auction)
    view.pop("min_next_bid", None)  # a function of time for Dutch; unchanged otherwise
    return view, api.events(auction)


def refused(
    api: Api, auction: str, response: httpx.Response, status: int, code: str
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"]["code"] == code
    assert "Traceback" not in response.text
    return body["error"]


@pytest.fixture
def signed_auction(api: Api) -> Iterator[str]:
    aid = api.sell("seller", "english", duration=120, signed_bids=True, min_increment=10)["id"]
    ok = api.client.post(
        f"/api/v1/auctions/{aid}/bids",
        json=api.signed("ann", aid, 100, ts=time.time()),
        headers=api.auth("ann"),
    )
    assert ok.status_code == 201, ok.text
    before = state_of(api, aid)
    yield aid
    assert state_of(api, aid) == before, "a refused bid changed the auction"


def post_bid(api: Api, name: str, aid: str, body: dict[str, Any]) -> httpx.Response:
    response: httpx.Response = api.client.post(
        f"/api/v1/auctions/{aid}/bids", json=body, headers=api.auth(name)
    )
    return response


def test_forged_signature(api: Api, signed_auction: str) -> None:
    body = api.signed("bo", signed_auction, 200, ts=time.time())
    body["signature"] = "ab" * 64
    refused(api, signed_auction, post_bid(api, "bo", signed_auction, body), 401, "bad_signature")


def test_tampered_amount(api: Api, signed_auction: str) -> None:
    body = api.signed("bo", signed_auction, 200, ts=time.time())
    body["amount"] = 2000  # the signature covers 200
    refused(api, signed_auction, post_bid(api, "bo", signed_auction, body), 401, "bad_signature")


def test_signature_by_another_accounts_key(api: Api, signed_auction: str) -> None:
    nonce = api.nonces["bo"] = api.nonces.get("bo", 0) + 1
    # Signed by ann's key, claiming to be bo.
    body = signed_bid(api.keys["ann"], "bo", signed_auction, 300, nonce, time.time())
    refused(api, signed_auction, post_bid(api, "bo", signed_auction, body), 401, "bad_signature")
    # A key nobody registered.
    body = signed_bid(SigningKey.generate(), "bo", signed_auction, 300, nonce, time.time())
    refused(api, signed_auction, post_bid(api, "bo", signed_auction, body), 401, "bad_signature")


def test_replayed_nonce(api: Api) -> None:
    aid = api.sell("seller", "english", duration=120, signed_bids=True)["id"]
    first = api.signed("bo", aid, 100, ts=time.time())
    accepted = post_bid(api, "bo", aid, first)
    assert accepted.status_code == 201
    ack = accepted.json()
    before = state_of(api, aid)
    strikes = api.client.get("/api/v1/accounts/bo/reputation").json()["strikes"]
    # The very same request again (a lost answer): the original ack, no second bid, no strike.
    resent = post_bid(api, "bo", aid, first)
    assert resent.status_code == 201 and resent.json() == ack
    assert state_of(api, aid) == before
    assert api.client.get("/api/v1/accounts/bo/reputation").json()["strikes"] == strikes
    metrics = api.client.get("/metrics").text
    assert re.search(r"^auctionhouse_bid_resends_total [1-9]", metrics, re.M), metrics[-500:]
    # A different bid signed with the spent nonce is a replay: refused, with a strike.
    again = signed_bid(api.keys["bo"], "bo", aid, 500, first["nonce"], time.time())
    refused(api, aid, post_bid(api, "bo", aid, again), 409, "replayed_nonce")
    assert state_of(api, aid) == before
    assert api.client.get("/api/v1/accounts/bo/reputation").json()["strikes"] == strikes + 1


def test_stale_timestamp(api: Api, signed_auction: str) -> None:
    body = api.signed("bo", signed_auction, 200, ts=time.time() - 3600)
    err = refused(
        api, signed_auction, post_bid(api, "bo", signed_auction, body), 409, "stale_timestamp"
    )
    assert abs(err["server_time"] - time.time()) < 5
    body = api.signed("bo", signed_auction, 200, ts=time.time() + 3600)
    refused(api, signed_auction, post_bid(api, "bo", signed_auction, body), 409, "stale_timestamp")


def test_unsigned_bid_where_signatures_are_required(api: Api, signed_auction: str) -> None:
    r = post_bid(api, "bo", signed_auction, {"amount": 200})
    refused(api, signed_auction, r, 401, "signature_required")


def test_missing_or_foreign_token(api: Api, signed_auction: str) -> None:
    body = api.signed("bo", signed_auction, 200, ts=time.time())
    url = f"/api/v1/auctions/{signed_auction}/bids"
    refused(api, signed_auction, api.client.post(url, json=body), 401, "unauthorized")
    for header in ("Bearer not-a-token-of-this-house", "Basic Ym86cGFzcw==", "Bearer"):
        r = api.client.post(url, json=body, headers={"Authorization": header})
        refused(api, signed_auction, r, 401, "unauthorized")
    r = api.client.get("/api/v1/me", headers={"Authorization": "Bearer forged"})
    assert r.status_code == 401 and error_code(r) == "unauthorized"


def test_seller_cannot_bid_on_own_item(api: Api) -> None:
    aid = api.sell("seller", "english", duration=120)["id"]
    before = state_of(api, aid)
    refused(api, aid, api.bid("seller", aid, 100), 403, "seller_cannot_bid")
    assert state_of(api, aid) == before


def test_bid_below_the_increment(api: Api) -> None:
    aid = api.sell("seller", "english", duration=120, min_increment=25)["id"]
    assert api.bid("ann", aid, 100).status_code == 201
    before = state_of(api, aid)
    err = refused(api, aid, api.bid("bo", aid, 124), 409, "bid_too_low")
    assert err["minimum"] == 125
    assert state_of(api, aid) == before


def test_bid_on_a_closed_auction(api: Api) -> None:
    aid = api.sell("seller", "vickrey", expected_bids=1)["id"]
    assert api.bid("ann", aid, 100).json()["result"]["outcome"] == "sold"
    before = state_of(api, aid)
    refused(api, aid, api.bid("bo", aid, 500), 409, "auction_closed")
    cancelled = api.sell("seller", "english", duration=120)["id"]
    api.client.post(f"/api/v1/auctions/{cancelled}/cancel", headers=api.auth("seller"))
    refused(api, cancelled, api.bid("bo", cancelled, 500), 409, "auction_closed")
    assert state_of(api, aid) == before


def test_second_sealed_bid_is_refused(api: Api) -> None:
    aid = api.sell("seller", "fpsb", duration=120)["id"]
    assert api.bid("ann", aid, 100).status_code == 201
    before = state_of(api, aid)
    refused(api, aid, api.bid("ann", aid, 200), 409, "already_bid")
    assert state_of(api, aid) == before


def test_admin_only_endpoints(api: Api) -> None:
    r = api.client.get("/api/v1/admin/stats", headers=api.auth("ann"))
    assert r.status_code == 403 and error_code(r) == "forbidden"
    r = api.client.get("/api/v1/admin/stats")
    assert r.status_code == 401 and error_code(r) == "unauthorized"


def test_websocket_refusals_use_the_http_codes(api: Api, server: LiveServer) -> None:
    aid = api.sell("seller", "english", duration=120, signed_bids=True)["id"]
    before = state_of(api, aid)

    async def scenario() -> None:
        async with websockets.connect(server.ws_url) as ws:
            await ws.send(json.dumps({"op": "auth", "token": "nope"}))
            err, _ = await ws_until(ws, lambda m: m["type"] == "error")
            assert err["error"]["code"] == "unauthorized"
        async with websockets.connect(server.ws_url) as ws:
            await ws_auth(ws, api.tokens["bo"])
            body = api.signed("bo", aid, 200, ts=time.time() - 3600)
            await ws.send(json.dumps({"op": "bid", "id": 1, "auction": aid, **body}))
            err, _ = await ws_until(ws, lambda m: m["type"] == "error")
            assert err["error"]["code"] == "stale_timestamp"
            await ws.send(json.dumps({"op": "bid", "id": 2, "auction": aid, "amount": 200}))
            err, _ = await ws_until(ws, lambda m: m["type"] == "error")
            assert err["error"]["code"] == "signature_required"
            await ws.send(json.dumps({"op": "bid", "id": 3, "auction": aid, "amount": "200"}))
            err, _ = await ws_until(ws, lambda m: m["type"] == "error")
            assert (err["id"], err["error"]["code"]) == (3, "invalid_request")

    asyncio.run(scenario())
    assert state_of(api, aid) == before


def test_floods_get_429_with_retry_after(tmp_path: Path) -> None:
    with (
        # Buckets that barely refill (one token a minute): how fast a loaded machine runs the
        # loops below cannot matter (at 2 and 20 a second it let every request through).
        live_server(
            tmp_path,
            account_rate=1 / 60,
            account_burst=5.0,
            address_rate=1 / 60,
            address_burst=40.0,
        ) as server,
        http_helpers.client(base_url=server.url, timeout=10) as client,
    ):
        api = Api(client)
        api.account("seller")
        api.account("ann")
        aid = api.sell("seller", "english", duration=120)["id"]
        # Per account: a burst of 5 bids, then 429 (and the refused bids are not recorded).
        codes = [api.bid("ann", aid, 10 + i).status_code for i in range(10)]
        accepted = codes.count(201)
        assert 1 <= accepted < 10 and 429 in codes, codes
        r = api.bid("ann", aid, 1000)
        assert r.status_code == 429 and error_code(r) == "rate_limited"
        assert int(r.headers["Retry-After"]) >= 1 and r.json()["error"]["retry_after"] > 0
        bids = [e for e in api.events(aid) if e["type"] == "BidPlaced"]
        assert len(bids) == accepted
        # Per address: anything from one address beyond its burst.
        responses = [client.get("/api/v1/time") for _ in range(60)]
        refused = [r for r in responses if r.status_code == 429]
        assert refused, [r.status_code for r in responses]
        limited = refused[-1]
        assert limited.status_code == 429 and "Retry-After" in limited.headers
