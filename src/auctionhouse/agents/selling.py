"""Seller strategies: how a seller agent sets an item's starting price and reserve.

- ``fixed``: shares of the seller's estimate of the item's value (or the listing's own prices);
- ``fuzzy-genetic``: a seller chromosome file from ``auctionhouse evolve --scenario seller
  --save`` (THESIS-MODEL.md: reserve, and the starting price for English and Dutch).

A :class:`Listing` is one item to sell; :func:`auction_rules` turns it and the chosen prices into
the rules the house is asked for (docs/api.md "Rules").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from auctionhouse.agents.params import Param, check_params, evolved_params
from auctionhouse.agents.registry import Registry
from auctionhouse.errors import ConfigError

METHODS = ("english", "dutch", "fpsb", "vickrey")


@dataclass(frozen=True)
class Listing:
    """One item a seller lists. ``value`` is the seller's estimate of what bidders value it at
    (minor units); ``rules`` are extra auction rules (duration, min_increment, decrement, ...);
    ``starting_price``/``reserve_price`` given here override the strategy."""

    name: str
    method: str
    value: int
    description: str = ""
    rules: dict[str, Any] = field(default_factory=dict)
    starting_price: int | None = None
    reserve_price: int | None = None


@dataclass(frozen=True, slots=True)
class Prices:
    starting_price: int
    reserve_price: int | None


class SellerStrategy:
    name: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}

    def __init__(self, rng: np.random.Generator | None = None, **params: Any) -> None:
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.p = check_params(self.params, params)

    def prices(self, listing: Listing) -> Prices:
        raise NotImplementedError

    def choose(self, listing: Listing) -> Prices:
        """The strategy's prices, with the listing's own prices taking precedence."""
        chosen = self.prices(listing)
        start = listing.starting_price or chosen.starting_price
        reserve = listing.reserve_price
        if reserve is None:
            reserve = chosen.reserve_price
        if listing.method == "dutch" and reserve is not None and start <= reserve:
            # A Dutch clock must start above the reserve to sell at all: give it room.
            start = max(reserve * 3 // 2, listing.value * 3 // 2)
        return Prices(max(1, start), reserve if reserve is None else max(1, reserve))


SELLER_STRATEGIES: Registry[SellerStrategy] = Registry("seller")
SELLERS = SELLER_STRATEGIES.classes
register_seller = SELLER_STRATEGIES.register
make_seller_strategy = SELLER_STRATEGIES.make


@register_seller
class Fixed(SellerStrategy):
    """Starting price and reserve as shares of the item's estimated value; a Dutch clock starts
    at ``dutch_start`` x the value."""

    name = "fixed"
    params: ClassVar[dict[str, Param]] = {
        "starting": Param("float", 0.5, "starting price as a share of the value"),
        "dutch_start": Param("float", 1.5, "Dutch starting price as a share of the value"),
        "reserve": Param("float", None, "reserve as a share of the value (none by default)"),
    }

    def prices(self, listing: Listing) -> Prices:
        share = self.p["dutch_start"] if listing.method == "dutch" else self.p["starting"]
        reserve = self.p["reserve"]
        return Prices(
            int(listing.value * share), None if reserve is None else int(listing.value * reserve)
        )


@register_seller
class FuzzyGeneticSeller(SellerStrategy):
    """The thesis' evolved seller: ``file`` (or ``evolved``, the file's content) maps the item's
    value ``v`` (its estimate) and valuation range ``range`` to a reserve and, for English and
    Dutch, a starting price. ``unit`` minor units make one unit of the file's money."""

    name = "fuzzy-genetic"
    params: ClassVar[dict[str, Param]] = evolved_params()

    def __init__(self, rng: np.random.Generator | None = None, **params: Any) -> None:
        from auctionhouse.agents.evolved import Evolved

        inline = params.pop("evolved", None)
        super().__init__(rng, **params)
        self.evolved = Evolved(self.p, inline, "seller")

    def prices(self, listing: Listing) -> Prices:
        out = self.evolved.amounts(listing.value)
        reserve = out.get("reserve") or None
        start = out.get("starting")
        if start is None or listing.method != self.evolved.model.method:
            # A starting price evolved for another method does not carry over (an English
            # opening is low, a Dutch one high): use the usual shares of the value.
            start = listing.value * 3 // 2 if listing.method == "dutch" else listing.value // 2
        return Prices(start, reserve)


def auction_rules(listing: Listing, prices: Prices) -> dict[str, Any]:
    """The rules to create ``listing``'s auction with."""
    if listing.method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}")
    rules: dict[str, Any] = {"starting_price": prices.starting_price}
    if prices.reserve_price is not None:
        rules["reserve_price"] = prices.reserve_price
    if listing.method == "dutch":
        rules.setdefault("decrement", max(1, listing.value // 50))
    else:
        rules.setdefault("min_increment", max(1, listing.value // 100))
    rules.update(listing.rules)
    return rules
