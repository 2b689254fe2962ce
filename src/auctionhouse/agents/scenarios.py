"""Scenarios: a cast of seller and bidder agents run together against one market.

A :class:`Cast` says who sells what and who bids how (the seed 000 cast, the main demo's cast);
:class:`Scenario` runs it on a runtime, with any market (embedded or remote) from a factory,
and keeps what a live view and a results table need: the auctions' latest views, each bidder's
bids, limits, wins and spending. The demo commands draw it; the tests check it against the rules.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from auctionhouse.agents.bidder import BidderAgent, BidderReport, Want
from auctionhouse.agents.bidding import make_strategy
from auctionhouse.agents.market import Market, MarketView
from auctionhouse.agents.runtime import Runtime, agent_rng
from auctionhouse.agents.seller import SellerAgent
from auctionhouse.agents.selling import Listing, make_seller_strategy
from auctionhouse.auction.types import MIN_TICK_SECONDS
from auctionhouse.errors import ConfigError

MarketFactory = Callable[[str], Awaitable[Market]]


@dataclass(frozen=True)
class BidderSpec:
    name: str
    strategy: str
    budget: int
    params: dict[str, Any] = field(default_factory=dict)
    wants: tuple[Want, ...] = ()
    value: int | None = None
    label: str = ""
    reaction: float = 0.0  # seconds at most before it answers a new price (seeded draws)


@dataclass(frozen=True)
class SellerSpec:
    name: str
    listings: tuple[Listing, ...]
    strategy: str = "fixed"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Cast:
    title: str
    sellers: tuple[SellerSpec, ...]
    bidders: tuple[BidderSpec, ...]
    seed: int = 0


@dataclass(frozen=True)
class Participation:
    """One bidder in one auction, for the results and the rule checks."""

    bidder: str
    strategy: str
    value: int
    limit: int | None
    bids: tuple[int, ...]


class Scenario:
    def __init__(
        self,
        runtime: Runtime,
        cast: Cast,
        market_for: MarketFactory,
        *,
        poll: float = 0.1,
        on_report: Callable[[BidderReport], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.cast = cast
        self.market_for = market_for
        self.poll = poll
        self.on_report = on_report
        self.sellers: dict[str, SellerAgent] = {}
        self.bidders: dict[str, BidderAgent] = {}
        self.feed: list[BidderReport] = []

    async def start(self, timeout: float = 60.0) -> None:
        """Spawn the sellers, wait until everything is listed, then spawn the bidders."""
        for spec in self.cast.sellers:
            pricing = make_seller_strategy(
                spec.strategy, spec.params, agent_rng(self.cast.seed, spec.name)
            )
            market = await self.market_for(spec.name)
            seller = SellerAgent(spec.name, market, pricing, list(spec.listings))
            self.sellers[spec.name] = seller
            self.runtime.spawn(seller, name=spec.name)
        await self._until(
            lambda: all(len(s.auctions) == len(s.listings) for s in self.sellers.values()), timeout
        )
        for who in self.cast.bidders:
            strategy = make_strategy(who.strategy, who.params, agent_rng(self.cast.seed, who.name))
            market = await self.market_for(who.name)
            bidder = BidderAgent(
                who.name,
                market,
                strategy,
                budget=who.budget,
                wants=list(who.wants),
                value=who.value,
                poll=self.poll,
                on_report=self._report,
                reaction=who.reaction,
            )
            self.bidders[who.name] = bidder
            self.runtime.spawn(bidder, name=who.name)

    def _report(self, report: BidderReport) -> None:
        self.feed.append(report)
        if self.on_report is not None:
            self.on_report(report)

    async def _until(self, condition: Callable[[], bool], timeout: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            if self.runtime.failures:
                address, exc = self.runtime.failures[0]
                raise ConfigError(f"agent {address} failed: {exc}") from exc
            if asyncio.get_running_loop().time() > deadline:
                raise ConfigError(f"the scenario did not finish within {timeout:g} s")
            await asyncio.sleep(0.05)

    @property
    def done(self) -> bool:
        return all(s.done for s in self.sellers.values())

    async def wait_done(self, timeout: float) -> None:
        await self._until(lambda: self.done, timeout)

    # -- what there is to show --------------------------------------------------------------

    def auctions(self) -> list[tuple[str, MarketView]]:
        """(seller, latest view) of every listed auction, in listing order."""
        return [(name, view) for name, s in self.sellers.items() for view in s.auctions.values()]

    def participants(self, auction_id: str) -> list[Participation]:
        out = []
        for name, agent in self.bidders.items():
            tracked = agent.tracked.get(auction_id)
            if tracked is not None and (tracked.my_bids or tracked.limit):
                label = self._label(name)
                out.append(
                    Participation(name, label, tracked.value, tracked.limit, tuple(tracked.my_bids))
                )
        return out

    def _label(self, name: str) -> str:
        spec = next(b for b in self.cast.bidders if b.name == name)
        return spec.label or spec.strategy

    def spending(self) -> dict[str, dict[str, Any]]:
        """Per bidder: strategy, budget, what it won and paid."""
        out: dict[str, dict[str, Any]] = {}
        for name, agent in self.bidders.items():
            won = [
                (aid, t.view.result.price or 0)
                for aid, t in agent.tracked.items()
                if t.view.result is not None and t.view.result.winner == agent.account
            ]
            out[name] = {
                "strategy": self._label(name),
                "budget": agent.budget,
                "won": [aid for aid, _ in won],
                "spent": sum(price for _, price in won),
                "bids": sum(len(t.my_bids) for t in agent.tracked.values()),
                "refused": dict(agent.refusals),
            }
        return out

    def summary(self) -> dict[str, Any]:
        """Everything, as JSON-ready data (``demo --json``)."""
        auctions = []
        for seller, view in self.auctions():
            result = view.result
            auctions.append(
                {
                    "id": view.auction_id,
                    "seller": seller,
                    "item": view.item,
                    "method": view.method,
                    "outcome": result.outcome if result else None,
                    "winner": result.winner if result else None,
                    "price": result.price if result else None,
                    "min_increment": view.min_increment,
                    "bid_count": view.bid_count,
                    "participants": [
                        p.__dict__ | {"bids": list(p.bids)}
                        for p in self.participants(view.auction_id)
                    ],
                }
            )
        return {
            "title": self.cast.title,
            "seed": self.cast.seed,
            "auctions": auctions,
            "bidders": self.spending(),
        }


# ------------------------------------------------------------------------------------ the casts


def seed000_cast(*, duration: float = 8.0, seed: int = 0) -> Cast:
    """Seed 000: one auctioneer runs several auctions at once; Alice (1500.00, market-value),
    Bob (1200.00, aggressive) and Charlie (2000.00, conservative), all smart bidders."""
    timed = {"duration": duration}
    # The Dutch clock falls from 1.5x to 0.7x the value over the duration (slower for very short
    # demos: the house refuses a tick under MIN_TICK_SECONDS).
    tick = max(MIN_TICK_SECONDS, duration / 32)
    listings = (
        Listing("Vintage camera", "english", 20_000, rules=timed),
        Listing("Antique clock", "english", 30_000, rules=timed),
        Listing("Oak desk", "dutch", 25_000, rules={"decrement": 625, "tick_seconds": tick}),
        Listing("Oil painting", "fpsb", 35_000, rules=timed),
        Listing("Rare stamp", "vickrey", 15_000, rules=timed),
    )
    # The market value each of them believes in is the catalogue value of the item.
    catalogue = tuple(Want(lst.name, lst.value) for lst in listings)

    def smart(name: str, budget: int, estimator: str, reaction: float) -> BidderSpec:
        label = f"smart ({estimator})"
        params = {"estimator": estimator}
        return BidderSpec(name, "smart", budget, params, catalogue, label=label, reaction=reaction)

    # The house sells only to 3 bidders or more. Answering every price at the same instant,
    # Alice's minimum raises would collide with Charlie's, and Bob's jumps carry an English
    # price past Charlie's (lower) limit before he is ever first: Alice and Bob take a moment
    # (a seeded draw), Charlie answers at once, so all three are in while prices are low.
    pause = max(0.25, duration / 16)
    bidders = (
        smart("alice", 150_000, "market-value", pause),
        smart("bob", 120_000, "aggressive", pause),
        smart("charlie", 200_000, "conservative", 0.0),
    )
    return Cast(
        "seed 000: distributed auction system", (SellerSpec("auctioneer", listings),), bidders, seed
    )


def main_cast(
    *,
    duration: float = 8.0,
    seed: int = 0,
    evolved_bidder: dict[str, Any] | None = None,
    evolved_seller: dict[str, Any] | None = None,
) -> Cast:
    """The main demo: two sellers list items in all four methods (the estate's prices from an
    evolved seller strategy when given); bidders with mixed strategies (one evolved when given)
    value each item around its catalogue value (seeded draws)."""
    rng = np.random.default_rng([seed, 2024])
    timed = {"duration": duration}
    dutch = {"tick_seconds": max(MIN_TICK_SECONDS, duration / 40)}
    gallery = (
        Listing("Antique clock", "english", 20_000, rules=timed | {"min_increment": 200}),
        Listing("Persian rug", "dutch", 30_000, rules=dutch | {"decrement": 750}),
        Listing("Oil painting", "fpsb", 40_000, rules=timed),
        Listing("Rare stamp", "vickrey", 15_000, rules=timed),
    )
    estate = (
        Listing("Pocket watch", "english", 18_000, rules=timed),
        Listing("Ming vase", "english", 25_000, rules=timed, reserve_price=90_000),
        Listing("Letter archive", "vickrey", 12_000, rules=timed),
        Listing("Brass telescope", "dutch", 16_000, rules=dutch | {"decrement": 400}),
    )
    items = [*gallery, *estate]

    def wants(names: list[str] | None = None) -> tuple[Want, ...]:
        chosen = [i for i in items if names is None or i.name in names]
        return tuple(Want(i.name, int(i.value * rng.uniform(0.7, 1.3))) for i in chosen)

    bidders = [
        BidderSpec("alice", "truthful", 300_000, wants=wants()),
        BidderSpec("bob", "equilibrium", 300_000, {"bidders": 4}, wants()),
        BidderSpec("carol", "market-value", 300_000, wants=wants()),
        BidderSpec("dave", "conservative", 300_000, wants=wants()),
        BidderSpec(
            "frank",
            "smart",
            60_000,
            {"estimator": "aggressive"},
            wants(["Pocket watch", "Persian rug", "Oil painting"]),
            label="smart (aggressive)",
        ),
        BidderSpec(
            "gina", "sarl", 50_000, wants=wants(["Pocket watch", "Ming vase", "Brass telescope"])
        ),
        BidderSpec(
            "hank",
            "aggressive",
            80_000,
            wants=wants(["Pocket watch", "Rare stamp", "Letter archive"]),
        ),
    ]
    if evolved_bidder:
        erin = BidderSpec("erin", "fuzzy-genetic", 300_000, {"evolved": evolved_bidder}, wants())
        bidders.insert(4, erin)
    estate_seller = (
        SellerSpec("estate", estate, "fuzzy-genetic", {"evolved": evolved_seller})
        if evolved_seller
        else SellerSpec("estate", estate, "fixed", {"starting": 0.3})
    )
    sellers = (SellerSpec("gallery", gallery, "fixed", {"reserve": 0.5}), estate_seller)
    return Cast("auctionhouse demo: agents in all four methods", sellers, tuple(bidders), seed)
