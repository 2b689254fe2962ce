"""The seller agent: lists its items (prices from its seller strategy) and follows them to close.

A seller cannot stop a running auction (seed 002): the house refuses a seller's cancel once the
first bid is in (``cannot_cancel``); :meth:`SellerAgent.try_cancel` reports that refusal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from auctionhouse.agents.market import Market, MarketUpdate, MarketView, Reconnected
from auctionhouse.agents.runtime import Address, Agent, Context
from auctionhouse.agents.selling import Listing, SellerStrategy, auction_rules
from auctionhouse.errors import AuctionhouseError

log = logging.getLogger("auctionhouse.agents.seller")


class SellerAgent(Agent):
    def __init__(
        self,
        name: str,
        market: Market,
        strategy: SellerStrategy,
        listings: list[Listing],
        *,
        stop_when_done: bool = False,
        on_result: Callable[[MarketView], None] | None = None,
        on_listed: Callable[[MarketView], None] | None = None,
    ) -> None:
        self.name = name
        self.market = market
        self.strategy = strategy
        self.listings = listings
        self.stop_when_done = stop_when_done
        self.on_result = on_result
        self.on_listed = on_listed
        self.auctions: dict[str, MarketView] = {}
        self.results: dict[str, MarketView] = {}
        self._ctx: Context | None = None

    async def on_start(self, ctx: Context) -> None:
        self._ctx = ctx
        await self.market.start()
        me, runtime = ctx.address, ctx.runtime
        created = []
        for listing in self.listings:
            prices = self.strategy.choose(listing)
            rules = auction_rules(listing, prices)
            raw = await self.market.create_auction(
                listing.name, listing.method, rules, listing.description
            )
            view = MarketView.from_api(raw, seen_at=self.market.now(), me=self.market.account)
            self.auctions[view.auction_id] = view
            created.append(view.auction_id)
            if self.on_listed is not None:
                self.on_listed(view)
            log.info("%s listed %s as auction %s", me, listing.name, view.auction_id)
        await self.market.watch(created, lambda notice: runtime.send(me, notice))

    async def on_stop(self, ctx: Context) -> None:
        await self.market.close()

    async def on_event(self, ctx: Context, event: object, source: Address | None) -> None:
        if isinstance(event, MarketUpdate) and event.auction_id in self.auctions:
            seen = event.server_time
            self._update(MarketView.from_api(event.view, seen_at=seen, me=self.market.account))
        elif isinstance(event, Reconnected):
            for aid in list(self.auctions):
                try:
                    raw = await self.market.view(aid)
                except AuctionhouseError:
                    continue
                self._update(MarketView.from_api(raw, seen_at=self.market.now()))

    def _update(self, view: MarketView) -> None:
        self.auctions[view.auction_id] = view
        if view.closed and view.auction_id not in self.results:
            self.results[view.auction_id] = view
            if self.on_result is not None:
                self.on_result(view)
            if self.stop_when_done and self.done and self._ctx is not None:
                self._ctx.stop()

    @property
    def done(self) -> bool:
        return len(self.results) == len(self.auctions) and bool(self.auctions)

    async def try_cancel(self, auction_id: str, reason: str = "") -> dict[str, Any]:
        """Ask the house to cancel; the answer, or the refusal's code (``cannot_cancel`` once a
        bid is in)."""
        try:
            return await self.market.cancel(auction_id, reason)
        except AuctionhouseError as exc:
            return {"error": exc.to_dict()}
