"""Double-auction traders, registered by name: ZIC, ZIU, ZIP, GVWY, SHVR and SNPR.

The interface follows the Bristol Stock Exchange (BSE; Cliff, "BSE: a minimal simulation of a
limit-order-book stock exchange", 2018): time is passed into every call, a trader sees only the
public top of the book (:class:`BookTop`), and each strategy is an interchangeable class:

- :meth:`Trader.order` ``(now, top) -> int | None`` (BSE ``getorder``): the price of the
  trader's next order for one unit, or ``None`` to stay out. A trader has at most one order
  resting: the runner cancels the previous one when a new one is placed (as in BSE).
- :meth:`Trader.respond` ``(now, top, trade)`` (BSE ``respond``): called after *every* market
  event (an order placed, a trade) so that learning traders (ZIP) adapt; ``trade`` is the
  :class:`Trade` the event made, or ``None``.
- :meth:`Trader.filled` ``(now, price, quantity)``: one of its own orders traded; it books the
  profit (``limit - price`` for a buyer, ``price - cost`` for a seller) and uses up units.
- :meth:`Trader.restock`: a new trading day with fresh units (ZIP keeps what it learnt).

Every trader has a ``side`` (``"buy"`` or ``"sell"``), a ``limit`` (a buyer's limit price, its
value for a unit; a seller's cost) in integer minor units, and ``units`` to trade at that limit.
Prices are integers in ``[min_price, max_price]``. Every trader except ZIU is *constrained*: it
never quotes past its limit (a buyer never bids above it, a seller never asks below it), so it
can never trade at a loss. Randomness comes only from the ``numpy.random.Generator`` passed in.

The same behaviours, vectorised over thousands of markets, are the simulator's trader kernels
(``auctionhouse.sim.market``); ``tests/sim/test_sim_market_agree.py`` checks they agree.

Sources:
- ZIC, ZIU: D. K. Gode and S. Sunder, "Allocative efficiency of markets with zero-intelligence
  traders: market as a partial substitute for individual rationality", Journal of Political
  Economy 101(1), 1993, 119-137. ZI-C: a buyer bids U[min_price, value], a seller asks
  U[cost, max_price]; ZI-U: both draw U[min_price, max_price] whatever their value or cost.
- ZIP: D. Cliff, "Minimal-intelligence agents for bargaining behaviors in market-based
  environments", HP Labs technical report HPL-97-91, 1997, section 4 (the margin rules and the
  Widrow-Hoff update with momentum).
- GVWY, SHVR, SNPR: the Giveaway, Shaver and Sniper traders of BSE (Cliff 2018).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from auctionhouse.agents.params import Param, check_params
from auctionhouse.agents.registry import Registry
from auctionhouse.errors import ConfigError

Side = Literal["buy", "sell"]
SIDES: tuple[Side, ...] = ("buy", "sell")


@dataclass(frozen=True, slots=True)
class Shout:
    """One order that arrived in the market (public: side and price, not who)."""

    side: Side
    price: int


@dataclass(frozen=True, slots=True)
class BookTop:
    """What a trader sees of a double-auction market at one moment.

    ``best_bid``/``best_ask``: the best resting prices (``None`` when that side is empty);
    ``last_price``: the price of the last trade (``None`` before the first); ``time_left``: seconds
    until the session (trading day) closes; ``duration``: the session's length in seconds;
    ``shout``: the order whose arrival this view follows, when the runner knows it (ZIP learns
    from it; without it ZIP infers a shout from a better best bid or ask, as BSE does).
    """

    best_bid: int | None = None
    best_ask: int | None = None
    last_price: int | None = None
    time_left: float = 1.0
    duration: float = 1.0
    shout: Shout | None = None

    @property
    def fraction_left(self) -> float:
        """The share of the session still to run, in ``[0, 1]``."""
        if self.duration <= 0:
            return 0.0
        return min(1.0, max(0.0, self.time_left / self.duration))


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade: ``price`` (minor units) and ``quantity``; ``resting`` is the side of the order
    that was resting in the book (the shout that was *accepted*, in Cliff's terms), when known.
    In a CDA the trade is at the resting order's price."""

    price: int
    quantity: int = 1
    resting: Side | None = None


def _common_params() -> dict[str, Param]:
    return {
        "side": Param("str", None, "buy or sell", choices=SIDES),
        "limit": Param("count", None, "a buyer's limit price (value) or a seller's cost"),
        "units": Param("count", 1, "units to trade at that limit (per trading day)"),
        "min_price": Param("count", 1, "the lowest price the market accepts"),
        "max_price": Param("count", None, "the highest price the market accepts"),
        "tick": Param("count", 1, "the price step"),
    }


