"""Finding auctions and their photos over the real API: search, sort, filters, photo upload and
download, and the WebSocket's "created" subscription the list page follows new auctions by."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets
from PIL import Image
from server_helpers import Api, LiveServer, error_code, live_server, ws_until

import http_helpers

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("find")) as srv:
        yield srv


@pytest.fixture
def api(server: LiveServer) -> Iterator[Api]:
    with http_helpers.client(base_url=server.url, timeout=10) as client:
        yield Api(client)


def png(size: tuple[int, int] = (30, 20)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


def sell(api: Api, seller: str, item: str, description: str = "", **rules: object) -> str:
    r = api.client.post(
        "/api/v1/auctions",
        json={
            "item": {"name": item, "description": description},
            "method": "english",
            "rules": {"duration": 600, **rules},
        },
        headers=api.auth(seller),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_search_sort_and_filters(api: Api) -> None:
    api.account("finder")
    lamp = sell(api, "finder", "Zeppelin brass lamp", "works", starting_price=300)
    chair = sell(api, "finder", "Zeppelin chair", "oak, with a brass plate", starting_price=100)
    sell(api, "finder", "Teapot", "porcelain")
    found = api.client.get("/api/v1/auctions", params={"q": "zeppelin brass"}).json()
    assert [a["id"] for a in found["auctions"]] == [chair, lamp] and found["total"] == 2
    cheap = api.client.get("/api/v1/auctions", params={"q": "zeppelin", "sort": "price_low"})
    assert [a["id"] for a in cheap.json()["auctions"]] == [chair, lamp]
    dear = api.client.get("/api/v1/auctions", params={"q": "zeppelin", "sort": "price_high"})
    assert [a["id"] for a in dear.json()["auctions"]] == [lamp, chair]
    mine = api.client.get(
        "/api/v1/auctions",
        params={"q": "zepp", "seller": "finder", "method": "english", "state": "open"},
    )
    assert mine.json()["total"] == 2
    assert api.client.get("/api/v1/auctions", params={"q": "!!"}).json()["total"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "cheapest"},
        {"state": "done"},
        {"method": "silent"},
        {"q": "x" * 201},
        {"limit": "many"},
    ],
)
def test_bad_list_parameters_are_400_invalid_request(api: Api, params: dict[str, str]) -> None:
    r = api.client.get("/api/v1/auctions", params=params)
    assert r.status_code == 400 and error_code(r) == "invalid_request", r.text


def test_photos_upload_show_and_refuse(api: Api) -> None:
    api.account("snapper")
    auth = api.auth("snapper")
    assert api.client.post("/api/v1/photos", content=png()).status_code == 401
    r = api.client.post("/api/v1/photos", content=png(), headers=auth)
    assert r.status_code == 201, r.text
    digest = r.json()["photo"]
    assert r.json()["type"] == "image/png" and (r.json()["width"], r.json()["height"]) == (30, 20)
    r = api.client.post(
        "/api/v1/auctions",
        json={"item": {"name": "Painted sign", "photos": [digest]}, "method": "english"},
        headers=auth,
    )
    assert r.status_code == 201 and r.json()["item"]["photos"] == [digest]
    listed = api.client.get("/api/v1/auctions", params={"q": "painted sign"}).json()
    assert listed["auctions"][0]["item"]["photos"] == [digest]
    full = api.client.get(f"/api/v1/photos/{digest}")
    assert full.status_code == 200 and full.headers["content-type"] == "image/png"
    assert "immutable" in full.headers["cache-control"]
    thumb = api.client.get(f"/api/v1/photos/{digest}", params={"thumbnail": "true"})
    assert thumb.headers["content-type"] == "image/webp"
    assert api.client.get(f"/api/v1/photos/{'0' * 64}").status_code == 404
    assert api.client.get("/api/v1/photos/..%2F..%2Fhouse.db").status_code in (400, 404)
    bad = api.client.post("/api/v1/photos", content=b"GIF89a not really", headers=auth)
    assert bad.status_code == 400 and error_code(bad) == "invalid_photo"
    huge = api.client.post("/api/v1/photos", content=b"\0" * (5 * 1024 * 1024 + 1), headers=auth)
    assert huge.status_code == 413 and error_code(huge) == "photo_too_large"
    unknown = api.client.post(
        "/api/v1/auctions",
        json={"item": {"name": "x", "photos": ["ab" * 32]}, "method": "english"},
        headers=auth,
    )
    assert unknown.status_code == 400 and "not uploaded" in unknown.text


def test_created_subscription_tells_of_new_auctions_only(api: Api, server: LiveServer) -> None:
    """The list page's feed: every new auction's AuctionCreated, and nothing else of it unless
    the page subscribes to that auction by id."""
    api.account("newseller")
    api.account("newbidder")
    old = sell(api, "newseller", "Old lot")

    async def scenario() -> None:
        async with websockets.connect(server.ws_url) as page:
            await page.send(json.dumps({"op": "subscribe", "created": True, "id": 1}))
            reply, _ = await ws_until(page, lambda m: m.get("id") == 1)
            assert reply == {"type": "subscribed", "created": True, "id": 1}
            await asyncio.to_thread(api.bid, "newbidder", old, 10)  # not followed: not sent
            fresh = await asyncio.to_thread(sell, api, "newseller", "New lot", "with a story")
            created, before = await ws_until(page, lambda m: m.get("type") == "event")
            assert before == []
            assert created["auction"] == fresh and created["event"]["type"] == "AuctionCreated"
            assert created["event"]["item"]["description"] == "with a story"
            await asyncio.to_thread(api.bid, "newbidder", fresh, 10)  # not followed either
            await page.send(json.dumps({"op": "subscribe", "auctions": [fresh], "id": 2}))
            snapshot, _ = await ws_until(page, lambda m: m.get("type") == "snapshot")
            assert snapshot["auction"] == fresh and snapshot["view"]["bid_count"] == 1
            await page.send(json.dumps({"op": "unsubscribe", "created": True, "id": 3}))
            await ws_until(page, lambda m: m.get("id") == 3)
            await asyncio.to_thread(sell, api, "newseller", "Unseen lot")
            await asyncio.to_thread(api.bid, "newbidder", fresh, 20)
            event, skipped = await ws_until(page, lambda m: m.get("type") == "event")
            assert event["auction"] == fresh and event["event"]["type"] == "BidPlaced"
            assert all(m.get("auction") != old for m in skipped)
            await page.send(json.dumps({"op": "subscribe", "created": "yes", "id": 4}))
            error, _ = await ws_until(page, lambda m: m.get("id") == 4)
            assert error["type"] == "error" and error["error"]["code"] == "invalid_request"

    asyncio.run(scenario())


def test_the_photo_directory_sits_beside_the_ledger(server: LiveServer) -> None:
    photos = Path(f"{server.db}.photos")
    assert photos.is_dir() and any(photos.glob("*.png"))
