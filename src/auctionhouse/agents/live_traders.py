"""Registered double-auction traders (``agents/traders.py``: ZIC, ZIU, ZIP, GVWY, SHVR, SNPR)
trading live in a market of a real house, over the SDK, like the bidder agents.

Each trader is a :class:`TraderAgent` in an agent :class:`~auctionhouse.agents.runtime.Runtime`
with its own account, Ed25519 key and SDK client. One market socket (``watch_market``) feeds
every trader the market's events through its mailbox; on each event a trader's brain learns
(``respond``, with the public top of the book and the trade, if any) and its own fills are booked
(``filled``, from the durable ``Trade`` events that name its account). Every ``period`` seconds
(with a per-trader random offset, so the traders do not move in lock step) it asks its brain for
an order (``order(now, top)``): a one-unit signed limit order, after cancelling its previous
order if that still rests (BSE's rule: one order per trader in the book). A trader stops when
its units are traded, when the market closes, or when the run ends.

The house decides everything (signatures, limits, matching, self-trade prevention); a refused
order is skipped and logged, never retried blindly. See docs/markets.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from auctionhouse.agents.runtime import Agent, Context, Runtime, agent_rng
from auctionhouse.agents.traders import BookTop, Shout, Trade, Trader, make_trader
from auctionhouse.errors import AuctionhouseError, ConfigError, NotFound, RateLimited

log = logging.getLogger("auctionhouse.agents")


@dataclass(frozen=True, slots=True)
class TraderSpec:
    """One trader to run: its account ``name``, registered ``strategy`` (``zic``, ``zip``...),
    ``side`` (``buy``/``sell``), ``limit`` (a buyer's value or a seller's cost, minor units per
    unit), ``units`` to trade, and extra strategy ``params``."""

    name: str
    strategy: str
    side: str
    limit: int
    units: int = 1
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TraderResult:
    name: str
    strategy: str
    side: str
    limit: int
    units: int
    traded: int
    profit: int
    orders: int
    refused: dict[str, int]


@dataclass(slots=True)
class TradersReport:
    """What a run did: per trader results, the market's trades, and allocative efficiency
    (the traders' total profit over the most the schedules allow; Gode and Sunder 1993)."""

    market: str
    traders: list[TraderResult]
    trades: int
    max_surplus: int

    @property
    def surplus(self) -> int:
        return sum(t.profit for t in self.traders)

    @property
    def efficiency(self) -> float | None:
        return self.surplus / self.max_surplus if self.max_surplus > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "market": self.market,
            "trades": self.trades,
            "surplus": self.surplus,
            "max_surplus": self.max_surplus,
            "efficiency": self.efficiency,
            "traders": [asdict(t) for t in self.traders],
        }


def max_surplus(specs: Sequence[TraderSpec]) -> int:
    """The greatest total profit the supply and demand schedules allow: the k-th highest
    buyer value against the k-th lowest seller cost, unit by unit, while value > cost."""
    values = sorted(
        (s.limit for s in specs if s.side == "buy" for _ in range(s.units)), reverse=True
    )
    costs = sorted(s.limit for s in specs if s.side == "sell" for _ in range(s.units))
    return sum(v - c for v, c in zip(values, costs, strict=False) if v > c)