class Trader:
    """Base class. Subclasses set ``name`` (and ``params``) and override :meth:`quote`.

    Raises :class:`~auctionhouse.errors.ConfigError` for a missing or bad parameter (``side``
    and ``limit`` are required; strategies that draw or quote up to the market's ceiling need
    ``max_price``).
    """

    name: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = _common_params()
    constrained: ClassVar[bool] = True  # never quotes past its limit
    needs_max_price: ClassVar[tuple[Side, ...]] = ()

    def __init__(self, rng: np.random.Generator | None = None, **params: Any) -> None:
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.p = check_params(self.params, params)
        for required in ("side", "limit"):
            if self.p[required] is None:
                raise ConfigError(f"params.{required}: required for a {self.name} trader")
        self.side: Side = self.p["side"]
        self.limit: int = self.p["limit"]
        self.units: int = self.p["units"]
        self.min_price: int = self.p["min_price"]
        self.max_price: int | None = self.p["max_price"]
        self.tick: int = self.p["tick"]
        if self.side in self.needs_max_price and self.max_price is None:
            raise ConfigError(f"params.max_price: required for a {self.name} {self.side}er")
        if self.max_price is not None and self.max_price < self.min_price:
            raise ConfigError("params.max_price: must be at least min_price")
        self.units_left: int = self.units
        self.profit: int = 0
        self.trades: int = 0

    @property
    def is_buyer(self) -> bool:
        return self.side == "buy"

    @property
    def active(self) -> bool:
        """Whether it still has units to trade today."""
        return self.units_left > 0

    @property
    def ceiling(self) -> int:
        """The highest price it may quote (``max_price``, else its limit for a seller)."""
        return self.max_price if self.max_price is not None else max(self.limit, self.min_price)

    def order(self, now: float, top: BookTop) -> int | None:
        """The price of its next one-unit order, or ``None`` (no units left, or waiting).

        The price is within ``[min_price, max_price]`` and, for a constrained trader, never past
        its limit; ``None`` too when no such price exists (a buyer whose limit is below the
        market's ``min_price``, a seller whose cost is above its ``max_price``).
        """
        if not self.active:
            return None
        raw = self.quote(now, top)
        if raw is None:
            return None
        low = self.min_price
        high = self.max_price if self.max_price is not None else math.inf
        if self.constrained:
            if self.is_buyer:
                high = min(high, self.limit)
            else:
                low = max(low, self.limit)
        if low > high:
            return None
        return int(min(max(int(raw), low), high))

    def quote(self, now: float, top: BookTop) -> int | None:
        """The strategy's price before the limit and the market's bounds are applied."""
        raise NotImplementedError

    def respond(self, now: float, top: BookTop, trade: Trade | None) -> None:
        """Learn from one market event (default: nothing to learn)."""

    def filled(self, now: float, price: int, quantity: int = 1) -> None:
        """One of its orders traded ``quantity`` units at ``price``: book the profit.

        Raises :class:`~auctionhouse.errors.ConfigError` if it had fewer units left.
        """
        if quantity < 1 or quantity > self.units_left:
            raise ConfigError(f"a fill of {quantity} units but {self.units_left} left")
        self.units_left -= quantity
        self.trades += quantity
        gain = self.limit - price if self.is_buyer else price - self.limit
        self.profit += gain * quantity

    def restock(self, units: int | None = None, limit: int | None = None) -> None:
        """A new trading day (or a new customer order, in BSE's terms): ``units`` (default: its
        ``units``) to trade again, at a new ``limit`` if given. Raises ``ConfigError`` for a
        negative count or a limit below 1."""
        if (units is not None and units < 0) or (limit is not None and limit < 1):
            raise ConfigError("restock needs units >= 0 and a limit >= 1")
        self.units_left = self.units if units is None else units
        if limit is not None:
            self.limit = limit

    def better(self, price: int, steps: int) -> int:
        """``steps`` ticks more attractive to the other side than ``price`` (a buyer bids higher,
        a seller asks lower)."""
        return price + steps * self.tick if self.is_buyer else price - steps * self.tick

    def _draw(self, low: int, high: int) -> int:
        """An integer uniform on ``[low, high]`` (both included)."""
        return int(self.rng.integers(low, high + 1)) if high >= low else low


