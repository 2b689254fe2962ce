"""Two real ``auctionhouse serve`` processes on one PostgreSQL database: what protects accounts
holds on both at once. Failed logins count across instances (decision 0016), a refused signed
bid resent to the other instance gets the same refusal (0008), and a logout or a new key on one
instance is noticed by the other at once, without waiting for its next command."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest
import websockets
from nacl.signing import SigningKey
from server_helpers import Api, LiveServer, signed_bid, write_config

import http_helpers
import pg_cluster

pytestmark = pytest.mark.e2e

DEADLINE = 10.0


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer]]:
    tmp = tmp_path_factory.mktemp("shared-accounts")
    url = pg_cluster.new_database()
    config = write_config(
        tmp / "house.toml",
        {"key_file": str(tmp / "house.key")},
        login_free_per_account=3,
        login_backoff_seconds=120.0,
        account_rate=1000.0,
        account_burst=1000.0,
    )
    a = LiveServer(url, config).start()
    try:
        b = LiveServer(url, config).start()
    except BaseException:
        a.stop()
        raise
    try:
        yield a, b
    finally:
        for server in (a, b):
            server.stop()


def api(server: LiveServer) -> Api:
    return Api(http_helpers.client(base_url=server.url, timeout=10))


def test_failed_logins_count_on_every_instance(pair: tuple[LiveServer, LiveServer]) -> None:
    a, b = api(pair[0]), api(pair[1])
    guess = {"name": "ghost", "password": "wrong password"}
    for i in range(4):  # 3 free failures, the 4th blocks the account name: half on each
        r = (a, b)[i % 2].client.post("/api/v1/sessions", json=guess)
        assert r.status_code == 401, r.text
    for server in (a, b):  # each saw 2 failures only: blocked by what the other counted
        r = server.client.post("/api/v1/sessions", json=guess)
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "login_throttled"
        assert int(r.headers["Retry-After"]) >= 30


def test_a_refused_signed_bid_resent_to_the_other_instance_gets_the_same_refusal(
    pair: tuple[LiveServer, LiveServer],
) -> None:
    a, b = api(pair[0]), api(pair[1])
    a.account("seller-r")
    a.account("ann-r", key=True)
    a.account("bob-r")
    b.tokens.update(a.tokens)
    aid = a.sell("seller-r", "english", duration=600)["id"]
    assert a.bid("bob-r", aid, 500).status_code == 201
    low = a.signed("ann-r", aid, 100, ts=time.time())  # signature holds; below the price
    first = a.bid("ann-r", aid, **low)
    assert first.json()["error"]["code"] == "bid_too_low", first.text
    again = b.bid("ann-r", aid, **low)  # an honest retry through the other instance
    assert again.status_code == first.status_code
    assert again.json()["error"] == first.json()["error"]  # not replayed_nonce
    reputation = b.client.get("/api/v1/accounts/ann-r/reputation").json()
    assert reputation["strikes"] == 0


def test_a_logout_on_one_instance_closes_the_sockets_on_the_other(
    pair: tuple[LiveServer, LiveServer],
) -> None:
    a = api(pair[0])
    token = a.account("cat-l")

    async def scenario() -> int:
        async with websockets.connect(pair[1].ws_url) as ws:
            await ws.send(json.dumps({"op": "auth", "token": token}))
            while json.loads(await asyncio.wait_for(ws.recv(), DEADLINE))["type"] != "auth":
                pass
            r = a.client.delete("/api/v1/sessions/current", headers=a.auth("cat-l"))
            assert r.status_code == 200, r.text
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:  # the socket sends nothing: the other instance closes it
                    await asyncio.wait_for(ws.recv(), DEADLINE)
            assert closed.value.rcvd is not None
            return closed.value.rcvd.code

    assert asyncio.run(scenario()) == 4003
    r = http_helpers.get(f"{pair[1].url}/api/v1/me", headers=a.auth("cat-l"))
    assert r.status_code == 401


def test_a_new_key_on_one_instance_is_seen_at_once_on_the_other(
    pair: tuple[LiveServer, LiveServer],
) -> None:
    a, b = api(pair[0]), api(pair[1])
    a.account("seller-k")
    a.account("dan-k", key=True)
    b.tokens.update(a.tokens)
    aid = a.sell("seller-k", "english", duration=600)["id"]
    old = a.keys["dan-k"]
    assert b.client.get("/api/v1/me", headers=b.auth("dan-k")).json()["public_key"] == (
        old.verify_key.encode().hex()
    )  # b has dan-k cached with the old key
    new = SigningKey.generate()
    r = a.client.put(
        "/api/v1/me/key",
        json={"public_key": new.verify_key.encode().hex()},
        headers=a.auth("dan-k"),
    )
    assert r.status_code == 200, r.text
    stolen = signed_bid(old, "dan-k", aid, 100, 1, time.time())
    refused = b.bid("dan-k", aid, **stolen)  # at once: the old key no longer signs on b
    assert refused.json()["error"]["code"] == "bad_signature", refused.text
    deadline = time.monotonic() + DEADLINE
    while True:  # a read, not a command: b's cached copy was dropped by the announcement
        me = b.client.get("/api/v1/me", headers=b.auth("dan-k")).json()
        if me["public_key"] == new.verify_key.encode().hex():
            break
        assert time.monotonic() < deadline, me
        time.sleep(0.01)
    good = signed_bid(new, "dan-k", aid, 100, 2, time.time())
    assert b.bid("dan-k", aid, **good).status_code == 201
