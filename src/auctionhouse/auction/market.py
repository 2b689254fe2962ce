"""Double auctions: a continuous double auction (CDA) and a call market. Pure, like ``rules.py``.

``decide_market(state, command, now) -> events`` validates a command and says what happened
(it never changes ``state``); ``apply_market(state, event) -> state`` folds one event in and never
refuses. Replay runs only ``apply_market``, so matching never runs twice on reload: the trades are
in the log, and folding them rebuilds the book exactly (tests/auction/test_market.py).

The rules (docs/markets.md, docs/decisions/0018-market-rules.md):

- A limit order has a side (``buy``: a bid, ``sell``: an ask), a price per unit in integer minor
  units (1..``max_price``) and a quantity in whole units (1..``max_quantity``).
- CDA: an incoming order trades at once against the best resting orders of the other side while
  they cross its limit, best price first and, at one price, oldest first (price-time priority);
  each trade is at the **resting** order's price, for the smaller of the two quantities (partial
  fills). What is left rests in the book. At rest the book is never crossed.
- Call market: orders rest without trading; every ``call_interval`` seconds (and at the close)
  the market clears at one uniform price: the volume-maximising prices form an interval of
  integers [lo, hi]; the clearing price is its midpoint rounded down, ``(lo + hi) // 2``. Bids at
  or above it and asks at or below it trade in price-time priority up to that volume.
- Self-trade prevention, "cancel resting": an order is never filled against its own account.
  When an incoming order would trade against (CDA) or cross (call market) a resting opposite
  order of the same account, that resting order is cancelled (``OrderCancelled`` reason
  ``self_trade``) and the incoming order goes on.
- Cancels remove an order's unfilled rest; only its trader (or an admin) may cancel it.

The book: per side a dict of price levels (each a deque of orders in time order, FIFO) plus a
heap of the level prices. Why: the best price is a heap top (O(1) to read, O(log L) to add a
level), an order joins the back of its level in O(1), a fill leaves from the front in O(1), and
depth is read from the levels without walking every order. A sorted list of levels would make each
new level an O(L) insert; a heap of individual orders would make depth O(N). Cancels are lazy:
the order's rest drops to 0 and the level's total at once; the dead entry leaves its deque when it
reaches an end. Stale heap prices (emptied levels) are skipped when met and compacted when they
pile up.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice
from typing import Any

from auctionhouse.auction.market_events import (
    CallCleared,
    MarketClosed,
    MarketCreated,
    MarketEvent,
    OrderCancelled,
    OrderPlaced,
    Trade,
)
from auctionhouse.auction.types import utc_time
from auctionhouse.errors import (
    Conflict,
    Forbidden,
    InvalidOrder,
    InvalidRequest,
    MarketClosedError,
    NotFound,
    NotYourOrder,
    RuleViolation,
)

DEFAULT_MAX_PRICE = 10**12  # minor units per unit
DEFAULT_MAX_QUANTITY = 10**9  # units per order
MAX_NAME = 200


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class MarketKind(StrEnum):
    CDA = "cda"
    CALL = "call"


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class CreateMarket:
    """A new market. ``closes_at``: house time of the close (None: open until closed)."""

    market_id: str
    owner: str
    name: str
    kind: str = MarketKind.CDA.value
    max_price: int = DEFAULT_MAX_PRICE
    max_quantity: int = DEFAULT_MAX_QUANTITY
    call_interval: float | None = None
    closes_at: float | None = None


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """A limit order; identity (``trader``) and signature are settled by the house first."""

    market_id: str
    trader: str
    side: str
    price: int
    quantity: int
    nonce: int | None = None
    ts: float | None = None
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class CancelOrder:
    market_id: str
    by: str
    order_id: int
    as_admin: bool = False
    nonce: int | None = None
    ts: float | None = None
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class ClearCall:
    """Asked by the house's timer: clear a call market whose period has ended."""

    market_id: str


