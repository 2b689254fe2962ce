"""Shared set-up for the agents tests: an embedded house on a FakeClock, a manual runtime."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from nacl.signing import SigningKey

from auctionhouse.agents.bidder import BidderAgent, Want
from auctionhouse.agents.bidding import make_strategy
from auctionhouse.agents.embedded import EmbeddedHouse
from auctionhouse.agents.runtime import Runtime, agent_rng
from auctionhouse.agents.seller import SellerAgent
from auctionhouse.agents.selling import Listing, make_seller_strategy
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig

T0 = 1_000_000.0
PASSWORD = "agents-test-password"


@dataclass
class World:
    clock: FakeClock
    house: AuctionHouse
    hub: EmbeddedHouse
    rt: Runtime
    keys: dict[str, SigningKey] = field(default_factory=dict)

    async def bidder(
        self,
        name: str,
        strategy: str,
        *,
        budget: int,
        value: int | None = None,
        wants: list[Want] | None = None,
        params: dict[str, Any] | None = None,
        **kw: Any,
    ) -> BidderAgent:
        key = self.keys.setdefault(name, SigningKey.generate())
        await self.hub.open_account(name, PASSWORD, key)
        agent = BidderAgent(
            name,
            self.hub.market(name, key),
            make_strategy(strategy, params, agent_rng(1, name)),
            budget=budget,
            value=value,
            wants=wants,
            **kw,
        )
        self.rt.spawn(agent, name=name)
        await self.rt.idle()
        return agent

    async def seller(
        self, listings: list[Listing], name: str = "seller", strategy: str = "fixed", **params: Any
    ) -> SellerAgent:
        await self.hub.open_account(name, PASSWORD)
        agent = SellerAgent(
            name, self.hub.market(name), make_seller_strategy(strategy, params), listings
        )
        self.rt.spawn(agent, name=name)
        await self.rt.idle()
        return agent


def world(**config: Any) -> World:
    clock = FakeClock(T0)
    settings: dict[str, Any] = {"bid_verification_required": True}
    settings.update(config)
    house = AuctionHouse.in_memory(config=HouseConfig.for_tests(**settings), clock=clock)
    rt = Runtime(clock, manual=True, seed=1)
    rt.on_clock(house.tick)
    return World(clock, house, EmbeddedHouse(house), rt)


def run(coro: Any, timeout: float = 60) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def bids_by(house: AuctionHouse, auction_id: str, bidder: str) -> list[int]:
    return [b.amount for b in house.state(auction_id).bids if b.bidder == bidder]
