"""Markets in the house (house/markets.py): signed orders and cancels on a real SQLite ledger,
refusals that change nothing, call-market timers, replay after a crash, and the audit."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from auctionhouse.auction.market import replay_market
from auctionhouse.client.keys import BidKey
from auctionhouse.errors import (
    AuctionhouseError,
    BadSignature,
    InvalidOrder,
    MarketClosedError,
    NotFound,
    NotYourOrder,
    ReplayedNonce,
    SignatureRequired,
    StaleTimestamp,
)
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig
from auctionhouse.house.signing import cancel_message, order_message, sign
from auctionhouse.ledger import audit_database

CFG = HouseConfig.for_tests(account_rate=1e9, account_burst=1e9)
TRADERS = ("ann", "bob", "cat", "dan")


class Trader:
    """One account with a key, signing orders as the SDK does."""

    def __init__(self, house: AuctionHouse, name: str) -> None:
        self.house = house
        self.key = BidKey.generate()
        self.id = house.create_account(name, "correct horse", public_key=self.key.public_key).id
        self.nonce = 0

    def order(self, market: str, side: str, price: int, qty: int, **over: object) -> dict:
        self.nonce += 1
        nonce = over.pop("nonce", self.nonce)
        ts = over.pop("ts", self.house.clock.now())
        message = order_message(market, self.id, side, price, qty, nonce, ts)  # type: ignore[arg-type]
        signature = over.pop("signature", sign(self.key.signing_key, message))
        return self.house.markets.place_order(
            self.id,
            market,
            side,
            price,
            qty,
            nonce=nonce,
            ts=ts,
            signature=signature,  # type: ignore[arg-type]
        )

    def cancel(self, market: str, order_id: int) -> dict:
        self.nonce += 1
        ts = self.house.clock.now()
        message = cancel_message(market, self.id, order_id, self.nonce, ts)
        return self.house.markets.cancel_order(
            self.id,
            market,
            order_id,
            nonce=self.nonce,
            ts=ts,
            signature=sign(self.key.signing_key, message),
        )


def _rows(house: AuctionHouse) -> int:
    return house.ledger.store.count()


@pytest.fixture
def setup(tmp_path: Path, clock: FakeClock) -> tuple[AuctionHouse, dict[str, Trader], Path]:
    db = tmp_path / "h.db"
    house = AuctionHouse.open(db, config=CFG, clock=clock)
    traders = {name: Trader(house, name) for name in TRADERS}
    return house, traders, db


def test_signed_orders_trade_durably_and_replay_rebuilds_the_book(
    setup: tuple[AuctionHouse, dict[str, Trader], Path], clock: FakeClock, tmp_path: Path
) -> None:
    house, t, db = setup
    market = house.markets.create_market("ann", "widgets")["id"]
    assert market == "m1"
    t["bob"].order(market, "sell", 101, 2)
    t["cat"].order(market, "sell", 100, 3)
    ack = t["dan"].order(market, "buy", 102, 4)
    assert [(x["seller"], x["price"], x["quantity"]) for x in ack["trades"]] == [
        ("cat", 100, 3),
        ("bob", 101, 1),
    ]
    assert ack["remaining"] == 0 and ack["book"] == {
        "best_bid": None,
        "best_ask": 101,
        "last_price": 101,
    }
    rng = random.Random(3)
    for _ in range(200):
        clock.advance(0.1)
        trader = t[rng.choice(TRADERS)]
        side = rng.choice(["buy", "sell"])
        trader.order(market, side, rng.randint(95, 105), rng.randint(1, 4))
        mine = house.markets.my_orders(market, trader.id)
        if mine and rng.random() < 0.2:
            trader.cancel(market, mine[0]["order_id"])
    live = house.markets.state(market).snapshot()
    assert house.markets.view(market)["trades"] > 20
    log = house.markets.log(market)
    assert replay_market(house.ledger.events_for(market)).snapshot() == live  # type: ignore[arg-type, union-attr]
    assert len(log) == _rows(house)  # every event of this house is the market's
    house.ledger.close()  # no clean shutdown: as after a crash
    again = AuctionHouse.open(db, config=CFG, clock=clock)
    assert again.markets.state(market).snapshot() == live
    assert again.markets.trades(market, 0, 5) == house.markets.trades(market, 0, 5)
    # the spent nonces came back with the replay: an old nonce is refused
    with pytest.raises(ReplayedNonce):
        Trader.order(_as(t["ann"], again), market, "buy", 99, 1, nonce=1)
    again.close()
    report = audit_database(db)
    assert report.ok, report.findings
    assert report.auctions == 1 and report.events == len(log)


def _as(trader: Trader, house: AuctionHouse) -> Trader:
    trader.house = house
    return trader


def test_bad_orders_are_refused_with_their_codes_and_change_nothing(
    setup: tuple[AuctionHouse, dict[str, Trader], Path], clock: FakeClock
) -> None:
    house, t, _db = setup
    market = house.markets.create_market("ann", "widgets", max_price=1000, max_quantity=10)["id"]
    placed = t["bob"].order(market, "sell", 500, 2)
    other_key = BidKey.generate()
    before = (_rows(house), house.markets.state(market).snapshot())
    bad: list[tuple[dict, type[AuctionhouseError]]] = [
        ({"price": 0}, InvalidOrder),
        ({"price": -3}, InvalidOrder),
        ({"price": 1001}, InvalidOrder),
        ({"qty": 0}, InvalidOrder),
        ({"qty": -1}, InvalidOrder),
        ({"qty": 11}, InvalidOrder),
        ({"side": "hold"}, InvalidOrder),
        ({"signature": "00" * 64}, BadSignature),
        ({"signature": sign(other_key.signing_key, b"x")}, BadSignature),
        ({"signature": None}, SignatureRequired),
        ({"nonce": 0}, ReplayedNonce),
        ({"ts": clock.now() - 3600}, StaleTimestamp),
    ]
    for change, error in bad:
        args = {"side": "buy", "price": 500, "qty": 1, **change}
        side, price, qty = args.pop("side"), args.pop("price"), args.pop("qty")
        with pytest.raises(error) as caught:
            t["cat"].order(market, side, price, qty, **args)
        assert caught.value.code == error.code
        assert (_rows(house), house.markets.state(market).snapshot()) == before
    with pytest.raises(NotYourOrder):
        t["cat"].cancel(market, placed["order_id"])
    with pytest.raises(NotFound):
        t["bob"].cancel(market, 999)
    with pytest.raises(NotFound):
        t["cat"].order("m99", "buy", 5, 1)
    assert (_rows(house), house.markets.state(market).snapshot()) == before
    house.markets.close_market("ann", market, "end of day")
    with pytest.raises(MarketClosedError):
        t["cat"].order(market, "buy", 500, 1)
    with pytest.raises(MarketClosedError):
        t["bob"].cancel(market, placed["order_id"])
    assert house.ledger.is_sealed(market)  # a closed market's chain is sealed like an auction's


def test_a_call_market_clears_on_the_house_timer_and_closes_at_its_time(
    setup: tuple[AuctionHouse, dict[str, Trader], Path], clock: FakeClock
) -> None:
    house, t, db = setup
    view = house.markets.create_market("ann", "calls", "call", call_interval=10, duration=25)
    market = view["id"]
    t["ann"].order(market, "buy", 10, 5)
    t["bob"].order(market, "buy", 9, 5)
    t["cat"].order(market, "sell", 8, 3)
    t["dan"].order(market, "sell", 11, 4)
    assert house.markets.view(market)["trades"] == 0
    assert house.next_wakeup() == pytest.approx(view["created_at"] + 10)
    clock.advance(10)
    events = house.tick()
    assert [type(e).__name__ for e in events] == ["CallCleared", "Trade"]
    assert house.markets.trades(market) == [
        {
            "type": "Trade",
            "seq": 7,
            "at": clock.now(),
            "trade_id": 1,
            "buy_order": 1,
            "sell_order": 3,
            "buyer": "ann",
            "seller": "cat",
            "price": 9,
            "quantity": 3,
            "aggressor": None,
        }
    ]
    clock.advance(20)  # past the second call (20) and the close (25): both recorded
    house.tick()
    view = house.markets.view(market)
    assert view["state"] == "closed" and view["book"] == {
        "bids": [],
        "asks": [],
        "seq": view["seq"],
    }
    house.close()
    assert audit_database(db).ok


def test_the_audit_names_an_edited_or_deleted_trade(
    setup: tuple[AuctionHouse, dict[str, Trader], Path],
) -> None:
    house, t, db = setup
    market = house.markets.create_market("ann", "widgets")["id"]
    t["bob"].order(market, "sell", 100, 2)
    ack = t["cat"].order(market, "buy", 100, 2)  # seq 3 placed, seq 4 the trade
    assert ack["seq"] == 4
    t["dan"].order(market, "buy", 90, 1)
    house.close()
    assert audit_database(db).ok
    with sqlite3.connect(db) as sql:
        body = sql.execute(
            "SELECT body FROM ledger_events WHERE auction_id = ? AND seq = 4", (market,)
        ).fetchone()[0]
        forged = bytes(body).replace(b'"price":100', b'"price":1')
        assert forged != bytes(body)
        sql.execute(
            "UPDATE ledger_events SET body = ? WHERE auction_id = ? AND seq = 4", (forged, market)
        )
    report = audit_database(db)
    assert not report.ok and report.tampered() == {market: [4]}
    with sqlite3.connect(db) as sql:
        sql.execute("DELETE FROM ledger_events WHERE auction_id = ? AND seq = 4", (market,))
    report = audit_database(db)
    assert not report.ok and 4 in report.tampered()[market]


def test_a_byte_identical_resend_gets_the_first_answer_and_places_nothing(
    setup: tuple[AuctionHouse, dict[str, Trader], Path], clock: FakeClock
) -> None:
    house, t, db = setup
    market = house.markets.create_market("ann", "widgets")["id"]
    bob, cat = t["bob"], t["cat"]
    bob.order(market, "sell", 100, 2)
    ts = clock.now()

    def send(nonce: int, side: str, price: int, qty: int) -> dict:
        message = order_message(market, cat.id, side, price, qty, nonce, ts)
        return house.markets.place_order(
            cat.id,
            market,
            side,
            price,
            qty,
            nonce=nonce,
            ts=ts,
            signature=sign(cat.key.signing_key, message),
        )

    first = send(50, "buy", 101, 3)  # trades 2 at 100, rests 1
    assert [x["quantity"] for x in first["trades"]] == [2] and first["remaining"] == 1
    bob.order(market, "sell", 101, 1)  # fills cat's rest meanwhile
    events = house.ledger.store.count()
    strikes = house.accounts.get(cat.id).strikes
    again = send(50, "buy", 101, 3)
    assert again.pop("resent") is True
    assert {k: v for k, v in again.items() if k != "book"} == {
        k: v for k, v in first.items() if k != "book"
    }
    assert house.ledger.store.count() == events  # no second order
    with pytest.raises(ReplayedNonce):  # the same nonce on another order is a replay
        send(50, "buy", 101, 4)
    # a refused order (the signature held) is refused again the same way, with no strike
    with pytest.raises(InvalidOrder):
        send(60, "buy", 0, 1)
    with pytest.raises(InvalidOrder):
        send(60, "buy", 0, 1)
    assert house.accounts.get(cat.id).strikes == strikes + 1  # only the replay above
    assert house.ledger.store.count() == events
    # after a restart the accepted order's resend is still recognised (rebuilt from the log)
    house.ledger.close()
    reopened = AuctionHouse.open(db, config=CFG, clock=clock)
    house = _as(cat, reopened).house
    resent = send(50, "buy", 101, 3)
    assert resent["order_id"] == first["order_id"] and resent["resent"] is True
    assert reopened.ledger.store.count() == events
    reopened.close()