@dataclass(frozen=True, slots=True)
class CloseMarket:
    """Close by its owner or an admin (``by``), or by the house at ``closes_at`` (``by`` =
    ``"house"``, ``as_admin`` True). A call market clears one last time first."""

    market_id: str
    by: str
    as_admin: bool = False
    reason: str = ""


MarketCommand = CreateMarket | PlaceOrder | CancelOrder | ClearCall | CloseMarket


# --------------------------------------------------------------------------- state


class Order:
    """A resting (or just placed) order; ``remaining`` drops with fills, 0 once gone."""

    __slots__ = ("at", "order_id", "price", "quantity", "remaining", "seq", "side", "trader")

    def __init__(
        self, order_id: int, trader: str, side: Side, price: int, quantity: int, seq: int, at: float
    ) -> None:
        self.order_id = order_id
        self.trader = trader
        self.side = side
        self.price = price
        self.quantity = quantity
        self.remaining = quantity
        self.seq = seq
        self.at = at


class BookSide:
    """One side of the book: price levels (FIFO deques) and a heap of their prices.

    ``sign`` is -1 for bids (the heap is a min-heap: the highest bid is the smallest -price) and
    +1 for asks. ``totals[price]`` is the unfilled quantity resting at a price; a level exists
    exactly while its total is above 0.
    """

    __slots__ = ("counts", "heap", "levels", "sign", "totals")

    def __init__(self, sign: int) -> None:
        self.sign = sign
        self.levels: dict[int, deque[Order]] = {}
        self.totals: dict[int, int] = {}
        self.counts: dict[int, int] = {}  # live orders per level
        self.heap: list[int] = []

    def best(self) -> int | None:
        """The best price (highest bid, lowest ask), or None on an empty side."""
        heap, levels, sign = self.heap, self.levels, self.sign
        while heap:
            price = heap[0] * sign
            if price in levels:
                return price
            heapq.heappop(heap)  # a level that emptied: skip it for good
        return None

    def add(self, order: Order) -> None:
        price = order.price
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = deque()
            self.totals[price] = 0
            self.counts[price] = 0
            heapq.heappush(self.heap, price * self.sign)
            if len(self.heap) > 2 * len(self.levels) + 16:  # stale prices piled up: compact
                self.heap = [p * self.sign for p in self.levels]
                heapq.heapify(self.heap)
        level.append(order)
        self.totals[price] += order.remaining
        self.counts[price] += 1

    def take(self, order: Order, quantity: int) -> None:
        """``quantity`` of ``order`` leaves the book (a fill or a cancel of its rest)."""
        price = order.price
        order.remaining -= quantity
        total = self.totals[price] - quantity
        if order.remaining == 0:
            self.counts[price] -= 1
        if total == 0:
            del self.levels[price], self.totals[price], self.counts[price]
            heap, levels, sign = self.heap, self.levels, self.sign
            while heap and heap[0] * sign not in levels:  # keep the top live
                heapq.heappop(heap)
            return
        self.totals[price] = total
        level = self.levels[price]
        while level and level[0].remaining == 0:
            level.popleft()
        while level and level[-1].remaining == 0:
            level.pop()

    def in_priority(self) -> Iterator[int]:
        """Level prices best first, without changing the heap (a walk of the heap as a tree:
        O(k log k) for the first k levels, so a decision never sorts the whole side)."""
        heap, levels, sign = self.heap, self.levels, self.sign
        size = len(heap)
        seen: set[int] = set()
        frontier = [(heap[0], 0)] if heap else []
        push, pop = heapq.heappush, heapq.heappop
        while frontier:
            key, i = pop(frontier)
            child = 2 * i + 1
            if child < size:
                push(frontier, (heap[child], child))
                if child + 1 < size:
                    push(frontier, (heap[child + 1], child + 1))
            price = key * sign
            if price in levels and price not in seen:
                seen.add(price)
                yield price

    def orders_in_priority(self) -> Iterator[Order]:
        for price in self.in_priority():
            for order in self.levels[price]:
                if order.remaining:
                    yield order

    def depth(self, limit: int) -> list[list[int]]:
        """Up to ``limit`` levels best first: ``[price, quantity, orders]``."""
        # The heap walk (O(k log k) for k levels), not a sort of every level: the hub sends the
        # top of the book with every event.
        prices = islice(self.in_priority(), limit)
        return [[p, self.totals[p], self.counts[p]] for p in prices]


