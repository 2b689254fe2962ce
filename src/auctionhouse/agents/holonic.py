"""Seed 001, the English auction with holons, run on the agent runtime and the house's rules.

The :class:`Auctioneer` spawns its bidders as members of its own inner context and announces the
opening price to them (``ctx.wake(Price)``). Each :class:`HolonBidder` draws a secret maximum in
[100, 1000) and, on every price it hears, bids the price plus a random raise of up to 50 if that
stays within its maximum (the ``sarl`` strategy); its ``Bid`` event is scoped to its parent only
(``ctx.emit(bid, scope=ctx.parent)``): the other bidders never hear it.

Nothing here re-implements a rule: the auctioneer runs the auction as an English auction with a
quiet period on an embedded house (it places each member's bid on the member's account; the
house decides, and closes the auction once no bid came for ``quiet`` seconds). A timer of the
auctioneer closes the auction when due; the timer and the bid handler share the auctioneer's one
mailbox, so they never race (the seed's ``synchronized``). Once closed the auctioneer announces
the winner (or "No winner"), tells its members to stop, and stops itself when the last is gone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auctionhouse.agents.bidding import Sarl
from auctionhouse.agents.market import MarketView, money
from auctionhouse.agents.runtime import Address, Agent, Context, MemberStopped, Timer
from auctionhouse.errors import RuleViolation
from auctionhouse.house import AuctionHouse


@dataclass(frozen=True, slots=True)
class Price:
    """Auctioneer -> members: the auction's public view after a change of price."""

    view: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BidOffer:
    """Member -> auctioneer (scoped to it): a bid of ``amount`` minor units."""

    amount: int


@dataclass(frozen=True, slots=True)
class StopAuction:
    """Auctioneer -> members: the auction is over, stop."""


@dataclass(frozen=True, slots=True)
class HolonResult:
    winner: str | None
    price: int | None
    outcome: str
    maxima: dict[str, int]
    bids: int


class HolonBidder(Agent):
    def __init__(self, *, low: int = 10_000, high: int = 100_000, raise_max: int = 5_000) -> None:
        self.low, self.high, self.raise_max = low, high, raise_max
        self.maximum = 0
        self.strategy: Sarl | None = None

    def on_start(self, ctx: Context) -> None:
        self.maximum = int(ctx.rng.uniform(self.low, self.high))
        self.strategy = Sarl(ctx.rng, raise_max=self.raise_max)

    def on_event(self, ctx: Context, event: object, source: Address | None) -> None:
        if isinstance(event, StopAuction):
            ctx.stop()
        elif isinstance(event, Price) and self.strategy is not None:
            me = ctx.address.rsplit("/", 1)[-1]
            view = MarketView.from_api(event.view, seen_at=ctx.now(), me=me)
            decision = self.strategy.decide(
                view.mine(value=self.maximum, budget=self.maximum), ctx.now()
            )
            if decision is not None:
                ctx.emit(BidOffer(decision.amount), scope=ctx.parent)


class Auctioneer(Agent):
    name = "auctioneer"

    def __init__(
        self,
        house: AuctionHouse,
        *,
        bidders: int = 3,
        opening: int = 5_000,
        quiet: float = 10.0,
        item: str = "Holonic lot",
        say: Callable[[str], None] = print,
        password: str = "holon-demo-password",
    ) -> None:
        self.house = house
        self.bidders = bidders
        self.opening = opening
        self.quiet = quiet
        self.item = item
        self.say = say
        self.password = password
        self.auction_id = ""
        self.accepted = 0
        self.closed = False
        self.result: HolonResult | None = None
        self._timer: Timer | None = None

    def _account(self, name: str) -> str:
        if not self.house.accounts.exists(name):
            self.house.create_account(name, self.password)
        return name

    def on_start(self, ctx: Context) -> None:
        seller = self._account(ctx.address.rsplit("/", 1)[-1])
        rules = {"starting_price": self.opening, "quiet_seconds": self.quiet, "min_increment": 1}
        view = self.house.create_auction(seller, self.item, "english", rules)
        self.auction_id = view["id"]
        for i in range(1, self.bidders + 1):
            self._account(f"bidder-{i}")
            ctx.spawn(HolonBidder(), name=f"bidder-{i}")
        self.say(f"auctioneer: {self.item} opens at {money(self.opening)}")
        ctx.wake(Price(view))
        self._arm(ctx)

    def _arm(self, ctx: Context) -> None:
        due = self.house.view(self.auction_id)["close_due_at"]
        delay = self.quiet if due is None else max(0.0, due - ctx.now())
        self._timer = ctx.in_(delay, lambda: self._check(ctx), name="quiet-period")

    def on_event(self, ctx: Context, event: object, source: Address | None) -> None:
        if isinstance(event, BidOffer) and not self.closed and source in ctx.members:
            bidder = source.rsplit("/", 1)[-1]
            try:
                self.house.place_bid(bidder, self.auction_id, event.amount)
            except RuleViolation:
                return  # outbid meanwhile, or the quiet period is over: the house says no
            self.accepted += 1
            ctx.wake(Price(self.house.view(self.auction_id)))
        elif isinstance(event, MemberStopped) and self.closed and not ctx.has_members:
            ctx.stop()

    def _check(self, ctx: Context) -> None:
        """The quiet-period timer: close the auction if no bid came in the last ``quiet`` s."""
        self.house.tick()
        view = self.house.view(self.auction_id)
        if view["result"] is None:
            self._arm(ctx)  # a bid moved the close: wait for the new one
            return
        self.closed = True
        result = view["result"]
        maxima = {
            address.rsplit("/", 1)[-1]: agent.maximum
            for address in ctx.members
            if isinstance(agent := ctx.runtime.agent(address), HolonBidder)
        }
        self.result = HolonResult(
            result["winner"], result["price"], result["outcome"], maxima, self.accepted
        )
        if result["winner"] is None:
            self.say("No winner")
        else:
            self.say(f"The winner is {result['winner']} with the bid of {money(result['price'])}")
        ctx.wake(StopAuction())
        if not ctx.has_members:
            ctx.stop()

    def on_stop(self, ctx: Context) -> None:
        self.say("auctioneer: all bidders gone, stopping")


async def run_holonic(
    runtime: Any,
    house: AuctionHouse,
    *,
    bidders: int = 3,
    quiet: float = 10.0,
    say: Callable[[str], None] = print,
    timeout: float | None = None,
) -> HolonResult:
    """Spawn the auctioneer on ``runtime`` and wait until it has stopped; the result."""
    auctioneer = Auctioneer(house, bidders=bidders, quiet=quiet, say=say)
    address = runtime.spawn(auctioneer)
    await runtime.wait_stopped(address, timeout)
    assert auctioneer.result is not None
    return auctioneer.result
