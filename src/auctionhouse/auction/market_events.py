"""Events of a double-auction market (``auction/market.py`` decides and applies them).

A market's events form one hash chain in the ledger, keyed like an auction's: the ledger reads
``event.auction_id``, which for a market event is its ``market_id`` (market ids start with
``m``; auction ids are digits, so the two never share a chain). Every order, cancel, trade,
call-market clearing and close is an event; prices are integer minor units per unit,
quantities whole units; ``at`` is house time in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MarketCreated:
    """A new market. ``kind`` is ``cda`` (continuous double auction) or ``call`` (a call
    market cleared every ``call_interval`` seconds). ``max_price``/``max_quantity`` bound every
    order; ``closes_at`` (None: open until closed by its owner or an admin)."""

    market_id: str
    seq: int
    at: float
    owner: str
    name: str
    kind: str
    max_price: int
    max_quantity: int
    call_interval: float | None = None
    closes_at: float | None = None

    @property
    def auction_id(self) -> str:
        return self.market_id


@dataclass(frozen=True, slots=True)
class OrderPlaced:
    """A limit order: ``side`` ``buy`` (a bid) or ``sell`` (an ask), ``price`` per unit,
    ``quantity`` units. ``nonce``, ``ts`` and ``signature`` are the trader's signed-order
    material (kept for audit). Trades it causes follow it as ``Trade`` events; what is left
    rests in the book (apply computes it: a CDA order first matches, a call order waits)."""

    market_id: str
    seq: int
    at: float
    order_id: int
    trader: str
    side: str
    price: int
    quantity: int
    nonce: int | None = None
    ts: float | None = None
    signature: str | None = None

    @property
    def auction_id(self) -> str:
        return self.market_id


@dataclass(frozen=True, slots=True)
class Trade:
    """``quantity`` units change hands at ``price`` between a buy and a sell order. In a CDA
    ``price`` is the resting (maker) order's and ``aggressor`` the side of the incoming order;
    in a call market ``price`` is the clearing price and ``aggressor`` is None."""

    market_id: str
    seq: int
    at: float
    trade_id: int
    buy_order: int
    sell_order: int
    buyer: str
    seller: str
    price: int
    quantity: int
    aggressor: str | None = None

    @property
    def auction_id(self) -> str:
        return self.market_id


@dataclass(frozen=True, slots=True)
class OrderCancelled:
    """An order's unfilled rest leaves the book: ``reason`` ``cancel`` (its trader asked; the
    signed material is kept), ``self_trade`` (an incoming order of the same account would
    have traded against it: docs/decisions/0018-market-rules.md) or ``closed``."""

    market_id: str
    seq: int
    at: float
    order_id: int
    by: str
    reason: str
    remaining: int
    nonce: int | None = None
    ts: float | None = None
    signature: str | None = None

    @property
    def auction_id(self) -> str:
        return self.market_id


@dataclass(frozen=True, slots=True)
class CallCleared:
    """A call market's period ended: ``price`` is the uniform clearing price (None when no
    bid met an ask) and ``volume`` the units traded; the ``Trade`` events follow it."""

    market_id: str
    seq: int
    at: float
    period: int
    price: int | None
    volume: int

    @property
    def auction_id(self) -> str:
        return self.market_id


@dataclass(frozen=True, slots=True)
class MarketClosed:
    """The market takes no more orders; every resting order is cancelled with it."""

    market_id: str
    seq: int
    at: float
    by: str
    reason: str = ""

    @property
    def auction_id(self) -> str:
        return self.market_id


MarketEvent = MarketCreated | OrderPlaced | Trade | OrderCancelled | CallCleared | MarketClosed
MARKET_EVENT_CLASSES: tuple[type[MarketEvent], ...] = (
    MarketCreated,
    OrderPlaced,
    Trade,
    OrderCancelled,
    CallCleared,
    MarketClosed,
)