class MarketState:
    """One market, folded from its events. Mutable for speed; only ``apply_market`` changes it."""

    __slots__ = (
        "asks",
        "bids",
        "call_interval",
        "closed_at",
        "closes_at",
        "created_at",
        "kind",
        "last_price",
        "market_id",
        "max_price",
        "max_quantity",
        "name",
        "next_order",
        "orders",
        "owner",
        "period",
        "seq",
        "trade_count",
        "traders",
        "volume",
    )

    def __init__(self, event: MarketCreated) -> None:
        self.market_id = event.market_id
        self.owner = event.owner
        self.name = event.name
        self.kind = MarketKind(event.kind)
        self.max_price = event.max_price
        self.max_quantity = event.max_quantity
        self.call_interval = event.call_interval
        self.closes_at = event.closes_at
        self.created_at = event.at
        self.seq = event.seq
        self.closed_at: float | None = None
        self.orders: dict[int, Order] = {}  # live orders (remaining > 0) by id
        self.bids = BookSide(-1)
        self.asks = BookSide(+1)
        self.next_order = 1
        self.trade_count = 0
        self.volume = 0
        self.last_price: int | None = None
        self.period = 0  # call market: periods cleared
        self.traders: set[str] = set()

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def side(self, side: Side) -> BookSide:
        return self.bids if side is Side.BUY else self.asks

    def best_bid(self) -> int | None:
        return self.bids.best()

    def best_ask(self) -> int | None:
        return self.asks.best()

    def snapshot(self) -> dict[str, Any]:
        """A plain, comparable form (replay == live is tested on it): every live order in
        book order with its rest, and the counters."""

        def side(book: BookSide) -> list[list[Any]]:
            return [
                [o.order_id, o.trader, o.price, o.quantity, o.remaining, o.seq]
                for o in book.orders_in_priority()
            ]

        return {
            "market_id": self.market_id,
            "owner": self.owner,
            "kind": self.kind.value,
            "seq": self.seq,
            "closed_at": self.closed_at,
            "bids": side(self.bids),
            "asks": side(self.asks),
            "orders": sorted(self.orders),
            "levels": [self.bids.depth(10**9), self.asks.depth(10**9)],
            "next_order": self.next_order,
            "trade_count": self.trade_count,
            "volume": self.volume,
            "last_price": self.last_price,
            "period": self.period,
            "traders": sorted(self.traders),
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MarketState):
            return NotImplemented
        return self.snapshot() == other.snapshot()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"MarketState({self.market_id!r}, {self.kind.value}, seq={self.seq}, "
            f"bid={self.best_bid()}, ask={self.best_ask()}, trades={self.trade_count})"
        )


# --------------------------------------------------------------------------- timers


def next_call_at(state: MarketState) -> float | None:
    """When a call market's current period ends (None: not a call market, or closed)."""
    if state.kind is not MarketKind.CALL or state.closed or state.call_interval is None:
        return None
    return state.created_at + (state.period + 1) * state.call_interval


def market_due_at(state: MarketState) -> float | None:
    """The next time the house must act on the market: a call, or the close (None: never)."""
    if state.closed:
        return None
    times = [t for t in (next_call_at(state), state.closes_at) if t is not None]
    return min(times) if times else None


# --------------------------------------------------------------------------- decide


