"""The one port agents trade through: :class:`Market`, and what they see of it, :class:`MarketView`.

An agent never touches a house directly. It holds a ``Market``: ``EmbeddedMarket``
(``agents.embedded``, an in-process ``AuctionHouse``) or ``RemoteMarket`` (``agents.remote``,
``auctionhouse serve`` through ``auctionhouse.client``). Both speak in the API's public dicts
(docs/api.md: the auction view, public events), so the same agent code runs in both.

A strategy sees a :class:`MarketView` (the public auction, plus what the house tells this bidder
about its own bids, plus the bidder's own value and budget left, which only it knows) and answers
``decide(view, now) -> Bid | None`` (STYLE.md section 10).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from auctionhouse.auction import Rules, least_next_bid
from auctionhouse.errors import AuctionhouseError
from auctionhouse.money import DEFAULT_CURRENCY, format_amount

_FLAT = Rules()  # the increment of an auction whose rules say nothing: 1 minor unit


@dataclass(frozen=True, slots=True)
class Bid:
    """A strategy's decision: bid ``amount`` (English: with an optional secret ``proxy_max``;
    Dutch: accept the clock price, paying at most ``amount``; sealed: the sealed bid)."""

    amount: int
    proxy_max: int | None = None


@dataclass(frozen=True, slots=True)
class Result:
    outcome: str
    winner: str | None
    price: int | None
    closed_at: float | None


@dataclass(frozen=True, slots=True)
class MarketView:
    """One auction as a bidder sees it at ``seen_at`` (house time)."""

    auction_id: str
    item: str
    method: str
    state: str
    seller: str
    starting_price: int
    min_increment: int
    decrement: int
    tick_seconds: float
    opens_at: float
    closes_at: float | None
    close_due_at: float | None
    expected_bids: int | None
    max_bidders: int | None
    has_reserve: bool
    reserve_met: bool | None
    price: int | None
    leader: str | None
    min_next_bid: int | None
    bid_count: int
    bidder_count: int
    seq: int
    result: Result | None
    seen_at: float
    # This bidder's side: who it is and what the house says of its bids (the "you" part) ...
    me: str | None = None
    my_bids: tuple[int, ...] = ()
    my_max: int | None = None
    # ... and what only it knows: its value for the item and the budget it may still commit.
    value: int = 0
    budget: int = 0
    # Dutch: the clock's public floor (never the secret reserve).
    floor_price: int = 1
    # The ISO 4217 code of every amount above (minor units): for the agent's log lines.
    currency: str = DEFAULT_CURRENCY
    # English: the auction's increment rules (flat, table or percentage; ``increment_rules``),
    # for the least next bid after a change the agent learns of first (``least_next_bid``).
    increments: Rules = _FLAT

    @classmethod
    def from_api(cls, view: dict[str, Any], *, seen_at: float, me: str | None = None) -> MarketView:
        """Build from the API's auction view (``GET /api/v1/auctions/{id}``)."""
        rules = view.get("rules") or {}
        raw = view.get("result")
        result = (
            Result(raw["outcome"], raw.get("winner"), raw.get("price"), raw.get("closed_at"))
            if raw
            else None
        )
        you = view.get("you") or {}
        return cls(
            auction_id=str(view["id"]),
            item=str((view.get("item") or {}).get("name", "")),
            method=str(view["method"]),
            state=str(view["state"]),
            seller=str(view.get("seller", "")),
            starting_price=int(rules.get("starting_price") or 1),
            min_increment=int(rules.get("min_increment") or 1),
            decrement=int(rules.get("decrement") or 0),
            tick_seconds=float(rules.get("tick_seconds") or 1.0),
            opens_at=float(view.get("opens_at") or 0.0),
            closes_at=view.get("closes_at"),
            close_due_at=view.get("close_due_at"),
            expected_bids=rules.get("expected_bids"),
            max_bidders=rules.get("max_bidders"),
            has_reserve=bool(rules.get("has_reserve")),
            reserve_met=view.get("reserve_met"),
            price=view.get("price"),
            leader=view.get("leader"),
            min_next_bid=view.get("min_next_bid"),
            bid_count=int(view.get("bid_count") or 0),
            bidder_count=int(view.get("bidder_count") or 0),
            seq=int(view.get("seq") or 0),
            result=result,
            seen_at=seen_at,
            me=me,
            my_bids=tuple(you.get("bids") or ()),
            my_max=you.get("max"),
            floor_price=int(rules.get("floor_price") or 1),
            currency=str(view.get("currency") or DEFAULT_CURRENCY),
            increments=increment_rules(rules),
        )

    def least_next_bid(self, price: int | None, leader: str | None) -> int | None:
        """English: the least next bid once ``leader`` leads at ``price`` (None when nobody
        does: the starting price), by the auction's own increment rules through the rules
        core (``auction.least_next_bid``); None for other methods."""
        if self.method != "english":
            return self.min_next_bid
        return least_next_bid(self.increments, price or 0, leader is not None)

    def mine(self, *, value: int, budget: int) -> MarketView:
        """This view with the bidder's own value and budget left filled in."""
        return replace(self, value=value, budget=budget)

    @property
    def closed(self) -> bool:
        return self.result is not None or self.state == "closed"

    @property
    def sealed(self) -> bool:
        return self.method in ("fpsb", "vickrey")

    @property
    def leading(self) -> bool:
        return self.me is not None and self.leader == self.me

    def deadline(self) -> float | None:
        """When the auction is due to close, as far as the public knows."""
        return self.close_due_at if self.close_due_at is not None else self.closes_at

    def remaining(self, now: float) -> float | None:
        due = self.deadline()
        return None if due is None else max(0.0, due - now)

    def elapsed_fraction(self, now: float) -> float:
        """0 at the opening, 1 at the close (1 when the auction has no deadline)."""
        due = self.deadline()
        if due is None or due <= self.opens_at:
            return 1.0
        return min(1.0, max(0.0, (now - self.opens_at) / (due - self.opens_at)))

    def clock_price(self, now: float) -> int | None:
        """Dutch: the clock price at ``now``, extrapolated from the price seen at ``seen_at``,
        down to the clock's public floor."""
        if self.method != "dutch" or self.price is None:
            return self.price
        if self.decrement <= 0 or now <= self.seen_at:
            return self.price

        def ticks(at: float) -> int:
            return math.floor(max(0.0, at - self.opens_at) / self.tick_seconds + 1e-9)

        drop = self.decrement * (ticks(now) - ticks(self.seen_at))
        return max(self.floor_price, self.price - drop)


