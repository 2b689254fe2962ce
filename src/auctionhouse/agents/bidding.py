"""Bidder strategies, registered by name (DESIGN.md section 6; seeds 000, 001, 004).

A strategy answers ``decide(view, now) -> Bid | None`` for one auction. Most strategies only say
how much the item is worth to them *now* (:meth:`BidderStrategy.limit`); the shared
:meth:`BidderStrategy.decide` turns that limit into the method's move, never above the budget
left (``view.budget``):

- English: when not leading and the next minimum is within the limit, bid it (with the limit as
  a secret proxy maximum for proxy strategies, so the house re-bids for them), or a jump bid;
- Dutch: accept once the clock price is at or below the limit;
- FPSB/Vickrey: one sealed bid of the limit (time-aware strategies wait for the last window).

Strategies hold their own ``numpy.random.Generator``; the same seed gives the same decisions.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from auctionhouse.agents.market import Bid, MarketView
from auctionhouse.agents.params import Param, check_params, evolved_params
from auctionhouse.agents.registry import Registry


class BidderStrategy:
    """Base class. Subclasses set ``name``, ``params`` and override :meth:`limit`."""

    name: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}
    # English: bid once with the limit as proxy maximum (the house bids the least needed).
    proxy: ClassVar[bool] = False

    def __init__(self, rng: np.random.Generator | None = None, **params: Any) -> None:
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.p = check_params(self.params, params)

    def limit(self, view: MarketView, now: float) -> int | None:
        """The most this bidder would pay for the item at ``now`` (before the budget cap)."""
        return view.value

    def sealed_ready(self, view: MarketView, now: float) -> bool:
        """Sealed bids: whether to place the one bid now."""
        return True

    def english_amount(self, view: MarketView, minimum: int, limit: int) -> int:
        """English: the amount to bid when the next bid must be at least ``minimum``."""
        return minimum

    def decide(self, view: MarketView, now: float) -> Bid | None:
        if view.closed or view.state != "open":
            return None
        raw = self.limit(view, now)
        if raw is None:
            return None
        limit = min(int(raw), view.budget)
        if limit < 1:
            return None
        if view.method == "english":
            if view.leading or view.min_next_bid is None or view.min_next_bid > limit:
                return None
            if self.proxy:
                return Bid(view.min_next_bid, proxy_max=limit)
            amount = self.english_amount(view, view.min_next_bid, limit)
            return Bid(min(limit, max(view.min_next_bid, amount)))
        if view.method == "dutch":
            price = view.clock_price(now)
            if view.my_bids or price is None or price > limit:
                return None
            return Bid(limit)
        if view.my_bids or limit < max(1, view.starting_price) or not self.sealed_ready(view, now):
            return None
        return Bid(limit)


BIDDERS: Registry[BidderStrategy] = Registry("bidder")
REGISTRY = BIDDERS.classes
register = BIDDERS.register
make_strategy = BIDDERS.make


# --------------------------------------------------------------------------------- strategies


@register
class Truthful(BidderStrategy):
    """Bids its value: a proxy maximum in English, its value sealed, accepts Dutch at its value."""

    name = "truthful"
    proxy = True


@register
class Equilibrium(BidderStrategy):
    """Risk-neutral equilibrium with uniform private values: truthful in English and Vickrey,
    ``(n-1)/n`` of the value in FPSB and Dutch, ``n`` bidders (``bidders``, else the auction's
    ``expected_bids`` or ``max_bidders``, else 2)."""

    name = "equilibrium"
    proxy = True
    params: ClassVar[dict[str, Param]] = {
        "bidders": Param("count", None, "bidders expected in each auction"),
    }

    def limit(self, view: MarketView, now: float) -> int | None:
        if view.method in ("english", "vickrey"):
            return view.value
        n = self.p["bidders"] or view.expected_bids or view.max_bidders or 2
        return view.value * (n - 1) // n


@register
class MarketValue(BidderStrategy):
    """Bids up to its estimate of the market value (``factor`` x its value), one increment at
    a time: it re-bids each time it is outbid."""

    name = "market-value"
    params: ClassVar[dict[str, Param]] = {
        "factor": Param("float", 1.0, "multiplier on the value"),
    }

    def estimate(self, value: int) -> int:
        return int(value * self.p["factor"])

    def limit(self, view: MarketView, now: float) -> int | None:
        return self.estimate(view.value)


@register
class Aggressive(MarketValue):
    """Pays a premium over its value and jump-bids: each bid goes ``jump`` x value above the
    minimum, to scare competitors off."""

    name = "aggressive"
    params: ClassVar[dict[str, Param]] = {
        "factor": Param("float", 1.1, "multiplier on the value (its premium)"),
        "jump": Param("fraction", 0.05, "jump above the minimum bid, as a share of the value"),
    }

    def english_amount(self, view: MarketView, minimum: int, limit: int) -> int:
        return minimum + int(view.value * self.p["jump"])


@register
class Conservative(MarketValue):
    """Keeps a discount under its value and bids only the minimum."""

    name = "conservative"
    params: ClassVar[dict[str, Param]] = {
        "factor": Param("float", 0.85, "multiplier on the value (below 1: a discount)"),
    }


_ESTIMATORS = ("market-value", "aggressive", "conservative")


@register
class Smart(BidderStrategy):
    """Seed 000's time-aware SmartBidder: its limit rises from ``low`` to ``high`` x the market
    value as the auction runs, and in the last ``window`` seconds (default: the last
    ``window_fraction`` of the auction) it goes all in at ``final`` x the market value, always
    within budget. The market value comes from an ``estimator`` strategy (market-value,
    aggressive or conservative). Seed 000's own curve is ``low=0.8, high=1.2, final=1.1`` with a
    60 s window; the defaults end the rise at the market value so the last step is upward."""

    name = "smart"
    params: ClassVar[dict[str, Param]] = {
        "estimator": Param("str", "market-value", "how it values the item", _ESTIMATORS),
        "low": Param("float", 0.8, "share of the market value at the opening"),
        "high": Param("float", 1.0, "share of the market value just before the last window"),
        "final": Param("float", 1.1, "share of the market value in the last window (all in)"),
        "window": Param("float", None, "seconds before the close when it goes all in"),
        "window_fraction": Param("fraction", 0.2, "the window as a share of the auction"),
    }

    def __init__(self, rng: np.random.Generator | None = None, **params: Any) -> None:
        super().__init__(rng, **params)
        estimator = make_strategy(self.p["estimator"], {}, self.rng)
        assert isinstance(estimator, MarketValue)
        self.estimator: MarketValue = estimator

    def in_window(self, view: MarketView, now: float) -> bool:
        remaining = view.remaining(now)
        if remaining is None:
            return True
        window: float | None = self.p["window"]
        if window is None:
            due = view.deadline()
            assert due is not None
            window = float(self.p["window_fraction"]) * max(0.0, due - view.opens_at)
        return remaining <= window

    def limit(self, view: MarketView, now: float) -> int | None:
        market = self.estimator.estimate(view.value)
        if self.in_window(view, now):
            return int(market * self.p["final"])
        share = self.p["low"] + (self.p["high"] - self.p["low"]) * view.elapsed_fraction(now)
        return int(market * share)

    def sealed_ready(self, view: MarketView, now: float) -> bool:
        return self.in_window(view, now)

    def english_amount(self, view: MarketView, minimum: int, limit: int) -> int:
        return self.estimator.english_amount(view, minimum, limit)


@register
class Sarl(BidderStrategy):
    """Seed 001's bidder: on each new price it bids the price plus a random raise in
    (0, ``raise_max``] if that stays within its maximum (its value); the leader keeps quiet."""

    name = "sarl"
    params: ClassVar[dict[str, Param]] = {
        "raise_max": Param("count", 5_000, "largest raise, minor units (50.00)"),
    }

    def decide(self, view: MarketView, now: float) -> Bid | None:
        if view.method != "english":
            return super().decide(view, now)
        if view.closed or view.state != "open" or view.leading or view.min_next_bid is None:
            return None
        base = view.price if view.price is not None else view.starting_price
        amount = max(base + int(self.rng.integers(1, self.p["raise_max"] + 1)), view.min_next_bid)
        if amount > min(view.value, view.budget):
            return None
        return Bid(amount)


@register
class FuzzyGenetic(BidderStrategy):
    """The thesis' evolved bidder (THESIS-MODEL.md): a chromosome file from
    ``auctionhouse evolve --save`` (``file``) maps its belief about the auction (expected bidder
    valuation ``v`` = its value, valuation range ``range``, scale-down ``scale_down``) to an
    amount; ``unit`` minor units make one unit of the file's money (100: the file is in whole
    currency units); ``evolved`` instead embeds the file's content. Its amount is a proxy
    maximum in English, a sealed bid, a Dutch accept level.
    """

    name = "fuzzy-genetic"
    proxy = True
    params: ClassVar[dict[str, Param]] = evolved_params()

    def __init__(self, rng: np.random.Generator | None = None, **params: Any) -> None:
        from auctionhouse.agents.evolved import Evolved

        inline = params.pop("evolved", None)
        super().__init__(rng, **params)
        self.evolved = Evolved(self.p, inline, "bidder")

    def limit(self, view: MarketView, now: float) -> int | None:
        return self.evolved.amounts(view.value)["amount"]
