"""The bidder agent: follows auctions, asks its strategy, signs and places bids, keeps its budget.

- It hears every public event of the auctions it follows (``Market.watch``) and re-decides on
  each one (outbid: re-bid where the method allows) and on a ``poll`` timer (time-aware
  strategies; the Dutch clock, whose price falls without events).
- Budget: a bid is sent only if what it may cost (its amount, or its proxy maximum), plus what
  the agent has committed elsewhere (auctions it leads or has sealed bids in, prices it won),
  fits the budget. A strategy sees the budget left in ``view.budget``; the agent checks again.
- No double bid: each bid is signed once (a fresh nonce). If the answer is lost with the
  connection, the agent asks the house for its own bids in that auction (the view's ``you``)
  once it can: if the bid is there it landed; if not, it resends the *same* signed bid while its
  timestamp is fresh, else decides anew. The house answers a byte-identical resend with the
  original ack (no second bid, no strike), so a bid that lands between the look and the resend
  is simply acknowledged.
- Seed 002: when it starts it looks up auctions it bid in; one it won while away is reported.
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from auctionhouse.agents.bidding import BidderStrategy
from auctionhouse.agents.market import (
    ConnectionLost,
    Market,
    MarketUpdate,
    MarketView,
    Reconnected,
    SignedBid,
    is_lost_connection,
    money,
)
from auctionhouse.agents.runtime import Address, Agent, Context
from auctionhouse.errors import (
    AlreadyBid,
    AuctionhouseError,
    BidTooLow,
    BudgetExceeded,
    ReplayedNonce,
    RuleViolation,
)
from auctionhouse.money import DEFAULT_CURRENCY
from auctionhouse.times import local_times

log = logging.getLogger("auctionhouse.agents.bidder")
T = TypeVar("T")

METHODS = ("english", "dutch", "fpsb", "vickrey")


@dataclass(frozen=True, slots=True)
class Want:
    """An item the bidder is after: a name pattern (``fnmatch``, case-insensitive), its value to
    the bidder in minor units, and the methods it will bid in."""

    item: str
    value: int
    methods: tuple[str, ...] = METHODS

    def matches(self, item: str, method: str) -> bool:
        return method in self.methods and fnmatch.fnmatch(item.lower(), self.item.lower())


@dataclass
class Tracked:
    """What the bidder knows of one auction it follows."""

    view: MarketView
    value: int
    my_bids: list[int] = field(default_factory=list)
    my_max: int | None = None
    pending: SignedBid | None = None
    limit: int | None = None  # the most it would pay, as last decided (budget-capped)
    bids_before_pending: int = 0
    retries: int = 0


@dataclass(frozen=True, slots=True)
class BidderReport:
    """A line for the owner (and for tests): ``kind`` is bid, refused, won, lost, won_while_away,
    budget, resumed."""

    kind: str
    auction_id: str
    amount: int | None
    message: str


class BidderAgent(Agent):
    def __init__(
        self,
        name: str,
        market: Market,
        strategy: BidderStrategy,
        *,
        budget: int,
        wants: list[Want] | None = None,
        auctions: list[str] | None = None,
        value: int | None = None,
        poll: float = 0.25,
        discover_every: float = 2.0,
        resend_window: float = 10.0,
        reaction: float = 0.0,
        on_report: Callable[[BidderReport], None] | None = None,
    ) -> None:
        self.name = name
        self.market = market
        self.strategy = strategy
        self.budget = budget
        self.wants = wants or []
        self.explicit = list(auctions or [])
        self.default_value = value
        self.poll = poll
        self.discover_every = discover_every
        self.resend_window = resend_window
        self.on_report = on_report
        self.tracked: dict[str, Tracked] = {}
        self.reports: list[BidderReport] = []
        self.settled: set[str] = set()
        self.refusals: Counter[str] = Counter()
        self.reconnects = 0
        self.reaction = reaction
        self._reacting: set[str] = set()
        self.connected = True
        self.sent = 0
        self._ctx: Context | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def on_start(self, ctx: Context) -> None:
        self._ctx = ctx
        await self._retry(self.market.start)
        me = ctx.address
        runtime = ctx.runtime

        def listener(notice: object) -> None:
            runtime.send(me, notice)

        self._listener = listener
        await self._report_past_wins()
        if self.explicit:
            await self.market.watch(self.explicit, listener)
            for aid in self.explicit:
                await self._follow(await self._retry(functools.partial(self.market.view, aid)))
        else:
            await self.market.watch("*", listener)
            for state in ("open", "scheduled"):
                listing = functools.partial(self.market.auctions, state=state)
                found = await self._retry(listing)
                for view in found:
                    await self._follow(view)
        ctx.every(self.poll, self._poll, name="poll")
        if not self.explicit:
            ctx.every(self.discover_every, self._discover, name="discover")
        await self._decide_all()

    async def _retry(self, call: Callable[[], Awaitable[T]], attempts: int = 6) -> T:
        """``call()``, again after a lost connection (0.1 s, doubling), up to ``attempts``."""
        for attempt in range(attempts):
            try:
                return await call()
            except AuctionhouseError as exc:
                if not is_lost_connection(exc) or attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.1 * 2**attempt)
        raise AssertionError("unreachable")

    async def _discover(self) -> None:
        """Follow open auctions that no event announced to us (e.g. created while the market's
        subscription was being set up)."""
        if not self.connected:
            return
        try:
            found = await self.market.auctions(state="open")
        except AuctionhouseError as exc:
            log.info("%s: cannot list auctions: %s", self.account, exc.message)
            return
        for view in found:
            if str(view["id"]) not in self.tracked:
                await self._follow(view)

    async def on_stop(self, ctx: Context) -> None:
        await self.market.close()

    async def on_event(self, ctx: Context, event: object, source: Address | None) -> None:
        if isinstance(event, MarketUpdate):
            await self._on_update(event)
        elif isinstance(event, ConnectionLost):
            self.connected = False
        elif isinstance(event, Reconnected):
            self.reconnects += 1
            self.connected = True
            await self._resync()

    @property
    def account(self) -> str:
        return self.market.account

    @property
    def done(self) -> bool:
        """Every auction it follows has closed."""
        return bool(self.tracked) and all(t.view.closed for t in self.tracked.values())

    # -- following auctions -----------------------------------------------------------------

    def value_for(self, item: str, method: str) -> int | None:
        for want in self.wants:
            if want.matches(item, method):
                return want.value
        return self.default_value

    async def _follow(self, raw: dict[str, Any]) -> Tracked | None:
        aid = str(raw["id"])
        if aid in self.tracked:
            return self.tracked[aid]
        view = MarketView.from_api(raw, seen_at=self.market.now(), me=self.account)
        if view.closed or view.seller == self.account:
            return None
        value = self.value_for(view.item, view.method)
        if value is None:
            return None
        tracked = Tracked(view, value, list(view.my_bids), view.my_max)
        self.tracked[aid] = tracked
        return tracked

    async def _on_update(self, update: MarketUpdate) -> None:
        tracked = self.tracked.get(update.auction_id)
        if tracked is None:
            if update.event.get("type") == "AuctionCreated" and not self.explicit:
                tracked = await self._follow(update.view)
            if tracked is None:
                return
        if update.seq < tracked.view.seq:
            return  # older than what we know (a resync overtook it)
        tracked.view = MarketView.from_api(update.view, seen_at=update.server_time, me=self.account)
        aid = update.auction_id
        if tracked.view.closed:
            self._settle(aid, tracked)
        elif self.reaction <= 0:
            await self._decide(aid, tracked)
        elif aid not in self._reacting and self._ctx is not None:
            # A reaction time (seconds, drawn at random up to ``reaction``): many bidders
            # answering one price at the same instant would mostly collide.
            self._reacting.add(aid)
            delay = float(self._ctx.rng.uniform(0, self.reaction))
            self._ctx.in_(delay, lambda: self._react(aid), name="react")

    async def _react(self, aid: str) -> None:
        self._reacting.discard(aid)
        tracked = self.tracked.get(aid)
        if tracked is not None:
            await self._decide(aid, tracked)

    async def _poll(self) -> None:
        await self._decide_all()

    async def _decide_all(self) -> None:
        for aid, tracked in list(self.tracked.items()):
            if not tracked.view.closed:
                await self._decide(aid, tracked)

    # -- deciding and bidding ---------------------------------------------------------------

    def committed(self, except_auction: str | None = None) -> int:
        """Money promised: prices won, auctions led (up to the maximum), bids in flight."""
        total = 0
        for aid, t in self.tracked.items():
            if aid != except_auction:
                total += self._commitment(t)
        return total

    def _commitment(self, t: Tracked) -> int:
        if t.pending is not None:
            return t.pending.proxy_max or t.pending.amount
        view = t.view
        if view.result is not None:
            won = view.result.winner == self.account
            return (view.result.price or 0) if won else 0
        if view.method == "english":
            return (t.my_max or view.price or 0) if view.leader == self.account else 0
        return max(t.my_bids, default=0)

    async def _decide(self, aid: str, tracked: Tracked) -> None:
        if not self.connected or tracked.pending is not None or tracked.view.closed:
            return
        now = self.market.now()
        if tracked.view.state == "scheduled" and now >= tracked.view.opens_at:
            # An auction opens by the clock, not by an event: no update announces it.
            tracked.view = replace(tracked.view, state="open")
        view = replace(tracked.view, my_bids=tuple(tracked.my_bids), my_max=tracked.my_max)
        left = self.budget - self.committed(except_auction=aid)
        mine = view.mine(value=tracked.value, budget=max(0, left))
        raw = self.strategy.limit(mine, now)
        if raw is not None:
            tracked.limit = min(int(raw), max(0, left))
        decision = self.strategy.decide(mine, now)
        if decision is None:
            return
        needed = decision.proxy_max or decision.amount
        if needed > left:
            self._report(
                "budget",
                aid,
                needed,
                f"would exceed the budget left ({money(left, view.currency)})",
            )
            log.warning("%s: %s", self.account, BudgetExceeded(f"{needed} > {left}").message)
            return
        signed = await self.market.sign_bid(aid, decision.amount, decision.proxy_max)
        tracked.pending = signed
        tracked.bids_before_pending = len(tracked.my_bids)
        await self._send(aid, tracked, signed)

    async def _send(self, aid: str, tracked: Tracked, signed: SignedBid) -> None:
        self.sent += 1
        try:
            ack = await self.market.send_bid(signed)
        except AuctionhouseError as exc:
            if is_lost_connection(exc):
                self._unknown(aid, signed, exc)
                return
            tracked.pending = None
            await self._refused(aid, tracked, signed, exc)
            return
        tracked.pending = None
        self._landed(aid, tracked, signed)
        self._apply_ack(tracked, ack)

    def _landed(self, aid: str, tracked: Tracked, signed: SignedBid) -> None:
        tracked.my_bids.append(signed.amount)
        tracked.my_max = max(tracked.my_max or 0, signed.proxy_max or signed.amount)
        tracked.retries = 0
        cur = tracked.view.currency
        extra = f" (secret max {money(signed.proxy_max, cur)})" if signed.proxy_max else ""
        said = f"{self.account} bid {money(signed.amount, cur)}{extra}"
        self._report("bid", aid, signed.amount, said)

    def _apply_ack(self, tracked: Tracked, ack: dict[str, Any]) -> None:
        view = tracked.view
        changes: dict[str, Any] = {"bid_count": ack.get("bid_count", view.bid_count)}
        if "leader" in ack:
            leader, price = ack.get("leader"), ack.get("price")
            # The ack is news before the auction's update: the least next bid moves with it,
            # by the auction's own increments (a table, a percentage), not a flat step.
            changes.update(
                leader=leader, price=price, min_next_bid=view.least_next_bid(price, leader)
            )
        if ack.get("seq", 0) > view.seq:
            changes["seq"] = ack["seq"]
        tracked.view = replace(view, **changes)

    async def _refused(
        self, aid: str, tracked: Tracked, signed: SignedBid, exc: AuctionhouseError
    ) -> None:
        self.refusals[exc.code] += 1
        if isinstance(exc, AlreadyBid):
            tracked.my_bids.append(signed.amount)
        self._report("refused", aid, signed.amount, f"{exc.code}: {local_times(exc.message)}")
        minimum = exc.fields.get("minimum")
        if isinstance(exc, BidTooLow) and isinstance(minimum, int):
            # Outbid while the bid was in flight: the event that outbid us is on its way and
            # brings the next decision; until then the house's minimum is the one to know.
            tracked.view = replace(tracked.view, min_next_bid=minimum)
            return
        if not isinstance(exc, RuleViolation | ReplayedNonce):
            return  # rate limited, overloaded...: the next poll tries again
        try:  # the auction moved under us (clock, close...): look again
            raw = await self.market.view(aid)
        except AuctionhouseError:
            return
        tracked.view = MarketView.from_api(raw, seen_at=self.market.now(), me=self.account)
        if tracked.view.closed:
            self._settle(aid, tracked)

    # -- lost answers: did the bid land? ----------------------------------------------------

    def _unknown(self, aid: str, signed: SignedBid, exc: AuctionhouseError) -> None:
        self.connected = False
        message = f"connection lost while bidding {money(signed.amount)}: {exc.message}"
        self._report("unknown", aid, signed.amount, message)
        assert self._ctx is not None
        self._ctx.in_(min(2.0, 0.05 * 2 ** self.tracked[aid].retries), self._resync, name="resync")

    async def _resync(self) -> None:
        """After a lost connection: learn from the house which bids landed, resend or re-decide."""
        unresolved = False
        for aid, tracked in list(self.tracked.items()):
            try:
                raw = await self.market.view(aid)
            except AuctionhouseError as exc:
                if not is_lost_connection(exc):
                    log.warning("%s: auction %s: %s", self.account, aid, exc.message)
                    continue
                unresolved = True
                tracked.retries += 1
                break
            self.connected = True
            fresh = MarketView.from_api(raw, seen_at=self.market.now(), me=self.account)
            signed = tracked.pending
            if signed is not None:
                new = list(fresh.my_bids[tracked.bids_before_pending :])
                tracked.pending = None
                if signed.amount in new:
                    self._landed(aid, tracked, signed)
                    self._report("resumed", aid, signed.amount, "the bid had landed")
                elif signed.ts is None or self.market.now() - signed.ts < self.resend_window:
                    tracked.view = fresh
                    tracked.pending = signed
                    await self._send(aid, tracked, signed)
                    continue
            tracked.view = fresh
            tracked.my_bids = list(fresh.my_bids)
            tracked.my_max = fresh.my_max if fresh.my_max is not None else tracked.my_max
            if fresh.closed:
                self._settle(aid, tracked)
        if unresolved:
            assert self._ctx is not None
            retries = max(t.retries for t in self.tracked.values())
            self._ctx.in_(min(2.0, 0.05 * 2**retries), self._resync, name="resync")
            return
        self.connected = True
        await self._decide_all()

    # -- results ----------------------------------------------------------------------------

    def _settle(self, aid: str, tracked: Tracked) -> None:
        result = tracked.view.result
        if result is None or aid in self.settled:
            return
        self.settled.add(aid)
        if result.winner == self.account:
            item, price = tracked.view.item, money(result.price, tracked.view.currency)
            self._report("won", aid, result.price, f"{self.account} won {item} for {price}")
        elif tracked.my_bids:
            outcome = result.outcome.replace("_", " ")
            self._report("lost", aid, None, f"{self.account}: {tracked.view.item}: {outcome}")

    async def _report_past_wins(self) -> None:
        """Seed 002: a bidder that left while leading still wins, and hears so on return."""
        try:
            past = await self.market.auctions(state="closed", bidder=self.account)
        except AuctionhouseError as exc:
            log.warning("%s: cannot look up past auctions: %s", self.account, exc.message)
            return
        for raw in past:
            result = raw.get("result") or {}
            if result.get("winner") == self.account:
                item = (raw.get("item") or {}).get("name", "")
                self._report(
                    "won_while_away",
                    str(raw["id"]),
                    result.get("price"),
                    f"while you were away you won {item} for "
                    f"{money(result.get('price'), raw.get('currency') or DEFAULT_CURRENCY)}",
                )

    def _report(self, kind: str, aid: str, amount: int | None, message: str) -> None:
        report = BidderReport(kind, aid, amount, message)
        self.reports.append(report)
        log.info("%s: auction %s: %s", self.account, aid, message)
        if self.on_report is not None:
            self.on_report(report)