class TraderAgent(Agent):
    """One trader brain acting through one SDK client (``AsyncClient`` with a key, logged in)."""

    def __init__(
        self,
        spec: TraderSpec,
        brain: Trader,
        client: Any,
        market_id: str,
        *,
        period: float,
        duration: float,
        ends_at: float,
    ) -> None:
        self.name = spec.name
        self.spec = spec
        self.brain = brain
        self.client = client
        self.market_id = market_id
        self.period = period
        self.duration = duration
        self.ends_at = ends_at
        self.top = BookTop(duration=duration, time_left=duration)
        self.resting: int | None = None  # our order id in the book, if any
        self.seen_trades: set[int] = set()
        self.orders = 0
        self.refused: dict[str, int] = {}
        self.closed = False
        self.ctx: Context | None = None
        self.kind = "cda"  # the market's kind (from its snapshot)
        self.on_fill: Callable[[str, int, int], None] | None = None  # (name, price, units)
        # The last order placed in a CDA, until the events its own command decided are seen
        # (they come next, in one burst): the shout is learnt from once, as the simulator
        # does, as accepted if one of its trades follows, else as an unaccepted shout. (The
        # book sent with an event is the book once its command is durable, not between its
        # events, so it cannot tell whether the order crossed.)
        self._pending: tuple[int, BookTop] | None = None

    async def on_start(self, ctx: Context) -> None:
        self.ctx = ctx
        first = float(ctx.rng.uniform(0.0, self.period))
        ctx.every(self.period, self._act, first=max(0.001, first), name="quote")

    async def on_event(self, ctx: Context, event: object, source: str | None) -> None:
        if not isinstance(event, dict):
            return
        now = ctx.now()
        kind = event.get("type")
        if kind == "market":
            view = event["view"]
            self.top = self._top(now, view.get("best_bid"), view.get("best_ask"), view)
            self.closed = view.get("state") == "closed"
            self.kind = str(view.get("kind", "cda"))
            self._pending = None
            for t in event.get("trades", []):
                self.seen_trades.add(int(t["trade_id"]))  # before we started: not ours
            return
        if kind != "market_event":
            return
        e = event["event"]
        book = event["book"]
        best_bid = book["bids"][0][0] if book["bids"] else None
        best_ask = book["asks"][0][0] if book["asks"] else None
        if self._pending is not None and not self._same_command(e):
            self._settle_pending(now)  # nothing of it traded: an unaccepted shout
        shout = None
        if e["type"] == "OrderPlaced":
            shout = Shout(e["side"], int(e["price"]))
        self.top = self._top(now, best_bid, best_ask, {"last_price": event.get("last_price")})
        if shout is not None:
            self.top = BookTop(
                self.top.best_bid,
                self.top.best_ask,
                self.top.last_price,
                self.top.time_left,
                self.top.duration,
                shout,
            )
        trade = None
        if e["type"] == "Trade":
            resting = None
            if e.get("aggressor") in ("buy", "sell"):
                resting = "sell" if e["aggressor"] == "buy" else "buy"
            trade = Trade(int(e["price"]), int(e["quantity"]), resting)  # type: ignore[arg-type]
            self._book_fill(now, e)
        elif e["type"] == "OrderCancelled" and e["order_id"] == self.resting:
            self.resting = None
        elif e["type"] == "MarketClosed":
            self.closed = True
        if shout is not None and self.kind == "cda":
            self._pending = (int(e["order_id"]), self.top)  # its trades follow, or not
        elif trade is not None and self._pending is not None:
            self._pending = None  # the pending shout was accepted: learnt from its trade
            self.brain.respond(now, self.top, trade)
        elif self._pending is None:  # (a self-trade cancel of the pending order's command)
            self.brain.respond(now, self.top, trade)
        if self.closed or (not self.brain.active and self.resting is None):
            ctx.stop()

    def _same_command(self, e: dict[str, Any]) -> bool:
        """Is ``e`` decided with the pending order (a fill of it, or a self-trade cancel it
        caused)?"""
        assert self._pending is not None
        if e["type"] == "Trade":
            return self._pending[0] in (e["buy_order"], e["sell_order"])
        return e["type"] == "OrderCancelled" and e.get("reason") == "self_trade"

    def _settle_pending(self, now: float) -> None:
        """Learn from the pending order as an unaccepted shout (no trade of it came)."""
        if self._pending is not None:
            _, top = self._pending
            self._pending = None
            self.brain.respond(now, top, None)

    def _book_fill(self, now: float, e: dict[str, Any]) -> None:
        """Book one of our trades once (from an order's ack or from the stream, whichever
        comes first). Every order is for one unit, so a trade fills it whole."""
        me = self.client.account
        trade_id = int(e["trade_id"])
        if trade_id in self.seen_trades or me not in (e["buyer"], e["seller"]):
            return
        self.seen_trades.add(trade_id)
        mine = e["buy_order"] if e["buyer"] == me else e["sell_order"]
        quantity = min(int(e["quantity"]), self.brain.units_left)
        if quantity > 0:
            self.brain.filled(now, int(e["price"]), quantity)
            if self.on_fill is not None:
                self.on_fill(self.name, int(e["price"]), quantity)
        if mine == self.resting:
            self.resting = None

    def _top(
        self, now: float, best_bid: int | None, best_ask: int | None, view: dict[str, Any]
    ) -> BookTop:
        last = view.get("last_price")
        return BookTop(
            best_bid,
            best_ask,
            last,
            max(0.0, self.ends_at - now),
            self.duration,
        )

    async def _act(self) -> None:
        assert self.ctx is not None
        now = self.ctx.now()
        self._settle_pending(now)  # its command's events came long ago: none was a fill
        if self.closed or now >= self.ends_at or not self.brain.active:
            if self.resting is None or self.closed or now >= self.ends_at:
                self.ctx.stop()
            return
        top = BookTop(
            self.top.best_bid,
            self.top.best_ask,
            self.top.last_price,
            max(0.0, self.ends_at - now),
            self.duration,
        )
        price = self.brain.order(now, top)
        if price is None:
            return
        try:
            if self.resting is not None:
                try:
                    await self.client.cancel_order(self.market_id, self.resting, via="ws")
                except NotFound:  # it traded meanwhile: wait for its fill (the stream books
                    return  # it and clears ``resting``) before quoting again
                self.resting = None
            ack = await self.client.order(self.market_id, self.spec.side, price, 1, via="ws")
            self.orders += 1
            if ack["remaining"] > 0:
                self.resting = int(ack["order_id"])
            for trade in ack["trades"]:  # filled at once: booked now, not when the stream
                self._book_fill(self.ctx.now(), trade)  # catches up (no unit traded twice)
        except RateLimited:
            self.refused["rate_limited"] = self.refused.get("rate_limited", 0) + 1
        except AuctionhouseError as exc:
            self.refused[exc.code] = self.refused.get(exc.code, 0) + 1
            log.info("%s: order refused: %s", self.name, exc)
            if exc.code == "market_closed":
                self.closed = True

    def result(self) -> TraderResult:
        return TraderResult(
            self.name,
            self.spec.strategy,
            self.spec.side,
            self.spec.limit,
            self.spec.units,
            self.brain.trades,
            self.brain.profit,
            self.orders,
            dict(self.refused),
        )


