"""The app in-process on a FakeClock (httpx's ASGI transport, lifespan run by hand): house time,
back-pressure (503 overloaded), admin actions and stats, metrics, and the private "you" view."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from server_helpers import PASSWORD, inprocess_app

import http_helpers
from auctionhouse.house import FakeClock

T0 = 1_000_000.0


@asynccontextmanager
async def running(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with http_helpers.async_client(
            transport=transport, base_url="http://house"
        ) as client:
            yield client


async def account(client: httpx.AsyncClient, name: str) -> dict[str, str]:
    r = await client.post("/api/v1/accounts", json={"name": name, "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = await client.post("/api/v1/sessions", json={"name": name, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['token']}"}


def run(
    tmp_path: Path,
    scenario: Callable[[httpx.AsyncClient, FakeClock], Awaitable[None]],
    **house: Any,
) -> None:
    clock = FakeClock(T0)

    async def main() -> None:
        async with running(inprocess_app(tmp_path, clock, **house)) as client:
            await scenario(client, clock)

    asyncio.run(main())


def test_house_time_and_deadlines_follow_the_injected_clock(tmp_path: Path) -> None:
    async def scenario(client: httpx.AsyncClient, clock: FakeClock) -> None:
        assert (await client.get("/api/v1/time")).json() == {"now": T0}
        seller = await account(client, "seller")
        bidder = await account(client, "ann")
        r = await client.post(
            "/api/v1/auctions",
            json={"item": {"name": "clock"}, "method": "english", "rules": {"duration": 60}},
            headers=seller,
        )
        aid = r.json()["id"]
        assert r.json()["closes_at"] == T0 + 60
        assert (
            await client.post(f"/api/v1/auctions/{aid}/bids", json={"amount": 5}, headers=bidder)
        ).status_code == 201
        clock.advance(61)
        r = await client.post(f"/api/v1/auctions/{aid}/bids", json={"amount": 9}, headers=bidder)
        assert r.status_code == 409 and r.json()["error"]["code"] == "auction_closed"
        view = (await client.get(f"/api/v1/auctions/{aid}")).json()
        assert view["result"]["outcome"] == "sold" and view["result"]["price"] == 5

    run(tmp_path, scenario)


def test_a_full_queue_answers_503_overloaded(tmp_path: Path) -> None:
    async def scenario(client: httpx.AsyncClient, clock: FakeClock) -> None:
        seller = await account(client, "seller")
        bidder = await account(client, "ann")
        r = await client.post(
            "/api/v1/auctions",
            json={"item": {"name": "x"}, "method": "english", "rules": {"duration": 60}},
            headers=seller,
        )
        aid = r.json()["id"]
        answers = await asyncio.gather(
            *(
                client.post(f"/api/v1/auctions/{aid}/bids", json={"amount": 10 + i}, headers=bidder)
                for i in range(40)
            )
        )
        codes = [a.status_code for a in answers]
        assert 503 in codes and 201 in codes, codes
        busy = next(a for a in answers if a.status_code == 503)
        assert busy.json()["error"]["code"] == "overloaded" and busy.headers["Retry-After"] == "1"
        events = (await client.get(f"/api/v1/auctions/{aid}/events")).json()["events"]
        assert len([e for e in events if e["type"] == "BidPlaced"]) <= codes.count(201)

    run(tmp_path, scenario, max_pending=2)


def test_admin_pause_resume_stats_and_metrics(tmp_path: Path) -> None:
    db = tmp_path / "house.db"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "auctionhouse",
            "admin",
            "create",
            "root",
            "--db",
            str(db),
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
        env={
            "AUCTIONHOUSE_HOUSE_ARGON2_TIME_COST": "1",
            "AUCTIONHOUSE_HOUSE_ARGON2_MEMORY_KIB": "1024",
            "PATH": "",
        },
    )

    async def scenario(client: httpx.AsyncClient, clock: FakeClock) -> None:
        r = await client.post("/api/v1/sessions", json={"name": "root", "password": PASSWORD})
        admin = {"Authorization": f"Bearer {r.json()['token']}"}
        assert r.json()["account"]["role"] == "admin"
        seller = await account(client, "seller")
        bidder = await account(client, "ann")
        r = await client.post(
            "/api/v1/auctions",
            json={
                "item": {"name": "x"},
                "method": "english",
                "rules": {"duration": 60, "reserve_price": 500},
            },
            headers=seller,
        )
        aid = r.json()["id"]
        r = await client.post(f"/api/v1/auctions/{aid}/pause", headers=admin)
        assert r.status_code == 200 and r.json()["state"] == "paused"
        r = await client.post(f"/api/v1/auctions/{aid}/bids", json={"amount": 10}, headers=bidder)
        assert r.json()["error"]["code"] == "auction_paused"
        clock.advance(100)  # paused time does not count
        r = await client.post(f"/api/v1/auctions/{aid}/resume", headers=admin)
        assert r.status_code == 200 and r.json()["state"] == "open"
        assert r.json()["closes_at"] == T0 + 160
        r = await client.post(f"/api/v1/auctions/{aid}/bids", json={"amount": 10}, headers=bidder)
        assert r.status_code == 201
        r = await client.post(f"/api/v1/auctions/{aid}/bids", json={"amount": 10}, headers=bidder)
        assert r.status_code == 409

        r = await client.post(
            f"/api/v1/auctions/{aid}/bids", json={"amount": "ten"}, headers=bidder
        )
        assert r.status_code == 400
        r = await client.post(f"/api/v1/auctions/{aid}/bids", json={"amount": 99})
        assert r.status_code == 401

        stats = (await client.get("/api/v1/admin/stats", headers=admin)).json()
        assert stats["open_auctions"] == 1 and stats["queue_depth"] == 0
        assert stats["rejected"] == {
            "auction_paused": 1,
            "bid_too_low": 1,
            "invalid_request": 1,
            "unauthorized": 1,
        }
        assert set(stats) >= {"bids_per_second", "connections", "rejected", "queue_depth"}

        text = (await client.get("/metrics")).text
        assert 'auctionhouse_bids_total{result="accepted"} 1.0' in text
        assert 'auctionhouse_bids_total{result="bid_too_low"} 1.0' in text
        assert 'auctionhouse_bid_seconds_count{transport="http"} 3.0' in text
        assert 'auctionhouse_auctions{state="open"} 1.0' in text

        # The private view: a seller sees its reserve, a bidder its bids, the public neither.
        mine = (await client.get(f"/api/v1/auctions/{aid}", headers=seller)).json()
        assert mine["you"]["reserve_price"] == 500
        theirs = (await client.get(f"/api/v1/auctions/{aid}", headers=bidder)).json()
        assert theirs["you"]["bids"] == [10] and "reserve_price" not in theirs["you"]
        public = (await client.get(f"/api/v1/auctions/{aid}")).json()
        assert "you" not in public and "500" not in str(public)

    run(tmp_path, scenario)


def test_account_names_over_http_are_matched_in_full_and_normalised(tmp_path: Path) -> None:
    async def scenario(client: httpx.AsyncClient, clock: FakeClock) -> None:
        await account(client, "alice")
        for name in ("alice\n", "alice\u200b", "al ice", "alice\x1b[0m"):
            r = await client.post("/api/v1/accounts", json={"name": name, "password": PASSWORD})
            assert r.status_code == 400, (name, r.text)
            assert r.json()["error"]["code"] == "invalid_request"
        r = await client.post("/api/v1/accounts", json={"name": "ＡＬＩＣＥ", "password": PASSWORD})
        assert r.status_code == 409
        r = await client.post("/api/v1/sessions", json={"name": "Alice", "password": PASSWORD})
        assert r.status_code == 201
        me = await client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {r.json()['token']}"}
        )
        assert me.json()["id"] == "alice"

    run(tmp_path, scenario)


def test_rules_over_http_no_reserve_spelled_0_field_named_and_no_open_past_due(
    tmp_path: Path,
) -> None:
    """Issue 9, fault 5 over HTTP: ``reserve_price: 0`` is "no reserve" for the model and the
    rules alike; an impossible rule is ``invalid_rules`` naming its ``field``; an auction past its
    due close never reads "open", in a view or a list, before the house records the close."""

    async def scenario(client: httpx.AsyncClient, clock: FakeClock) -> None:
        seller = await account(client, "seller")

        async def sell(method: str, **rules: Any) -> httpx.Response:
            body = {"item": {"name": "lamp"}, "method": method, "rules": rules}
            return await client.post("/api/v1/auctions", json=body, headers=seller)

        r = await sell("english", duration=60, reserve_price=0)
        assert r.status_code == 201, r.text
        assert r.json()["rules"]["has_reserve"] is False and r.json()["reserve_met"] is None
        aid = r.json()["id"]
        for method, rules, field in (
            ("english", {"opens_at": T0 - 86_400, "closes_at": T0 - 3_600}, "closes_at"),
            ("dutch", {"starting_price": 10, "decrement": 1, "tick_seconds": 0.001}, "tick_seconds"),
            ("vickrey", {"expected_bids": 2, "min_bidders": 3}, "expected_bids"),
            ("english", {"duration": 60, "soft_close": {"window": 9, "extension": 1, "cap": 2}},
             "soft_close.cap"),
        ):  # fmt: skip
            r = await sell(method, **rules)
            assert r.status_code == 400, r.text
            error = r.json()["error"]
            assert (error["code"], error["field"]) == ("invalid_rules", field), error
        clock.advance(60.5)  # due, not yet closed by the house's timer (or not yet seen)
        view = (await client.get(f"/api/v1/auctions/{aid}")).json()
        assert view["state"] == "closed" and view["result"]["outcome"] == "no_bids"
        assert view["price"] is None and view["close_due_at"] is None
        listed = (await client.get("/api/v1/auctions", params={"state": "open"})).json()
        assert listed["auctions"] == [] and listed["total"] == 0

    run(tmp_path, scenario)


def test_a_yen_house_says_its_currency_and_every_bid_is_a_maximum(tmp_path: Path) -> None:
    """A house in JPY whose English auctions take every bid as a maximum (house settings):
    ``GET /house`` says so, views carry the currency, rules record it, refusals show yen."""

    async def scenario(client: httpx.AsyncClient, clock: FakeClock) -> None:
        info = (await client.get("/api/v1/house")).json()
        assert info == {
            "currency": "JPY",
            "currency_digits": 0,
            "locale": "ja_JP",
            "bids_are_maxima": True,
            "now": T0,
        }
        seller = await account(client, "seller")
        ann, bob = await account(client, "ann"), await account(client, "bob")

        async def sell(method: str, rules: dict[str, Any]) -> Any:
            body = {"item": {"name": "tea bowl"}, "method": method, "rules": rules}
            return await client.post("/api/v1/auctions", json=body, headers=seller)

        r = await sell("english", {"duration": 60, "starting_price": 1000, "min_increment": 100})
        view = r.json()
        assert view["currency"] == "JPY" and view["rules"]["currency"] == "JPY"
        assert view["rules"]["bids_are_maxima"] is True  # the house default, recorded
        aid = view["id"]
        r = await client.post(f"/api/v1/auctions/{aid}/bids", json={"amount": 5000}, headers=ann)
        assert r.json()["price"] == 1000  # a maximum: the house bids the least needed
        r = await client.post(f"/api/v1/auctions/{aid}/bids", json={"amount": 1050}, headers=bob)
        error = r.json()["error"]
        assert error["code"] == "bid_too_low" and error["minimum"] == 1100
        assert error["message"] == "the next bid must be at least ￥1,100"
        dutch = (await sell("dutch", {"starting_price": 900, "decrement": 10})).json()
        assert "bids_are_maxima" not in dutch["rules"]  # an English rule only
        plain = (await sell("english", {"duration": 60, "bids_are_maxima": False})).json()
        assert plain["rules"]["bids_are_maxima"] is False  # the seller's choice stands
        r = await sell("english", {"duration": 60, "currency": "EUR"})
        error = r.json()["error"]
        assert (error["code"], error["field"]) == ("invalid_rules", "currency")
        r = await sell("english", {"duration": 60, "increment_table": [{"increment": 0}]})
        error = r.json()["error"]
        assert (error["code"], error["field"]) == ("invalid_rules", "increment_table")

    run(tmp_path, scenario, currency="JPY", locale="ja_JP", bids_are_maxima=True)
