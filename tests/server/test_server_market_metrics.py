"""Market counters in /metrics (server/metrics.py): signed orders and cancels by result, as this
server answered them, and the house's markets, trades, traded units and cancelled orders by
reason, read from its log (so a call market's clearing counts too). The app in-process on a
FakeClock (test_server_inprocess.py's harness)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from nacl.signing import SigningKey
from server_helpers import PASSWORD
from test_server_inprocess import T0, run

from auctionhouse.house import FakeClock, sign
from auctionhouse.house.signing import cancel_message, order_message


class Trader:
    def __init__(self, name: str) -> None:
        self.name, self.key, self.nonce = name, SigningKey.generate(), 0
        self.headers: dict[str, str] = {}

    async def join(self, client: httpx.AsyncClient) -> None:
        body = {"name": self.name, "password": PASSWORD}
        body["public_key"] = self.key.verify_key.encode().hex()
        assert (await client.post("/api/v1/accounts", json=body)).status_code == 201
        r = await client.post("/api/v1/sessions", json={"name": self.name, "password": PASSWORD})
        self.headers = {"Authorization": f"Bearer {r.json()['token']}"}

    async def order(
        self, client: httpx.AsyncClient, market: str, side: str, price: int, qty: int, **over: int
    ) -> httpx.Response:
        self.nonce += 1
        message = order_message(
            market, self.name, side, price + over.get("forge", 0), qty, self.nonce, T0
        )
        body = {"side": side, "price": price, "quantity": qty, "nonce": self.nonce, "ts": T0}
        body["signature"] = sign(self.key, message)
        return await client.post(
            f"/api/v1/markets/{market}/orders", json=body, headers=self.headers
        )

    async def cancel(self, client: httpx.AsyncClient, market: str, order: int) -> httpx.Response:
        self.nonce += 1
        message = cancel_message(market, self.name, order, self.nonce, T0)
        body = {"nonce": self.nonce, "ts": T0, "signature": sign(self.key, message)}
        return await client.post(
            f"/api/v1/markets/{market}/orders/{order}/cancel", json=body, headers=self.headers
        )


def value(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert found is not None, f"{name} is not in /metrics"
    return float(found.group(1))


def test_orders_trades_and_cancels_are_counted(tmp_path: Path) -> None:
    async def scenario(client: httpx.AsyncClient, clock: FakeClock) -> None:
        ann, bob = Trader("ann"), Trader("bob")
        for trader in (ann, bob):
            await trader.join(client)
        r = await client.post("/api/v1/markets", json={"name": "copper"}, headers=ann.headers)
        cda = r.json()["id"]
        r = await client.post(
            "/api/v1/markets",
            json={"name": "tin", "kind": "call", "call_interval": 10},
            headers=ann.headers,
        )
        call = r.json()["id"]
        assert (await ann.order(client, cda, "sell", 100, 5)).status_code == 201
        assert (await bob.order(client, cda, "buy", 101, 3)).status_code == 201  # 3 units trade
        assert (await bob.order(client, cda, "buy", 90, 1)).status_code == 201
        r = await bob.order(client, cda, "buy", 95, 1, forge=1)
        assert r.json()["error"]["code"] == "bad_signature"
        assert (await bob.order(client, cda, "buy", 0, 1)).json()["error"][
            "code"
        ] == "invalid_order"
        assert (await ann.cancel(client, cda, 1)).status_code == 200  # ann's 2 units left
        assert (await ann.cancel(client, cda, 3)).json()["error"]["code"] == "not_your_order"
        assert (await ann.order(client, cda, "buy", 95, 1)).status_code == 201
        # cancels ann's own bid (self-trade prevention), then meets bob's at 90
        assert (await ann.order(client, cda, "sell", 89, 1)).status_code == 201
        assert (await ann.order(client, call, "sell", 50, 2)).status_code == 201
        assert (await bob.order(client, call, "buy", 60, 2)).status_code == 201
        clock.advance(11)  # the call is due: recorded before the next command on it
        assert (await bob.order(client, call, "buy", 40, 1)).status_code == 201
        r = await client.get(f"/api/v1/markets/{call}/trades")
        assert [(t["price"], t["quantity"]) for t in r.json()["trades"]] == [(55, 2)]

        text = (await client.get("/metrics")).text
        assert value(text, 'auctionhouse_market_orders_total{result="accepted"}') == 8
        assert value(text, 'auctionhouse_market_orders_total{result="bad_signature"}') == 1
        assert value(text, 'auctionhouse_market_orders_total{result="invalid_order"}') == 1
        assert value(text, 'auctionhouse_market_cancels_total{result="accepted"}') == 1
        assert value(text, 'auctionhouse_market_cancels_total{result="not_your_order"}') == 1
        assert value(text, 'auctionhouse_markets{state="open"}') == 2
        assert value(text, "auctionhouse_market_trades_total") == 3  # two in the CDA, one call
        assert value(text, "auctionhouse_market_traded_units_total") == 6
        assert value(text, 'auctionhouse_market_cancelled_orders_total{reason="cancel"}') == 1
        assert value(text, 'auctionhouse_market_cancelled_orders_total{reason="self_trade"}') == 1

    run(tmp_path, scenario, account_rate=1e9, account_burst=1e9)
