"""Registered traders as live agents on a real house process: they trade in a CDA over the SDK,
no trader trades past its limit, the book's trades match what the traders booked, and the ledger
passes the audit afterwards."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from auctionhouse.agents.live_traders import TraderSpec, max_surplus, run_traders
from auctionhouse.client import Client
from auctionhouse.client.keys import BidKey
from auctionhouse.ledger import audit_database
from serve_process import ServeProcess

pytestmark = pytest.mark.e2e
PASSWORD = "live traders password"

# Smith-style schedules (minor units): buyers' values and sellers' costs, 2 units each; the
# competitive equilibrium trades 6 units at a price from 96 to 104, for a surplus of 300.
BUYERS = [(140, "zic"), (125, "zip"), (110, "gvwy"), (95, "shvr"), (80, "snpr")]
SELLERS = [(60, "zic"), (75, "zip"), (90, "gvwy"), (105, "shvr"), (120, "zic")]
SPECS = [TraderSpec(f"lt-b{i}-{s}", s, "buy", v, units=2) for i, (v, s) in enumerate(BUYERS)] + [
    TraderSpec(f"lt-s{i}-{s}", s, "sell", c, units=2) for i, (c, s) in enumerate(SELLERS)
]


def test_registered_traders_trade_live_in_a_cda_and_the_trades_pass_the_audit(
    tmp_path: Path,
) -> None:
    house = ServeProcess(tmp_path / "house.db", tmp_path / "serve.log")
    house.start()
    try:
        owner = Client(house.url, key=BidKey.generate())
        owner.create_account("lt-owner", PASSWORD)
        owner.login("lt-owner", PASSWORD)
        market = owner.create_market("live CDA", max_price=200)["id"]
        with ThreadPoolExecutor(1) as pool:  # a loop of its own (the test may run in one)
            report = pool.submit(
                asyncio.run,
                run_traders(
                    house.url, market, SPECS, password=PASSWORD, run_for=8.0, period=0.15, seed=3
                ),
            ).result(timeout=120)
        trades = owner.trades(market, 0, 1000)["trades"]
        owner.close()
    finally:
        house.stop()
    assert report.trades == len(trades) > 0
    by_name = {t.name: t for t in report.traders}
    spec_of = {s.name: s for s in SPECS}
    # Every trade is between two of our traders, at a price within both limits (each
    # trader here is constrained: ZIC, ZIP, GVWY, SHVR, SNPR never quote past their limit).
    booked: dict[str, int] = {}
    for t in trades:
        buyer, seller = spec_of[t["buyer"]], spec_of[t["seller"]]
        assert buyer.side == "buy" and seller.side == "sell"
        assert seller.limit <= t["price"] <= buyer.limit
        for who, gain in ((buyer, buyer.limit - t["price"]), (seller, t["price"] - seller.limit)):
            booked[who.name] = booked.get(who.name, 0) + gain * t["quantity"]
    for name, result in by_name.items():
        assert result.profit == booked.get(name, 0), name  # the agents booked what the house did
        assert result.traded <= spec_of[name].units
        assert result.orders > 0 or result.traded == 0
    assert report.max_surplus == max_surplus(SPECS) == 300
    assert report.efficiency is not None and 0 < report.efficiency <= 1
    print(report.to_dict())
    audit = audit_database(house.db)
    assert audit.ok, audit.findings