async def run_traders(
    house: str,
    market_id: str,
    specs: Sequence[TraderSpec],
    *,
    password: str,
    run_for: float,
    period: float = 0.25,
    seed: int = 0,
    max_price: int | None = None,
    create_accounts: bool = True,
) -> TradersReport:
    """Run ``specs`` as live traders in ``market_id`` of the house at ``house`` for at most
    ``run_for`` seconds (real time); returns the report once every trader has stopped.

    Each trader logs in as ``spec.name`` with ``password`` (creating the account and a fresh
    key when ``create_accounts``). ``max_price`` is the price ceiling the brains draw up to
    (default: the market's ``max_price``). Raises ``ConfigError`` for a bad spec, and the SDK's
    errors when the house cannot be reached or refuses the accounts."""
    from auctionhouse.client import AsyncClient, BidKey

    if run_for <= 0 or period <= 0:
        raise ConfigError("run_for and period must be positive seconds")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError("every trader needs an account name of its own")
    watcher = AsyncClient(house)
    clients: list[Any] = []
    try:
        await watcher.market(market_id)  # the market exists: before any account is made
        for spec in specs:
            key = BidKey.generate()
            client = AsyncClient(house, key=key)
            clients.append(client)
            if create_accounts:
                await client.create_account(spec.name, password, public_key=key.public_key)
            await client.login(spec.name, password)
            if not create_accounts:
                await client.register_key()
            await client.time()
        report, _ = await trade_live(
            watcher,
            market_id,
            specs,
            clients,
            run_for=run_for,
            period=period,
            seed=seed,
            max_price=max_price,
        )
        return report
    finally:
        for client in clients:
            await client.aclose()
        await watcher.aclose()


async def trade_live(
    watcher: Any,
    market_id: str,
    specs: Sequence[TraderSpec],
    clients: Sequence[Any],
    *,
    run_for: float,
    period: float = 0.25,
    seed: int = 0,
    max_price: int | None = None,
    brains: Sequence[Trader] | None = None,
    on_fill: Callable[[str, int, int], None] | None = None,
) -> tuple[TradersReport, list[TraderAgent]]:
    """Run one trader agent per spec, each through its logged-in SDK client with a key
    (``clients``, in the specs' order), fed the market's events by ``watcher``'s socket, for
    at most ``run_for`` seconds. ``brains``: the traders' brains (default: each spec's strategy,
    seeded from ``seed`` and its name). ``on_fill(name, price, quantity)`` hears each trader's
    fills. Returns the report and the agents once every trader has stopped. The clients stay
    open (their caller closes them)."""
    runtime = Runtime(seed=seed)
    feed: asyncio.Task[None] | None = None
    try:
        view = await watcher.market(market_id)
        ceiling = max_price if max_price is not None else int(view["max_price"])
        if brains is None:
            brains = [
                make_trader(
                    s.strategy,
                    {"side": s.side, "limit": s.limit, "units": s.units, "max_price": ceiling}
                    | s.params,
                    agent_rng(seed, s.name),
                )
                for s in specs
            ]
        start = runtime.clock.now()
        ends_at = start + run_for
        agents = [
            TraderAgent(
                spec,
                brain,
                client,
                market_id,
                period=period,
                duration=run_for,
                ends_at=ends_at,
            )
            for spec, brain, client in zip(specs, brains, clients, strict=True)
        ]
        for agent in agents:
            agent.on_fill = on_fill
        addresses = [runtime.spawn(agent, agent.name) for agent in agents]

        async def pump() -> None:
            async for message in watcher.watch_market(market_id):
                for address in addresses:
                    runtime.send(address, message)

        feed = asyncio.create_task(pump(), name="market-feed")
        deadline = ends_at + 5 * period + 5.0
        for address in addresses:
            left = max(0.01, deadline - runtime.clock.now())
            with contextlib.suppress(TimeoutError):
                await runtime.wait_stopped(address, left)
        await runtime.shutdown()
        for failed, exc in runtime.failures:
            log.warning("trader %s failed: %r", failed, exc)
        final = await watcher.market(market_id)
        report = TradersReport(
            market_id, [a.result() for a in agents], int(final["trades"]), max_surplus(specs)
        )
        return report, agents
    finally:
        if feed is not None:
            feed.cancel()
            with contextlib.suppress(BaseException):
                await feed
        await runtime.shutdown()
