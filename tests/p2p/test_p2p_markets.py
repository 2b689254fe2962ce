"""Markets on Raft peers: market create/order/cancel/close are replicated commands that every
replica applies through the same market rules (p2p/machine.py). First the state machine alone
(two replicas applying one log, a rebuild from a snapshot), then real peer processes: traders on
every peer in a CDA and a call market, watchers on every peer, a leader killed with -9."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from nacl.signing import SigningKey
from peer_helpers import Bidder, Cluster, wait_for
from test_p2p_machine import T0, machine

from auctionhouse.auction.market_events import MarketClosed, OrderPlaced, Trade
from auctionhouse.house import sign
from auctionhouse.house.signing import cancel_message, order_message
from auctionhouse.p2p.codec import encode


def market_log(keys: dict[str, SigningKey]) -> list[bytes]:
    """Accounts, a CDA, crossing signed orders (one forged), a cancel, a close."""
    out = [
        encode(
            f"a-{name}",
            T0,
            "account",
            {
                "name": name,
                "password_hash": "x",
                "role": "user",
                "public_key": key.verify_key.encode().hex(),
            },
        )
        for name, key in keys.items()
    ]
    out.append(
        encode(
            "m",
            T0 + 1,
            "create_market",
            {
                "owner_id": "ann",
                "name": "copper",
                "kind": "cda",
                "max_price": None,
                "max_quantity": None,
                "call_interval": None,
                "closes_at": None,
                "duration": 60,
                "market_id": None,
            },
        )
    )
    orders = [("ann", "sell", 105, 3), ("bob", "buy", 100, 2), ("bob", "buy", 106, 2)]
    orders += [("ann", "sell", 99, 5), ("bob", "buy", 110, 1)]
    for i, (who, side, price, quantity) in enumerate(orders):
        ts = T0 + 2 + i
        signer = keys[who] if i != 4 else SigningKey.generate()  # the last one forged
        signature = sign(signer, order_message("m1", who, side, price, quantity, i + 1, ts))
        args = {"trader_id": who, "market_id": "m1", "side": side, "price": price}
        args |= {"quantity": quantity, "nonce": i + 1, "ts": ts, "signature": signature}
        out.append(encode(f"o{i}", ts, "place_order", args))
    ts = T0 + 10
    signature = sign(keys["ann"], cancel_message("m1", "ann", 4, 10, ts))
    args = {"account_id": "ann", "market_id": "m1", "order_id": 4, "nonce": 10, "ts": ts}
    out.append(encode("c", ts, "cancel_order", {**args, "signature": signature}))
    out.append(encode("t", T0 + 61, "tick", {}))
    return out


def test_replicas_applying_one_log_decide_the_same_market_events(tmp_path: Path) -> None:
    keys = {"ann": SigningKey.generate(), "bob": SigningKey.generate()}
    log = market_log(keys)
    a, b = machine(tmp_path, "a"), machine(tmp_path, "b")
    heard: list[tuple[str, int]] = []
    b.house.markets.subscribe(lambda e, _s: heard.append((e.market_id, e.seq)))
    results = [a.apply_local(blob) for blob in log]
    assert [b.apply_local(blob) for blob in log] == results
    a.house.flush()
    b.house.flush()
    rows = [(r.auction_id, r.seq, r.hash) for r in a.house.ledger.store.all_records()]
    assert rows == [(r.auction_id, r.seq, r.hash) for r in b.house.ledger.store.all_records()]
    codes = [r.get("error", {}).get("code") for r in results]
    assert codes[-3] == "bad_signature"  # the forged order, refused on apply by every replica
    placed = [r["ok"] for r in results[3:7]]
    assert placed[2]["trades"][0]["price"] == 105  # at the resting ask's price
    assert results[-2]["ok"]["cancelled"] == 3  # ann's sell 99: 5 units, 2 sold at 100
    mlog = a.house.markets.log("m1")
    assert type(mlog[-1]) is MarketClosed and mlog[-1].at == T0 + 61  # the command's time
    assert heard == [("m1", seq) for seq in range(1, len(mlog) + 1)]
    # a rebuild from a snapshot keeps the book and the market listeners
    c = machine(tmp_path, "c")
    after: list[int] = []
    c.house.markets.subscribe(lambda e, _s: after.append(e.seq))
    c._deserialize(a._serialize())
    assert c.house.markets.log("m1") == mlog and after == []
    c.apply_local(encode("m2", T0 + 70, "create_market", {"owner_id": "bob", "name": "tin"}))
    c.house.flush()
    assert after == [1]


@pytest.mark.e2e
def test_peers_run_markets_and_lose_no_acknowledged_order_when_the_leader_dies(
    tmp_path: Path,
) -> None:
    cluster = Cluster(tmp_path).start()
    try:
        _peers_run_markets(cluster)
    finally:
        cluster.stop()


class Trader(Bidder):
    """An account with a registered key and a session on one peer, placing signed orders."""

    def order(self, url: str, market: str, side: str, price: int, qty: int) -> httpx.Response:
        self.nonce += 1
        ts = time.time()
        message = order_message(market, self.name, side, price, qty, self.nonce, ts)
        body = {"side": side, "price": price, "quantity": qty, "nonce": self.nonce, "ts": ts}
        body["signature"] = sign(self.key, message)
        return httpx.post(
            f"{url}/api/v1/markets/{market}/orders", json=body, headers=self.headers, timeout=8
        )


def _watch(url: str, markets: list[str], seen: dict[str, list[int]], stop: threading.Event) -> None:
    async def main() -> None:
        ws_url = url.replace("http://", "ws://") + "/api/v1/markets/ws"
        async with websockets.connect(ws_url) as ws:
            await ws.send(json.dumps({"op": "subscribe", "markets": markets}))
            snapshot: dict[str, int] = {}
            while not stop.is_set():
                try:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except TimeoutError:
                    continue
                if message["type"] == "market":
                    snapshot[message["market"]] = message["seq"]
                    seen[message["market"]].extend(range(1, message["seq"] + 1))
                elif message["type"] == "market_event":
                    if message["seq"] > snapshot[message["market"]]:
                        seen[message["market"]].append(message["seq"])

    asyncio.run(main())


def _peers_run_markets(cluster: Cluster) -> None:
    peers = cluster.peers
    leader = cluster.wait_leader()
    followers = [p for p in peers if p is not leader]
    traders = [Trader(peers[i % 3].url, f"t{i}") for i in range(3)]
    markets = []
    for body in ({"name": "copper"}, {"name": "tin", "kind": "call", "call_interval": 1.0}):
        r = httpx.post(
            f"{followers[0].url}/api/v1/markets", json=body, headers=traders[0].headers, timeout=15
        )
        assert r.status_code == 201, r.text
        markets.append(r.json()["id"])
    stop, stop_watching = threading.Event(), threading.Event()
    seen = {p.name: {m: [] for m in markets} for p in followers}  # type: ignore[misc]
    watchers = [
        threading.Thread(
            target=_watch, args=(p.url, markets, seen[p.name], stop_watching), daemon=True
        )
        for p in followers
    ]
    acked: list[tuple[str, int, str, int]] = []
    lock = threading.Lock()

    def stream(trader: Trader, k: int) -> None:
        step = 0
        while not stop.is_set():
            step += 1
            url = peers[(k + step) % 3].url  # every peer in turn, the killed one included
            market = markets[step % 2]
            side = "buy" if (k + step) % 2 else "sell"
            price = 100 + (step * 7 + k * 3) % 11
            try:
                r = trader.order(url, market, side, price, 1)
            except httpx.HTTPError:
                continue
            if r.status_code == 201:
                with lock:
                    acked.append((market, r.json()["order_id"], trader.name, price))

    streams = [
        threading.Thread(target=stream, args=(t, k), daemon=True) for k, t in enumerate(traders)
    ]
    for thread in (*watchers, *streams):
        thread.start()
    try:
        _trade_kill_and_check(cluster, leader, markets, traders, acked, seen, stop, streams)
    finally:
        stop.set()
        stop_watching.set()
        for thread in (*streams, *watchers):
            thread.join(30)
    for p in followers:  # each survivor's own ledger passes the audit
        p.stop()
        done = p.audit()
        assert done.returncode == 0, done.stdout + done.stderr


def _trade_kill_and_check(
    cluster: Cluster,
    leader: Any,
    markets: list[str],
    traders: list[Trader],
    acked: list[tuple[str, int, str, int]],
    seen: dict[str, dict[str, list[int]]],
    stop: threading.Event,
    streams: list[threading.Thread],
) -> None:
    survivors = [p for p in cluster.peers if p is not leader]  # the watched peers
    try:
        wait_for("orders acknowledged", lambda: len(acked) >= 30 or None, 60)
        leader.kill()
        before = len(acked)
        wait_for("orders after the kill", lambda: len(acked) >= before + 30 or None, 60)
    finally:
        stop.set()
        for thread in streams:
            thread.join(30)
    for market in markets:  # closed by its owner through a survivor
        r = httpx.post(
            f"{survivors[1].url}/api/v1/markets/{market}/close",
            headers=traders[0].headers,
            timeout=15,
        )
        assert r.status_code == 200, r.text
    cluster.wait_applied(survivors)
    last = {m: httpx.get(f"{survivors[0].url}/api/v1/markets/{m}").json()["seq"] for m in markets}
    for p in survivors:
        wait_for(
            f"{p.name}'s watcher to see every event",
            lambda p=p: all(len(seen[p.name][m]) >= last[m] for m in markets) or None,  # type: ignore[misc]
            30,
        )
    rows = [[r for r in p.ledger_rows() if r[0] in markets] for p in survivors]
    assert rows[0] == rows[1], "the replicas' market chains differ"
    for market in markets:
        r = httpx.get(f"{survivors[0].url}/api/v1/markets/{market}/events", params={"limit": 5000})
        events = r.json()["events"]
        assert [e["seq"] for e in events] == list(range(1, last[market] + 1))
        assert [e["type"] for e in events].count("MarketClosed") == 1
        assert events[-1]["type"] == "MarketClosed"
        if market == markets[1]:  # the call market: cleared by the peers' ticks, once a period
            periods = [e["period"] for e in events if e["type"] == "CallCleared"]
            assert len(periods) >= 2 and periods == sorted(set(periods)), periods
        for p in survivors:  # every survivor's watcher: every event once, in order
            assert seen[p.name][market] == list(range(1, last[market] + 1)), p.name
    _check_acked(survivors[0], markets, acked)


def _check_acked(peer: Any, markets: list[str], acked: list[tuple[str, int, str, int]]) -> None:
    """Every acknowledged order is in the replica's ledger once, as it was acknowledged."""
    import sqlite3

    from auctionhouse.ledger.encoding import decode_event

    with sqlite3.connect(f"file:{peer.data / 'house.db'}?mode=ro", uri=True) as db:
        bodies = [row[0] for row in db.execute("SELECT body FROM ledger_events ORDER BY pos")]
    events = [decode_event(b) for b in bodies]
    for market in markets:
        placed = {
            e.order_id: (e.trader, e.price)
            for e in events
            if type(e) is OrderPlaced and e.market_id == market
        }
        mine = [(order, who, price) for m, order, who, price in acked if m == market]
        assert mine and len({order for order, *_ in mine}) == len(mine), "an order acked twice"
        for order, who, price in mine:
            assert placed.get(order) == (who, price), f"acked order {market}/{order} is missing"
        trades = [e for e in events if type(e) is Trade and e.market_id == market]
        assert all(t.buyer != t.seller for t in trades)
