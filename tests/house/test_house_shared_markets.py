"""Markets on the shared house (house/shared_markets.py): two ``SharedHouseService`` instances on
one real PostgreSQL database (started by the tests), one FakeClock. Traders on both instances
trade in one book with no order lost or doubled, calls and closes are made once whoever ticks,
every instance's market listeners see every event in order, nonces are spent across instances,
and a market or a key made on one instance is usable on the other at once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import psycopg
import pytest
from nacl.signing import SigningKey

from auctionhouse.auction.market import replay_market
from auctionhouse.auction.market_events import CallCleared, MarketClosed, Trade
from auctionhouse.errors import MarketClosedError, NotFound, ReplayedNonce
from auctionhouse.house import sign
from auctionhouse.house.markets import place_order_command
from auctionhouse.house.shared import SharedHouseService
from auctionhouse.house.signing import order_message
from auctionhouse.ledger import audit_database

from .test_house_shared import Cluster, run, until


class Trader:
    def __init__(self, cluster: Cluster, name: str) -> None:
        self.name, self.cluster = name, cluster
        self.key = SigningKey.generate()
        self.nonce = 0

    def order(
        self, market: str, side: str, price: int, quantity: int = 1, nonce: int | None = None
    ) -> Any:
        if nonce is None:
            self.nonce += 1
            nonce = self.nonce
        ts = self.cluster.clock.now()
        signature = sign(
            self.key, order_message(market, self.name, side, price, quantity, nonce, ts)
        )
        return place_order_command(
            self.name, market, side, price, quantity, nonce=nonce, ts=ts, signature=signature
        )


async def traders(cluster: Cluster, *names: str) -> list[Trader]:
    house = cluster.services[0].house
    made = []
    for name in names:
        trader = Trader(cluster, name)
        house.create_account(name, "password123", public_key=trader.key.verify_key.encode().hex())
        made.append(trader)
    return made


def market_log(cluster: Cluster) -> list[list[tuple[str, int, str]]]:
    """Per instance, what its market listeners were told (market, seq, event type)."""
    logs: list[list[tuple[str, int, str]]] = []
    for service in cluster.services:
        log: list[tuple[str, int, str]] = []
        service.house.markets.subscribe(
            lambda e, _s, log=log: log.append((e.market_id, e.seq, type(e).__name__))
        )
        logs.append(log)
    return logs


async def _traders_on_both_instances_share_one_book(cluster: Cluster) -> None:
    a, b = [await cluster.add() for _ in range(2)]
    logs = market_log(cluster)
    people = await traders(cluster, *(f"t{i}" for i in range(6)))
    created = await b.call(lambda h: h.markets.create_market("t0", "copper"))
    mid = created["id"]
    acks: list[dict[str, Any]] = []

    async def trade(service: SharedHouseService, trader: Trader, k: int) -> None:
        for step in range(15):
            side = "buy" if (k + step) % 2 else "sell"
            price = 100 + (step * 7 + k * 3) % 11
            acks.append(await service.call(trader.order(mid, side, price, 1 + step % 3)))

    await asyncio.gather(*(trade((a, b)[k % 2], t, k) for k, t in enumerate(people)))
    assert len(acks) == 90 and len({ack["order_id"] for ack in acks}) == 90
    last = max(ack["seq"] for ack in acks)
    for service in (a, b):
        await until(lambda s=service: s.house.markets.state(mid).seq == last)  # type: ignore[misc]
    assert a.house.markets.view(mid, 50) == b.house.markets.view(mid, 50)
    log = a.house.markets.log(mid)
    assert log == b.house.markets.log(mid)
    assert replay_market(log).snapshot() == a.house.markets.state(mid).snapshot()
    trades = [e for e in log if type(e) is Trade]
    assert trades and all(t.buyer != t.seller for t in trades)
    assert a.shared.absorbed > 0 and b.shared.absorbed > 0  # each applied the other's orders
    for seen in logs:  # every market listener, on both instances: every event once, in order
        await until(lambda seen=seen: len([1 for m, *_ in seen if m == mid]) == last)  # type: ignore[misc]
        assert [seq for m, seq, _ in seen if m == mid] == list(range(1, last + 1))
    await cluster.stop()
    report = audit_database(cluster.url, key_path=cluster.key)
    assert report.ok, report.findings[:3]


def test_traders_on_both_instances_share_one_book(tmp_path: Path) -> None:
    run(tmp_path, _traders_on_both_instances_share_one_book)


async def _calls_and_closes_are_made_once_whoever_ticks(cluster: Cluster) -> None:
    a, b = [await cluster.add() for _ in range(2)]
    ann, bob = await traders(cluster, "ann", "bob")
    call = await a.call(
        lambda h: h.markets.create_market("ann", "tin", "call", call_interval=10, duration=35)
    )
    cda = await b.call(lambda h: h.markets.create_market("bob", "lead", duration=35))
    for period in range(3):
        await a.call(ann.order(call["id"], "sell", 90 + period))
        await b.call(bob.order(call["id"], "buy", 110))
        await b.call(ann.order(cda["id"], "sell", 200 + period, 5))
        cluster.clock.advance(10)
        await asyncio.gather(*(s.call(lambda h: h.tick()) for s in (a, b, a, b)))
    cluster.clock.advance(6)
    await asyncio.gather(*(s.call(lambda h: h.tick()) for s in (a, b, b, a)))
    for service in (a, b):
        for mid in (call["id"], cda["id"]):
            await until(lambda s=service, m=mid: s.house.markets.state(m).closed)  # type: ignore[misc]
    log = b.house.markets.log(call["id"])
    # three periods and the close's last clearing, each once
    assert [e.period for e in log if type(e) is CallCleared] == [1, 2, 3, 4]  # type: ignore[attr-defined]
    assert sum(e.quantity for e in log if type(e) is Trade) == 3  # type: ignore[attr-defined]
    with psycopg.connect(cluster.url) as conn:
        closes = conn.execute(
            "SELECT auction_id, COUNT(*) FROM ledger_events WHERE body LIKE %s GROUP BY 1",
            (b'%"MarketClosed"%',),
        ).fetchall()
        seals = conn.execute("SELECT auction_id FROM ledger_seals ORDER BY 1").fetchall()
    assert sorted(closes) == sorted([(call["id"], 1), (cda["id"], 1)])
    assert sorted(s for (s,) in seals) == sorted([call["id"], cda["id"]])
    assert [type(e) for e in a.house.markets.log(cda["id"])][-1] is MarketClosed
    with pytest.raises(MarketClosedError):  # closed on the other instance: closed here
        await a.call(bob.order(cda["id"], "buy", 300))


def test_calls_and_closes_are_made_once_whoever_ticks(tmp_path: Path) -> None:
    run(tmp_path, _calls_and_closes_are_made_once_whoever_ticks)


async def _nonces_markets_and_keys_hold_on_every_instance(cluster: Cluster) -> None:
    a, b = [await cluster.add() for _ in range(2)]
    (ann,) = await traders(cluster, "ann")
    for _ in range(3):  # read-your-writes behind a proxy: no wait for the notification
        mid = (await a.call(lambda h: h.markets.create_market("ann", "zinc")))["id"]
        assert b.house.markets.view(mid)["id"] == mid
    with pytest.raises(NotFound):
        b.house.markets.view("m999")
    first = await a.call(ann.order(mid, "sell", 50, nonce=5))
    resent = await b.call(ann.order(mid, "sell", 50, nonce=5))  # the same bytes, to b
    assert resent["resent"] and resent["order_id"] == first["order_id"]
    assert b.house.markets.state(mid).seq == first["seq"]  # nothing placed twice
    with pytest.raises(ReplayedNonce):  # another order with the spent nonce, on b
        await b.call(ann.order(mid, "sell", 51, nonce=5))
    with pytest.raises(ReplayedNonce):  # and a bid: one sequence per account, bids and orders
        a.house.create_account("seller", "password123")
        aid = (await b.call(lambda h: h.create_auction("seller", "lamp", "english", {})))["id"]
        from auctionhouse.house import bid_message

        now = cluster.clock.now()
        sig = sign(ann.key, bid_message(aid, "ann", 20, 5, now))
        await b.call(lambda h: h.place_bid("ann", aid, 20, nonce=5, ts=now, signature=sig))
    # a key registered on a: b's cached copy (no key) is read again, not trusted
    assert b.house.accounts.get("seller").public_key is None
    key = SigningKey.generate()
    a.house.register_key("seller", key.verify_key.encode().hex())
    ts = cluster.clock.now()
    sig = sign(key, order_message(mid, "seller", "buy", 50, 1, 1, ts))
    ack = await b.call(
        place_order_command("seller", mid, "buy", 50, 1, nonce=1, ts=ts, signature=sig)
    )
    assert ack["trades"][0]["seller"] == "ann" and ack["trades"][0]["buyer"] == "seller"


def test_nonces_markets_and_keys_hold_on_every_instance(tmp_path: Path) -> None:
    run(tmp_path, _nonces_markets_and_keys_hold_on_every_instance)