TRADERS: Registry[Trader] = Registry("trader")
REGISTRY = TRADERS.classes
register_trader = TRADERS.register


def make_trader(
    name: str, params: dict[str, Any] | None = None, rng: np.random.Generator | None = None
) -> Trader:
    """The trader registered as ``name`` (case-insensitive: ``"ZIC"`` or ``"zic"``), built with
    ``params`` (``side``, ``limit``, ...). Raises ``ConfigError`` for an unknown name or a bad
    parameter."""
    return TRADERS.make(name.lower(), params, rng)


@register_trader
class ZIC(Trader):
    """Zero-intelligence constrained (Gode and Sunder 1993): a buyer bids uniformly in
    ``[min_price, limit]``, a seller asks uniformly in ``[cost, max_price]``; no memory, no
    learning, never a loss."""

    name = "zic"
    needs_max_price = ("sell",)

    def quote(self, now: float, top: BookTop) -> int | None:
        if self.is_buyer:
            return self._draw(self.min_price, self.limit)
        return self._draw(self.limit, self.ceiling)


@register_trader
class ZIU(Trader):
    """Zero-intelligence unconstrained (Gode and Sunder 1993's ZI-U): buyers and sellers both
    draw uniformly in ``[min_price, max_price]``, ignoring their value or cost, so they can trade
    at a loss. Only for comparison with ZIC."""

    name = "ziu"
    constrained = False
    needs_max_price = ("buy", "sell")

    def quote(self, now: float, top: BookTop) -> int | None:
        return self._draw(self.min_price, self.ceiling)


@register_trader
class GVWY(Trader):
    """Giveaway (BSE): quotes its limit. In a CDA a trade is at the resting order's price, so a
    GVWY order that rests earns nothing and one that crosses the book earns the gap."""

    name = "gvwy"

    def quote(self, now: float, top: BookTop) -> int | None:
        return self.limit


@register_trader
class SHVR(Trader):
    """Shaver (BSE): one tick better than the best quote on its own side (a buyer bids
    ``best_bid + tick``, a seller asks ``best_ask - tick``), never past its limit; on an empty
    side it opens at the worst price (``min_price`` for a bid, ``max_price`` for an ask)."""

    name = "shvr"
    needs_max_price = ("sell",)

    def quote(self, now: float, top: BookTop) -> int | None:
        own = top.best_bid if self.is_buyer else top.best_ask
        if own is None:
            return self.min_price if self.is_buyer else self.ceiling
        return self.better(own, 1)


@register_trader
class SNPR(Trader):
    """Sniper (BSE): lurks until only ``lurk`` of the session is left, then shaves the best
    quote on its own side by ``int(1 / (0.01 + f / (growth * lurk)))`` ticks, ``f`` the share of
    the session left: 2 ticks when it wakes, up to 100 at the close. Never past its limit."""

    name = "snpr"
    needs_max_price = ("sell",)
    params: ClassVar[dict[str, Param]] = {
        **_common_params(),
        "lurk": Param("fraction", 0.2, "share of the session left when it starts to quote"),
        "growth": Param("float", 3.0, "how fast the shave grows as the close nears"),
    }

    def shave(self, fraction_left: float) -> int:
        """Ticks to shave with ``fraction_left`` of the session to run (BSE's formula)."""
        return int(1.0 / (0.01 + fraction_left / (self.p["growth"] * self.p["lurk"])))

    def quote(self, now: float, top: BookTop) -> int | None:
        left = top.fraction_left
        if left > self.p["lurk"]:
            return None
        own = top.best_bid if self.is_buyer else top.best_ask
        if own is None:
            return self.min_price if self.is_buyer else self.ceiling
        return self.better(own, self.shave(left))


