"""Run one agent document against its house: ``auctionhouse agent run FILE.toml``.

The agent logs in with its account (creating it, and its key file, when the document says
``create = true``), then runs on a real-time :class:`~auctionhouse.agents.runtime.Runtime` until
its work is done (a seller: every listed auction closed; a bidder given auction ids: those
closed), ``run_for`` seconds have passed, or the owner interrupts it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from auctionhouse.agents.bidder import BidderAgent, BidderReport
from auctionhouse.agents.document import AgentDocument
from auctionhouse.agents.market import MarketView, money
from auctionhouse.agents.remote import RemoteMarket
from auctionhouse.agents.runtime import Agent, Runtime
from auctionhouse.agents.seller import SellerAgent
from auctionhouse.errors import AuctionhouseError, ConfigError


def bid_key(doc: AgentDocument) -> Any:
    """The document's bid key: loaded, or created (mode 0600) when ``create = true``."""
    from auctionhouse.client import BidKey

    if doc.key_file is None:
        return None
    if not doc.key_file.exists():
        if not doc.create:
            raise ConfigError(
                f"{doc.path}: account.key_file: no key at {doc.key_file} (set create = true to "
                "make one, or: auctionhouse account key)"
            )
        return BidKey.generate(doc.key_file)
    return BidKey.load(doc.key_file)


def build_agent(doc: AgentDocument, say: Callable[[str], None]) -> tuple[Agent, RemoteMarket]:
    market = RemoteMarket(
        doc.house, doc.account, doc.password, key=bid_key(doc), create_account=doc.create
    )
    if doc.role == "bidder":

        def report(r: BidderReport) -> None:
            say(f"auction {r.auction_id}: {r.message}")

        bidder = BidderAgent(
            doc.account,
            market,
            doc.bidder_strategy(),
            budget=doc.budget,
            wants=list(doc.wants),
            auctions=list(doc.auctions),
            value=doc.value,
            poll=doc.poll,
            on_report=report,
        )
        return bidder, market

    def result(view: MarketView) -> None:
        outcome = view.result
        assert outcome is not None
        sold = f" to {outcome.winner} for {money(outcome.price)}" if outcome.winner else ""
        say(f"auction {view.auction_id} ({view.item}): {outcome.outcome.replace('_', ' ')}{sold}")

    def listed(view: MarketView) -> None:
        start = money(view.starting_price)
        reserve = ", with a reserve" if view.has_reserve else ""
        say(f"auction {view.auction_id}: {view.item} listed ({view.method}, from {start}{reserve})")

    seller = SellerAgent(
        doc.account,
        market,
        doc.seller_strategy(),
        list(doc.listings),
        on_result=result,
        on_listed=listed,
    )
    return seller, market


def finished(agent: Agent) -> bool:
    if isinstance(agent, SellerAgent):
        return agent.done
    if isinstance(agent, BidderAgent) and agent.explicit:
        return agent.done
    return False


async def run_document(
    doc: AgentDocument, say: Callable[[str], None], run_for: float | None = None
) -> Agent:
    """Run the agent until it is done, ``run_for`` seconds pass, or it is cancelled."""
    limit = run_for if run_for is not None else doc.run_for
    if doc.role == "trader":
        return await run_trader(doc, say, limit)
    agent, _ = build_agent(doc, say)
    async with Runtime(seed=doc.seed) as runtime:
        runtime.spawn(agent, name=doc.account)
        say(f"{doc.owner}'s {doc.role} {doc.account} ({doc.strategy}) at {doc.house}")
        loop = asyncio.get_running_loop()
        deadline = None if limit is None else loop.time() + limit
        while not finished(agent):
            if runtime.failures:
                address, exc = runtime.failures[0]
                if isinstance(exc, AuctionhouseError):  # its own code: unauthorized, ...
                    exc.message = f"the agent {address}: {exc.message}"
                    raise exc
                raise ConfigError(f"the agent {address} failed: {exc}") from exc
            if deadline is not None and loop.time() >= deadline:
                break
            await asyncio.sleep(0.1)
    return agent


async def run_trader(doc: AgentDocument, say: Callable[[str], None], limit: float | None) -> Agent:
    """A trader document: log in (creating the account and key if the document says so), then
    quote every ``poll`` seconds in its market (agents/live_traders.py) until its units are
    traded, the market closes, or ``limit`` seconds pass (default: until the market's close;
    a market with no close time needs ``run_for``). Returns the trader agent."""
    from auctionhouse.agents.live_traders import TraderSpec, trade_live

    remote = RemoteMarket(
        doc.house, doc.account, doc.password, key=bid_key(doc), create_account=doc.create
    )
    try:
        await remote.start()
        client = remote.client
        view = await client.market(doc.market)
        if limit is None:
            closes_at = view.get("closes_at")
            if view.get("state") != "open" or closes_at is None:
                raise ConfigError(
                    f"{doc.path}: run_for: market {doc.market} has no close time: say how long"
                    " the trader runs (run_for, or --for)"
                )
            limit = max(0.1, float(closes_at) - client.server_now())
        spec = TraderSpec(doc.account, doc.strategy, doc.side, doc.limit, doc.units, doc.params)
        side = "buys" if doc.side == "buy" else "sells"
        say(
            f"{doc.owner}'s trader {doc.account} ({doc.strategy}) {side} {doc.units} in market"
            f" {doc.market} ({view.get('name')}), limit {money(doc.limit)}, at {doc.house}"
        )

        def filled(name: str, price: int, quantity: int) -> None:
            verb = "bought" if doc.side == "buy" else "sold"
            say(f"{name} {verb} {quantity} at {money(price)}")

        brain = doc.trader(int(view["max_price"]))
        _, agents = await trade_live(
            client,
            doc.market,
            [spec],
            [client],
            run_for=limit,
            period=doc.poll,
            seed=doc.seed,
            brains=[brain],
            on_fill=filled,
        )
        return agents[0]
    finally:
        await remote.close()
