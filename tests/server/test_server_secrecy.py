"""Sealed bids, proxy maxima and reserves appear in no HTTP response and no WebSocket message
before close (sealed amounts) or ever (a proxy maximum, to anyone but its bidder).

Every response body and every WebSocket frame of the scenario is recorded; the distinctive
hidden amounts are searched for as text. After the close the sealed amounts must show up in the
log, which proves the scan would have seen them.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from secrecy_scenario import METHODS, OTHER, Scenario
from server_helpers import Api, inprocess_app, live_server, ws_auth

import http_helpers
from auctionhouse.house import FakeClock

SEALED_HIGH = 7_654_321
SEALED_LOW = 6_543_219
PROXY_MAX = 9_876_543
RESERVE = 3_141_592


class Recorder:
    def __init__(self) -> None:
        self.frames: list[str] = []

    def messages(self, start: int = 0) -> list[dict[str, Any]]:
        return [json.loads(f) for f in self.frames[start:] if f.startswith("{")]

    async def until(self, what: str, seen: Any, start: int = 0, timeout: float = 30.0) -> None:
        """Wait (bounded) until a recorded message after ``start`` satisfies ``seen``."""
        deadline = time.monotonic() + timeout
        while not any(seen(m) for m in self.messages(start)):
            assert time.monotonic() < deadline, f"never saw {what}"
            await asyncio.sleep(0.01)

    def response(self, response: httpx.Response) -> None:
        response.read()
        self.frames.append(response.text)

    def leaks(self, *amounts: int) -> list[tuple[int, str]]:
        return [(a, f[:200]) for f in self.frames for a in amounts if str(a) in f]


@pytest.mark.e2e
def test_hidden_amounts_are_never_sent_before_close(tmp_path: Path) -> None:
    record = Recorder()
    with (
        live_server(tmp_path) as server,
        http_helpers.client(
            base_url=server.url, timeout=10, event_hooks={"response": [record.response]}
        ) as client,
    ):
        api = Api(client)
        for name in ("seller", "ann", "bo", "eve"):
            api.account(name)
        duration = 2.0

        async def scenario() -> tuple[str, str]:
            async with (
                websockets.connect(server.ws_url) as everything,
                websockets.connect(server.ws_url) as eve,
                websockets.connect(server.ws_url) as ann,
            ):
                await ws_auth(eve, api.tokens["eve"])
                await ws_auth(ann, api.tokens["ann"])

                async def drain(ws: Any) -> None:
                    try:
                        async for raw in ws:
                            record.frames.append(str(raw))
                    except websockets.ConnectionClosed:
                        pass

                readers = [asyncio.create_task(drain(ws)) for ws in (everything, eve, ann)]
                await everything.send(json.dumps({"op": "subscribe", "auctions": "*"}))
                sealed = await asyncio.to_thread(
                    api.sell, "seller", "vickrey", duration=duration, reserve_price=RESERVE
                )
                # (The English reserve's secrecy is covered by the core's property tests.)
                english = await asyncio.to_thread(api.sell, "seller", "english", duration=duration)
                ids = [sealed["id"], english["id"]]
                await eve.send(json.dumps({"op": "subscribe", "auctions": ids}))
                # Sealed bids: one over the socket, one over HTTP.
                await ann.send(
                    json.dumps(
                        {"op": "bid", "id": 1, "auction": sealed["id"], "amount": SEALED_HIGH}
                    )
                )
                await asyncio.to_thread(api.bid, "bo", sealed["id"], SEALED_LOW)
                # A proxy bid with a secret maximum, then a rival that the proxy answers.
                await ann.send(
                    json.dumps(
                        {
                            "op": "bid",
                            "id": 2,
                            "auction": english["id"],
                            "amount": 100,
                            "proxy_max": PROXY_MAX,
                        }
                    )
                )
                for ref in (1, 2):  # both of ann's bids are acknowledged before we go on
                    await record.until(
                        f"the ack of bid {ref}",
                        lambda m, r=ref: m.get("type") == "ack" and m.get("id") == r,
                    )
                await asyncio.to_thread(api.bid, "bo", english["id"], 5000)
                for aid in ids:  # everything anyone may look at, while open
                    await asyncio.to_thread(api.view, aid)
                    await asyncio.to_thread(api.view, aid, "eve")
                    await asyncio.to_thread(api.events, aid)
                    await asyncio.to_thread(client.get, "/api/v1/auctions", params={"limit": 500})
                mark = len(record.frames)
                await eve.send(
                    json.dumps({"op": "subscribe", "auctions": ids, "after": {a: 0 for a in ids}})
                )
                for aid in ids:  # each auction's whole public log, replayed to eve
                    last = api.view(aid)["seq"]
                    await record.until(
                        f"auction {aid} replayed to seq {last}",
                        lambda m, a=aid, q=last: (
                            m.get("type") == "event" and m.get("auction") == a and m.get("seq") == q
                        ),
                        start=mark,
                    )
                assert api.view(sealed["id"])["result"] is None, "closed before the scan"
                assert record.leaks(SEALED_HIGH, SEALED_LOW, PROXY_MAX, RESERVE) == []
                assert len(record.frames) > 20

                # The close: wait for both results on the socket, then stop reading.
                results: set[str] = set()
                deadline = time.monotonic() + duration + 10
                while len(results) < 2 and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                    for frame in record.frames:
                        message = json.loads(frame) if frame.startswith("{") else {}
                        if (
                            message.get("type") == "event"
                            and message["event"]["type"] == "AuctionClosed"
                        ):
                            results.add(message["auction"])
                for ws in (everything, eve, ann):
                    await ws.close()
                await asyncio.gather(*readers)
                return sealed["id"], english["id"]

        sealed_id, english_id = asyncio.run(scenario())
        english_view = api.view(english_id)
        assert english_view["result"]["winner"] == "ann"
        assert english_view["result"]["price"] == 5001
        # After the close the sealed bids are public, and the scan sees them.
        amounts = {e.get("amount") for e in api.events(sealed_id)}
        assert {SEALED_HIGH, SEALED_LOW} <= amounts
        assert record.leaks(SEALED_HIGH)
        # A proxy maximum and a reserve are never shown to others, even after the close.
        assert record.leaks(PROXY_MAX, RESERVE) == []
        # Its own bidder may see it.
        assert api.view(english_id, "ann")["you"]["max"] == PROXY_MAX
        with pytest.raises(AssertionError):
            assert record.leaks(PROXY_MAX) == []


# ---------------------------------------------------------------------- the secrecy property


class FrameSink:
    """A WebSocket as the hub sees it, recording every frame (in-process watchers)."""

    def __init__(self, frames: list[str]) -> None:
        self.frames = frames

    async def send_text(self, data: str) -> None:
        self.frames.append(data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        return None


@settings(
    max_examples=20,
    # No shrinking: one example is a whole house; a failure prints its draws, enough to read.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    methods=st.lists(st.sampled_from(METHODS), min_size=1, max_size=4),
    steps=st.integers(0, 14),
    data=st.data(),
)
def test_no_secret_reaches_another_account_or_anyone_in_process(
    tmp_path_factory: pytest.TempPathFactory, methods: list[str], steps: int, data: st.DataObject
) -> None:
    """Issue 9's secrecy property: random auctions of all four methods, every surface another
    account and an anonymous client can read (``secrecy_scenario``), on the in-process app with
    a FakeClock; the WebSocket watchers are the hub's own connections."""
    from starlette.testclient import TestClient

    clock = FakeClock(1_000_000.0)
    app = inprocess_app(tmp_path_factory.mktemp("house"), clock)
    frames: list[str] = []
    with TestClient(app) as client:
        server = app.state.server

        async def subscribe(account: str | None) -> None:
            conn = server.hub.open(FrameSink(frames), "127.0.0.1")
            if account is not None:
                server.hub.authenticate(conn, account)
            assert server.hub.subscribe(conn, None, {}) == []
            await conn.flush(10.0)  # the catch-up is sent by the connection's own sender

        def watch() -> None:
            assert client.portal is not None
            for account in (None, OTHER):
                client.portal.call(subscribe, account)

        def closes() -> None:
            clock.advance(700)
            deadline = time.monotonic() + 30
            while any(
                scenario.api.view(aid)["result"] is None for lot in scenario.lots for aid in lot.ids
            ):
                assert time.monotonic() < deadline, "the house never closed the auctions"
                time.sleep(0.01)

        scenario = Scenario(Api(client), lambda: list(frames), clock.advance, data.draw)
        scenario.run(steps, methods, watch)
        scenario.close_all(closes)


