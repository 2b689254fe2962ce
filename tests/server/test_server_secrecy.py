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
from server_helpers import Api, live_server, ws_auth

pytestmark = pytest.mark.e2e

SEALED_HIGH = 7_654_321
SEALED_LOW = 6_543_219
PROXY_MAX = 9_876_543
RESERVE = 3_141_592


class Recorder:
    def __init__(self) -> None:
        self.frames: list[str] = []

    def messages(self, start: int = 0) -> list[dict[str, Any]]:
        return [json.loads(f) for f in self.frames[start:] if f.startswith("{")]

    async def until(self, what: str, seen: Any, start: int = 0, timeout: float = 10.0) -> None:
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


def test_hidden_amounts_are_never_sent_before_close(tmp_path: Path) -> None:
    record = Recorder()
    with (
        live_server(tmp_path) as server,
        httpx.Client(
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