def increment_rules(rules: dict[str, Any]) -> Rules:
    """The increment part of an auction's public rules (the API's ``rules``): its starting
    price, flat ``min_increment``, ``increment_table`` and ``increment_percent``. Rules the
    house accepted are valid; anything unreadable (a newer house) falls back to the flat one."""
    wanted = ("starting_price", "min_increment", "increment_table", "increment_percent")
    try:
        return Rules.from_dict({k: rules[k] for k in wanted if rules.get(k) is not None})
    except AuctionhouseError:
        return Rules(
            starting_price=int(rules.get("starting_price") or 1),
            min_increment=int(rules.get("min_increment") or 1),
        )


@dataclass(frozen=True, slots=True)
class SignedBid:
    """A bid as sent: signed once, so a retry after a lost answer sends the very same bytes
    (the house answers a byte-identical resend with the original ack: no double bid, no
    strike)."""

    auction_id: str
    amount: int
    proxy_max: int | None
    nonce: int | None
    ts: float | None
    signature: str | None


@dataclass(frozen=True, slots=True)
class MarketUpdate:
    """A public event of a watched auction, with the auction's view after it."""

    auction_id: str
    seq: int
    event: dict[str, Any]
    view: dict[str, Any]
    server_time: float


@dataclass(frozen=True, slots=True)
class ConnectionLost:
    """The market's connection dropped; it is reconnecting."""

    reason: str


@dataclass(frozen=True, slots=True)
class Reconnected:
    """The market is connected again; watched auctions were resubscribed after their last seq."""


Notice = MarketUpdate | ConnectionLost | Reconnected
Listener = Callable[[Notice], object]


class Market(Protocol):
    """What agents need of a house. Errors are ``auctionhouse.errors`` exceptions with their
    codes; a lost connection is ``HouseUnreachable`` (code ``house_unreachable``)."""

    account: str

    def now(self) -> float:
        """House time (estimated, for a remote house)."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def auctions(
        self, state: str | None = None, bidder: str | None = None
    ) -> list[dict[str, Any]]:
        """Auction views, newest first (``bidder``: only auctions that account bid in)."""
        ...

    async def view(self, auction_id: str) -> dict[str, Any]:
        """The auction's view with this account's ``you`` part."""
        ...

    async def create_auction(
        self, item: str, method: str, rules: dict[str, Any], description: str = ""
    ) -> dict[str, Any]: ...

    async def cancel(self, auction_id: str, reason: str = "") -> dict[str, Any]: ...

    async def sign_bid(
        self, auction_id: str, amount: int, proxy_max: int | None = None
    ) -> SignedBid:
        """Sign a bid once (a fresh nonce); ``send_bid`` may send it again after a lost answer."""
        ...

    async def send_bid(self, bid: SignedBid) -> dict[str, Any]:
        """Send a signed bid; the ack once it is durable."""
        ...

    async def watch(self, auction_ids: list[str] | str, listener: Listener) -> None:
        """Call ``listener`` with every public event of these auctions (``"*"``: all, including
        new ones), in seq order, and with connection notices."""
        ...

    async def unwatch(self, auction_ids: list[str], listener: Listener) -> None: ...


def money(minor: int | None, currency: str = DEFAULT_CURRENCY) -> str:
    """Minor units for the agent's log, with Babel's ``format_currency``: 15050 -> '€150.50'."""
    return format_amount(minor, currency)


def is_lost_connection(exc: BaseException) -> bool:
    return isinstance(exc, AuctionhouseError) and exc.code == "house_unreachable"