@pytest.mark.e2e
def test_no_secret_reaches_another_account_or_anyone_over_http_and_websocket(
    tmp_path: Path,
) -> None:
    """The same property against a real server: real HTTP, real WebSockets, a real clock."""
    import contextlib
    import tempfile
    import threading

    from websockets.sync.client import connect

    frames: list[str] = []

    @settings(max_examples=2, deadline=None, database=None)
    @given(steps=st.integers(6, 12), data=st.data())
    def one(steps: int, data: st.DataObject) -> None:
        with (
            live_server(Path(tempfile.mkdtemp(dir=tmp_path))) as server,
            http_helpers.client(base_url=server.url, timeout=10) as client,
            contextlib.ExitStack() as sockets,
        ):
            api = Api(client)
            readers: list[threading.Thread] = []

            def read(ws: Any) -> None:
                try:
                    for raw in ws:
                        frames.append(str(raw))
                except Exception:  # closed at the end
                    return

            def watch() -> None:
                for token in (None, api.tokens[OTHER]):
                    ws = sockets.enter_context(connect(server.ws_url, open_timeout=10))
                    if token:  # the first message, never the URL
                        ws.send(json.dumps({"op": "auth", "token": token}))
                    ws.send(json.dumps({"op": "subscribe", "auctions": "*"}))
                    readers.append(threading.Thread(target=read, args=(ws,), daemon=True))
                    readers[-1].start()

            frames.clear()
            scenario = Scenario(api, lambda: list(frames), lambda dt: None, data.draw, exact=False)
            scenario.run(steps, list(METHODS), watch)
            assert len(frames) > 10
            sockets.close()
            for reader in readers:
                reader.join(timeout=10)

    one()
