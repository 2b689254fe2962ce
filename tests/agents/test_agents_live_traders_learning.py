"""A live trader learns from the market's events as the simulator's trader does: once per shout,
as accepted when the order traded at once (its ``OrderPlaced`` is followed by its ``Trade``),
else as an unaccepted shout. The events are a real house's (its market desk, signed orders), in
the very frames the market socket sends (``market_hub.event_frame``)."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from nacl.signing import SigningKey

from auctionhouse.agents.live_traders import TraderAgent, TraderSpec
from auctionhouse.agents.runtime import Context, Runtime
from auctionhouse.agents.traders import BookTop, Shout, Trade, make_trader
from auctionhouse.client import AsyncClient
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig, sign
from auctionhouse.house.signing import order_message
from auctionhouse.server.market_hub import event_frame

T0 = 1_000_000.0


def zip_brain(side: str, limit: int) -> Any:
    return make_trader("zip", {"side": side, "limit": limit}, rng=np.random.default_rng(7))


def test_live_zip_traders_learn_once_per_shout_as_in_the_simulator() -> None:
    clock = FakeClock(T0)
    house = AuctionHouse.in_memory(config=HouseConfig.for_tests(), clock=clock)
    keys = {name: SigningKey.generate() for name in ("ann", "bob")}
    for name, key in keys.items():
        house.create_account(name, "correct horse", public_key=key.verify_key.encode().hex())
    market = house.markets.create_market("ann", "copper")["id"]
    frames: list[dict[str, Any]] = []
    house.markets.subscribe(lambda e, s: frames.append(event_frame(e, s, clock.now())))
    nonce = iter(range(1, 100))

    def order(who: str, side: str, price: int) -> None:
        n = next(nonce)
        signature = sign(keys[who], order_message(market, who, side, price, 1, n, T0))
        house.markets.place_order(who, market, side, price, 1, nonce=n, ts=T0, signature=signature)

    # What the simulator's traders learn from: one shout at a time, accepted or not.
    shouts: list[Shout | Trade] = []
    order("ann", "sell", 120)
    shouts.append(Shout("sell", 120))
    order("bob", "buy", 100)
    shouts.append(Shout("buy", 100))
    order("bob", "buy", 125)  # meets ann's ask: accepted, at the resting ask's price
    shouts.append(Trade(120, 1, "sell"))
    order("ann", "sell", 130)
    shouts.append(Shout("sell", 130))
    order("ann", "buy", 135)  # meets only ann's own ask: that is cancelled, nothing trades
    shouts.append(Shout("buy", 135))
    order("bob", "sell", 98)  # meets ann's bid at 135: accepted
    shouts.append(Trade(135, 1, "buy"))
    assert [f["event"]["type"] for f in frames].count("Trade") == 2

    async def main() -> None:
        runtime = Runtime(clock, manual=True)
        client = AsyncClient("http://127.0.0.1:9", account="watcher")  # never called
        try:
            for side, limit in (("buy", 150), ("sell", 80)):
                live = TraderAgent(
                    TraderSpec("watcher", "zip", side, limit),
                    zip_brain(side, limit),
                    client,
                    market,
                    period=1.0,
                    duration=60.0,
                    ends_at=T0,  # over: its next act only settles what it saw, then stops
                )
                ctx = Context(runtime, f"z-{side}", None, 0)
                live.ctx = ctx
                snapshot = {"view": house.markets.view(market), "trades": []}
                await live.on_event(ctx, {"type": "market", **snapshot}, None)
                for frame in frames:
                    await live.on_event(ctx, frame, None)
                await live._act()  # the last shout's own events are all in: settled
                reference = zip_brain(side, limit)
                for shout in shouts:
                    if isinstance(shout, Trade):
                        reference.respond(T0, BookTop(), shout)
                    else:
                        reference.respond(T0, BookTop(shout=shout), None)
                assert live.brain.margin == reference.margin, side  # type: ignore[attr-defined]
                assert live.brain.change == reference.change, side  # type: ignore[attr-defined]
        finally:
            await client.aclose()
            await runtime.shutdown()

    asyncio.run(main())