@register_trader
class ZIP(Trader):
    """Zero-intelligence plus (Cliff 1997): quotes ``limit * (1 + margin)`` and adapts its
    margin after every market event.

    Margin: a seller's ``mu >= 0``, a buyer's ``-1 <= mu <= 0``; the first ``|mu|`` is
    ``margin`` or drawn U[0.05, 0.35]. Learning rate ``beta`` (else U[0.1, 0.5]) and momentum
    ``momentum`` (gamma, else U[0, 0.1]) are the trader's own, as in Cliff's section 4.3.

    Update (Widrow-Hoff with momentum, Cliff's eqs. 10-14): toward a target price ``tau``,
    ``delta = beta * (tau - p)``, ``Gamma <- gamma * Gamma + (1 - gamma) * delta`` and
    ``mu <- (p + Gamma) / limit - 1``. Targets perturb the last shout's price ``q``:
    up ``R q + A`` with ``R ~ U[1, 1 + cr]``, ``A ~ U[0, ca]``; down ``R q - A`` with
    ``R ~ U[1 - cr, 1]`` (``ca`` in minor units).

    Rules (Cliff's section 4.2), ``p`` its current price, ``q`` the last shout's price:

    - seller: if the last shout was accepted at ``q``: raise the margin if ``p <= q``;
      else, if that shout was a bid, lower it if active and ``p >= q``. If the last shout was
      not accepted and was an offer: lower it if active and ``p >= q``.
    - buyer: if the last shout was accepted at ``q``: raise the margin if ``p >= q``; else,
      if that shout was an offer, lower it if active and ``p <= q``. If the last shout was not
      accepted and was a bid: lower it if active and ``p <= q``.

    In a CDA the accepted shout is the resting order (``Trade.resting``) and ``q`` the trade's
    price; an unaccepted shout is ``BookTop.shout``, or else inferred from a better best bid or
    best ask than at the previous event.
    """

    name = "zip"
    params: ClassVar[dict[str, Param]] = {
        **_common_params(),
        "margin": Param("fraction", None, "first |margin| (else U[0.05, 0.35])"),
        "beta": Param("fraction", None, "learning rate (else U[0.1, 0.5])"),
        "momentum": Param("fraction", None, "momentum gamma (else U[0, 0.1])"),
        "ca": Param("float", 5.0, "absolute target perturbation, minor units"),
        "cr": Param("fraction", 0.05, "relative target perturbation"),
    }

    def __init__(self, rng: np.random.Generator | None = None, **params: Any) -> None:
        super().__init__(rng, **params)
        p = self.p
        size = p["margin"] if p["margin"] is not None else float(self.rng.uniform(0.05, 0.35))
        self.margin = -size if self.is_buyer else size
        self.beta = p["beta"] if p["beta"] is not None else float(self.rng.uniform(0.1, 0.5))
        self.momentum = (
            p["momentum"] if p["momentum"] is not None else float(self.rng.uniform(0.0, 0.1))
        )
        self.change = 0.0  # Gamma, the momentum-smoothed last change of price
        self._last: BookTop | None = None

    @property
    def price(self) -> float:
        """Its current (unrounded) price, ``limit * (1 + margin)``."""
        return self.limit * (1.0 + self.margin)

    def quote(self, now: float, top: BookTop) -> int | None:
        return math.floor(self.price + 0.5)

    def _target(self, q: float, up: bool) -> float:
        r = float(self.rng.uniform(0.0, self.p["cr"]))
        a = float(self.rng.uniform(0.0, self.p["ca"]))
        return q * (1.0 + r) + a if up else q * (1.0 - r) - a

    def _alter(self, target: float) -> None:
        delta = self.beta * (target - self.price)
        self.change = self.momentum * self.change + (1.0 - self.momentum) * delta
        margin = (self.price + self.change) / self.limit - 1.0
        self.margin = min(0.0, max(-1.0, margin)) if self.is_buyer else max(0.0, margin)

    def _shout(self, top: BookTop) -> Shout | None:
        if top.shout is not None:
            return top.shout
        last = self._last
        if top.best_bid is not None and (
            last is None or last.best_bid is None or top.best_bid > last.best_bid
        ):
            return Shout("buy", top.best_bid)
        if top.best_ask is not None and (
            last is None or last.best_ask is None or top.best_ask < last.best_ask
        ):
            return Shout("sell", top.best_ask)
        return None

    def respond(self, now: float, top: BookTop, trade: Trade | None) -> None:
        shout = None if trade is not None else self._shout(top)
        self._last = top
        p = self.price
        if trade is not None:
            q = float(trade.price)
            if self.is_buyer:
                if p >= q:
                    self._alter(self._target(q, up=False))
                elif trade.resting == "sell" and self.active:
                    self._alter(self._target(q, up=True))
            elif p <= q:
                self._alter(self._target(q, up=True))
            elif trade.resting == "buy" and self.active:
                self._alter(self._target(q, up=False))
            return
        if shout is None or not self.active or shout.side != self.side:
            return
        q = float(shout.price)
        if self.is_buyer and p <= q:
            self._alter(self._target(q, up=True))
        elif not self.is_buyer and p >= q:
            self._alter(self._target(q, up=False))