def decide_market(state: MarketState | None, command: MarketCommand, now: float) -> list[Any]:
    """Validate ``command`` against ``state`` at ``now`` (house seconds); return its events.

    Raises ``InvalidRequest``/``InvalidOrder`` (malformed), ``MarketClosedError`` (closed or
    past its close), ``NotFound`` (no market, no such live order), ``NotYourOrder`` (a cancel of
    another account's order), ``Forbidden``, ``Conflict`` (the market exists). Never changes
    ``state``.
    """
    if isinstance(command, CreateMarket):
        return _decide_create(state, command, now)
    if state is None or command.market_id != state.market_id:
        raise NotFound(f"no market {command.market_id!r}")
    if isinstance(command, PlaceOrder):
        return _decide_order(state, command, now)
    if isinstance(command, CancelOrder):
        return _decide_cancel(state, command, now)
    if isinstance(command, ClearCall):
        return _decide_clear(state, now)
    if isinstance(command, CloseMarket):
        return _decide_close(state, command, now)
    raise InvalidRequest(f"unknown command {type(command).__name__}")


def _whole(name: str, value: object, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidOrder(f"{name} must be a whole number")
    if not low <= value <= high:
        raise InvalidOrder(f"{name} must be from {low} to {high}, not {value}")
    return value


def _decide_create(state: MarketState | None, cmd: CreateMarket, now: float) -> list[Any]:
    if state is not None:
        raise Conflict(f"market {cmd.market_id!r} already exists")
    if not isinstance(cmd.market_id, str) or not cmd.market_id.startswith("m"):
        raise InvalidRequest("a market id starts with 'm'")
    if not isinstance(cmd.name, str) or not cmd.name.strip() or len(cmd.name) > MAX_NAME:
        raise InvalidRequest(f"name must be a non-empty string of at most {MAX_NAME} characters")
    try:
        kind = MarketKind(cmd.kind)
    except ValueError:
        raise InvalidRequest("kind must be cda or call") from None
    _whole("max_price", cmd.max_price, 1, DEFAULT_MAX_PRICE)
    _whole("max_quantity", cmd.max_quantity, 1, DEFAULT_MAX_QUANTITY)
    interval = cmd.call_interval
    if kind is MarketKind.CALL:
        if not _positive_seconds(interval):
            raise InvalidRequest("a call market needs call_interval: seconds > 0")
    elif interval is not None:
        raise InvalidRequest("call_interval is for call markets only")
    if cmd.closes_at is not None and (not _seconds(cmd.closes_at) or cmd.closes_at <= now):
        raise InvalidRequest("closes_at must be a house time in the future")
    return [
        MarketCreated(
            market_id=cmd.market_id,
            seq=1,
            at=now,
            owner=cmd.owner,
            name=cmd.name.strip(),
            kind=kind.value,
            max_price=cmd.max_price,
            max_quantity=cmd.max_quantity,
            call_interval=float(interval) if interval is not None else None,
            closes_at=float(cmd.closes_at) if cmd.closes_at is not None else None,
        )
    ]


def _seconds(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _positive_seconds(value: object) -> bool:
    return _seconds(value) and 0 < value < 10**9  # type: ignore[operator]


def _market_closed(state: MarketState, due: float | None = None) -> MarketClosedError:
    """The refusal of an order on a closed market (or one past its ``due`` close): the close
    time said readably (UTC; faces show it local) and carried in ``closed_at`` (seconds)."""
    at = state.closed_at if state.closed_at is not None else due
    if at is None:  # pragma: no cover - a closed market records its close time
        return MarketClosedError(f"market {state.market_id} is closed")
    return MarketClosedError(f"market {state.market_id} closed at {utc_time(at)}", closed_at=at)


def _check_open(state: MarketState, now: float) -> None:
    if state.closed:
        raise _market_closed(state)
    if state.closes_at is not None and now >= state.closes_at:
        raise _market_closed(state, state.closes_at)


def _decide_order(state: MarketState, cmd: PlaceOrder, now: float) -> list[Any]:
    try:
        side = Side(cmd.side)
    except ValueError:
        raise InvalidOrder("side must be buy or sell") from None
    price = _whole("price", cmd.price, 1, state.max_price)
    quantity = _whole("quantity", cmd.quantity, 1, state.max_quantity)
    _check_open(state, now)
    order_id = state.next_order
    seq = state.seq + 1
    events: list[Any] = [
        OrderPlaced(
            state.market_id,
            seq,
            now,
            order_id,
            cmd.trader,
            side.value,
            price,
            quantity,
            cmd.nonce,
            cmd.ts,
            cmd.signature,
        )
    ]
    if state.kind is MarketKind.CALL:
        # No trade now; the trader's own resting orders this one would cross are cancelled,
        # so no clearing can ever pair an account with itself.
        for resting in _crossed(state, side, price):
            if resting.trader == cmd.trader:
                seq += 1
                events.append(_self_trade(state, resting, seq, now, cmd.trader))
        return events
    left = quantity
    trade_id = state.trade_count
    for resting in _crossed(state, side, price):
        seq += 1
        if resting.trader == cmd.trader:
            events.append(_self_trade(state, resting, seq, now, cmd.trader))
            continue
        fill = min(left, resting.remaining)
        trade_id += 1
        if side is Side.BUY:
            buy, sell, buyer, seller = order_id, resting.order_id, cmd.trader, resting.trader
        else:
            buy, sell, buyer, seller = resting.order_id, order_id, resting.trader, cmd.trader
        events.append(
            Trade(
                state.market_id,
                seq,
                now,
                trade_id,
                buy,
                sell,
                buyer,
                seller,
                resting.price,
                fill,
                side.value,
            )
        )
        left -= fill
        if left == 0:
            break
    return events


def _crossed(state: MarketState, side: Side, price: int) -> Iterator[Order]:
    """Resting orders of the other side that ``price`` crosses, in priority order."""
    if side is Side.BUY:
        for order in state.asks.orders_in_priority():
            if order.price > price:
                return
            yield order
    else:
        for order in state.bids.orders_in_priority():
            if order.price < price:
                return
            yield order


def _self_trade(state: MarketState, resting: Order, seq: int, now: float, by: str) -> Any:
    return OrderCancelled(
        state.market_id, seq, now, resting.order_id, by, "self_trade", resting.remaining
    )


def _decide_cancel(state: MarketState, cmd: CancelOrder, now: float) -> list[Any]:
    if not isinstance(cmd.order_id, int) or isinstance(cmd.order_id, bool):
        raise InvalidRequest("order_id must be a whole number")
    if state.closed:
        raise _market_closed(state)
    order = state.orders.get(cmd.order_id)
    if order is None:
        raise NotFound(f"no live order {cmd.order_id} in market {state.market_id}")
    if order.trader != cmd.by and not cmd.as_admin:
        raise NotYourOrder(f"order {cmd.order_id} is not yours")
    return [
        OrderCancelled(
            state.market_id,
            state.seq + 1,
            now,
            order.order_id,
            cmd.by,
            "cancel",
            order.remaining,
            cmd.nonce,
            cmd.ts,
            cmd.signature,
        )
    ]


def _decide_clear(state: MarketState, now: float) -> list[Any]:
    due = next_call_at(state)
    if due is None or now < due:
        raise RuleViolation(f"market {state.market_id} has no call due")
    assert state.call_interval is not None
    period = max(state.period + 1, int((now - state.created_at) // state.call_interval))
    return _clearing(state, now, period)


def _clearing(state: MarketState, now: float, period: int) -> list[Any]:
    """A call: ``CallCleared`` and its trades (uniform price, price-time priority)."""
    bids = list(state.bids.orders_in_priority())
    asks = list(state.asks.orders_in_priority())
    price, volume = clearing_price(
        [(o.price, o.remaining) for o in bids], [(o.price, o.remaining) for o in asks]
    )
    seq = state.seq + 1
    events: list[Any] = [CallCleared(state.market_id, seq, now, period, price, volume)]
    if price is None:
        return events
    buys = [o for o in bids if o.price >= price]
    sells = [o for o in asks if o.price <= price]
    buy_left = [o.remaining for o in buys]
    sell_left = [o.remaining for o in sells]
    trade_id = state.trade_count
    i = j = 0
    left = volume
    while left > 0:
        buy, sell = buys[i], sells[j]
        fill = min(buy_left[i], sell_left[j], left)
        seq += 1
        trade_id += 1
        events.append(
            Trade(
                state.market_id,
                seq,
                now,
                trade_id,
                buy.order_id,
                sell.order_id,
                buy.trader,
                sell.trader,
                price,
                fill,
                None,
            )
        )
        buy_left[i] -= fill
        sell_left[j] -= fill
        left -= fill
        if buy_left[i] == 0:
            i += 1
        if sell_left[j] == 0:
            j += 1
    return events


def clearing_price(
    bids: Iterable[tuple[int, int]], asks: Iterable[tuple[int, int]]
) -> tuple[int | None, int]:
    """The call market's uniform price: ``(price, volume)`` for bids and asks given as
    ``(limit price, quantity)`` (minor units, units); ``(None, 0)`` when no bid meets an ask.

    At a price p, demand D(p) is the quantity bid at p or more, supply S(p) the quantity asked at
    p or less, and the volume min(D(p), S(p)). The integer prices of greatest volume form an
    interval [lo, hi] (D falls and S rises with p, so every p between two such prices trades at
    least as much); the price is its midpoint rounded down, (lo + hi) // 2, which splits the
    range between the marginal bid and ask evenly (the k-double auction with k = 1/2, Satterthwaite
    and Williams 1989). O(n log n) in the number of orders.
    """
    bid_list = sorted(bids)
    ask_list = sorted(asks)
    bid_prices = [p for p, _ in bid_list]
    ask_prices = [p for p, _ in ask_list]
    # suffix sums of bid quantities (demand at >= p), prefix sums of ask quantities (<= p)
    demand_from = [0] * (len(bid_list) + 1)
    for k in range(len(bid_list) - 1, -1, -1):
        demand_from[k] = demand_from[k + 1] + bid_list[k][1]
    supply_upto = [0]
    for _, q in ask_list:
        supply_upto.append(supply_upto[-1] + q)

    def volume(p: int) -> int:
        demand = demand_from[bisect_left(bid_prices, p)]
        supply = supply_upto[bisect_right(ask_prices, p)]
        return min(demand, supply)

    candidates = {c + d for c in (*bid_prices, *ask_prices) for d in (-1, 0, 1) if c + d >= 1}
    best = 0
    lo = hi = 0
    for p in sorted(candidates):
        v = volume(p)
        if v > best:
            best, lo, hi = v, p, p
        elif v == best and v > 0:
            hi = p
    if best == 0:
        return None, 0
    return (lo + hi) // 2, best


def _decide_close(state: MarketState, cmd: CloseMarket, now: float) -> list[Any]:
    if state.closed:
        raise _market_closed(state)
    if cmd.by != state.owner and not cmd.as_admin:
        raise Forbidden("only the market's owner or an admin may close it")
    if not isinstance(cmd.reason, str) or len(cmd.reason) > MAX_NAME:
        raise InvalidRequest(f"reason must be a string of at most {MAX_NAME} characters")
    events: list[Any] = []
    if state.kind is MarketKind.CALL:
        events = _clearing(state, now, state.period + 1)
    seq = state.seq + len(events) + 1
    return [*events, MarketClosed(state.market_id, seq, now, cmd.by, cmd.reason)]


# --------------------------------------------------------------------------- apply


def apply_market(state: MarketState | None, event: MarketEvent) -> MarketState:
    """Fold ``event`` into ``state`` (None before the market exists); total: the event was
    decided before it was recorded."""
    if type(event) is MarketCreated:
        return MarketState(event)
    assert state is not None, "a market event before its MarketCreated"
    state.seq = event.seq
    if type(event) is OrderPlaced:
        order = Order(
            event.order_id,
            event.trader,
            Side(event.side),
            event.price,
            event.quantity,
            event.seq,
            event.at,
        )
        state.next_order = event.order_id + 1
        state.orders[order.order_id] = order
        state.side(order.side).add(order)  # CDA: its fills follow as Trade events
        state.traders.add(event.trader)
    elif type(event) is Trade:
        for order_id in (event.buy_order, event.sell_order):
            order = state.orders[order_id]
            state.side(order.side).take(order, event.quantity)
            if order.remaining == 0:
                del state.orders[order_id]
        state.trade_count = event.trade_id
        state.volume += event.quantity
        state.last_price = event.price
    elif type(event) is OrderCancelled:
        order = state.orders.pop(event.order_id)
        state.side(order.side).take(order, order.remaining)
    elif type(event) is CallCleared:
        state.period = event.period
    elif type(event) is MarketClosed:
        state.closed_at = event.at
        for order in state.orders.values():
            order.remaining = 0
        state.orders.clear()
        state.bids = BookSide(-1)
        state.asks = BookSide(+1)
    else:
        raise TypeError(f"not a market event: {event!r}")
    return state


def replay_market(events: Iterable[MarketEvent]) -> MarketState | None:
    """Rebuild one market from its events, in order."""
    state: MarketState | None = None
    for event in events:
        state = apply_market(state, event)
    return state


# --------------------------------------------------------------------------- public views


def market_view(state: MarketState, now: float, depth: int = 10) -> dict[str, Any]:
    """What anyone may see of a market: rules, phase, best prices, last price, volume and the
    book's top ``depth`` levels per side (``[price, quantity, orders]``). Who placed a resting
    order is not shown (the book is anonymous); trades name their accounts."""
    closed = state.closed or (state.closes_at is not None and now >= state.closes_at)
    return {
        "id": state.market_id,
        "name": state.name,
        "owner": state.owner,
        "kind": state.kind.value,
        "state": "closed" if closed else "open",
        "created_at": state.created_at,
        "closes_at": state.closes_at,
        "closed_at": state.closed_at,
        "max_price": state.max_price,
        "max_quantity": state.max_quantity,
        "call_interval": state.call_interval,
        "next_call_at": next_call_at(state),
        "best_bid": state.best_bid(),
        "best_ask": state.best_ask(),
        "last_price": state.last_price,
        "volume": state.volume,
        "trades": state.trade_count,
        "seq": state.seq,
        "book": book_view(state, depth),
    }


def book_view(state: MarketState, depth: int = 10) -> dict[str, Any]:
    """The book's depth: ``{"bids": [[price, quantity, orders], ...], "asks": [...]}``, best
    first, at most ``depth`` levels a side."""
    return {"bids": state.bids.depth(depth), "asks": state.asks.depth(depth), "seq": state.seq}


def order_view(order: Order) -> dict[str, Any]:
    """One live order, for its own trader."""
    return {
        "order_id": order.order_id,
        "side": order.side.value,
        "price": order.price,
        "quantity": order.quantity,
        "remaining": order.remaining,
        "at": order.at,
    }


# What the public sees of each event kind that is not shown whole: the book is anonymous, so
# orders go without trader or signature and cancels without who asked.
_PUBLIC_FIELDS: dict[type, tuple[str, ...]] = {
    OrderPlaced: ("order_id", "side", "price", "quantity"),
    OrderCancelled: ("order_id", "reason", "remaining"),
    Trade: (
        "trade_id",
        "buy_order",
        "sell_order",
        "buyer",
        "seller",
        "price",
        "quantity",
        "aggressor",
    ),
}


def public_market_event(event: MarketEvent) -> dict[str, Any]:
    """A market event as the public sees it: orders without trader or signature (the book is
    anonymous), cancels without who asked, trades and clearings whole."""
    fields = _PUBLIC_FIELDS.get(type(event))
    if fields is None:
        fields = tuple(name for name in event.__slots__ if name != "market_id")
    else:
        fields = ("seq", "at", *fields)
    data: dict[str, Any] = {"type": type(event).__name__}
    for name in fields:
        data[name] = getattr(event, name)
    return data
