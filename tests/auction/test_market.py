"""Double auctions (auction/market.py): the book's invariants for any sequence of orders and
cancels, checked against a naive reference book; the call market's clearing price against brute
force and hand-computed cases."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auctionhouse.auction.market import (
    CancelOrder,
    ClearCall,
    CloseMarket,
    CreateMarket,
    MarketCommand,
    MarketState,
    PlaceOrder,
    apply_market,
    clearing_price,
    decide_market,
    market_view,
    replay_market,
)
from auctionhouse.auction.market_events import (
    CallCleared,
    MarketClosed,
    OrderCancelled,
    OrderPlaced,
    Trade,
)
from auctionhouse.errors import (
    AuctionhouseError,
    Conflict,
    Forbidden,
    InvalidOrder,
    InvalidRequest,
    MarketClosedError,
    NotFound,
    NotYourOrder,
)

TRADERS = ["ann", "bob", "cat", "dan"]


class Market:
    """A market driven through decide/apply, keeping every event (the log)."""

    def __init__(self, kind: str = "cda", **rules: Any) -> None:
        self.state: MarketState | None = None
        self.log: list[Any] = []
        self.do(CreateMarket("m1", "owner", "widgets", kind, **rules), 0.0)

    def do(self, command: MarketCommand, now: float = 1.0) -> list[Any]:
        before = None if self.state is None else self.state.snapshot()
        try:
            events = decide_market(self.state, command, now)
        except AuctionhouseError:
            after = None if self.state is None else self.state.snapshot()
            assert after == before, "a refused command changed the state"
            raise
        for event in events:
            self.state = apply_market(self.state, event)
        self.log.extend(events)
        return events

    @property
    def s(self) -> MarketState:
        assert self.state is not None
        return self.state


# --------------------------------------------------------------------------- a naive reference


@dataclass
class RefOrder:
    order_id: int
    trader: str
    side: str
    price: int
    remaining: int
    seq: int


@dataclass
class RefBook:
    """The CDA done the obvious way: lists sorted on every step (slow, easy to trust)."""

    orders: list[RefOrder] = field(default_factory=list)
    next_id: int = 1

    def place(self, trader: str, side: str, price: int, qty: int, seq: int) -> list[tuple]:
        me = RefOrder(self.next_id, trader, side, price, qty, seq)
        self.next_id += 1
        out: list[tuple] = []
        if side == "buy":
            others = sorted(
                (o for o in self.orders if o.side == "sell" and o.price <= price),
                key=lambda o: (o.price, o.seq),
            )
        else:
            others = sorted(
                (o for o in self.orders if o.side == "buy" and o.price >= price),
                key=lambda o: (-o.price, o.seq),
            )
        for o in others:
            if me.remaining == 0:
                break
            if o.trader == trader:
                out.append(("cancel", o.order_id, o.remaining))
                self.orders.remove(o)
                continue
            fill = min(me.remaining, o.remaining)
            out.append(("trade", o.order_id, o.price, fill))
            o.remaining -= fill
            me.remaining -= fill
            if o.remaining == 0:
                self.orders.remove(o)
        if me.remaining:
            self.orders.append(me)
        return out

    def cancel(self, order_id: int) -> bool:
        for o in self.orders:
            if o.order_id == order_id:
                self.orders.remove(o)
                return True
        return False

    def side(self, side: str) -> list[list[Any]]:
        if side == "buy":
            key = lambda o: (-o.price, o.seq)  # noqa: E731
        else:
            key = lambda o: (o.price, o.seq)  # noqa: E731
        chosen = sorted((o for o in self.orders if o.side == side), key=key)
        return [[o.order_id, o.trader, o.price, o.remaining] for o in chosen]


def _outcome(events: list[Any]) -> list[tuple]:
    out: list[tuple] = []
    for e in events:
        if type(e) is Trade:
            resting = e.sell_order if e.aggressor == "buy" else e.buy_order
            out.append(("trade", resting, e.price, e.quantity))
        elif type(e) is OrderCancelled:
            out.append(("cancel", e.order_id, e.remaining))
    return out


order_st = st.tuples(
    st.sampled_from(TRADERS),
    st.sampled_from(["buy", "sell"]),
    st.integers(min_value=95, max_value=105),
    st.integers(min_value=1, max_value=5),
)
step_st = st.one_of(
    order_st.map(lambda o: ("order", *o)),
    st.tuples(st.sampled_from(TRADERS), st.integers(min_value=1, max_value=40)).map(
        lambda c: ("cancel", *c)
    ),
)


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(step_st, max_size=60))
def test_cda_invariants_hold_for_any_orders_and_cancels(steps: list[tuple]) -> None:
    market = Market()
    ref = RefBook()
    placed: dict[int, tuple[str, int]] = {}  # order id -> (trader, quantity)
    filled: dict[int, int] = {}
    cancelled: dict[int, int] = {}
    for i, step in enumerate(steps):
        now = 1.0 + i
        if step[0] == "order":
            _, trader, side, price, qty = step
            events = market.do(PlaceOrder("m1", trader, side, price, qty), now)
            placed_event = events[0]
            assert type(placed_event) is OrderPlaced
            placed[placed_event.order_id] = (trader, qty)
            expected = ref.place(trader, side, price, qty, placed_event.seq)
            # price-time priority, fills and self-trade cancels exactly as the naive book
            assert _outcome(events) == expected
            for e in events[1:]:
                if type(e) is Trade:
                    resting = e.sell_order if side == "buy" else e.buy_order
                    # at the RESTING order's price, never against its own account
                    assert e.buyer != e.seller
                    resting_price = next(
                        x.price
                        for x in market.log
                        if type(x) is OrderPlaced and x.order_id == resting
                    )
                    assert e.price == resting_price
                    assert e.aggressor == side
                    for oid in (e.buy_order, e.sell_order):
                        filled[oid] = filled.get(oid, 0) + e.quantity
                elif type(e) is OrderCancelled:
                    assert e.reason == "self_trade"
                    assert placed[e.order_id][0] == trader
                    cancelled[e.order_id] = e.remaining
        else:
            _, trader, order_id = step
            live = market.s.orders.get(order_id)
            try:
                events = market.do(CancelOrder("m1", trader, order_id), now)
            except NotFound:
                assert live is None
                continue
            except NotYourOrder:
                assert live is not None and live.trader != trader
                continue
            assert live is not None and live.trader == trader
            cancelled[order_id] = events[0].remaining
            assert ref.cancel(order_id)
        s = market.s
        # no crossed book at rest
        bid, ask = s.best_bid(), s.best_ask()
        assert bid is None or ask is None or bid < ask
        snap = s.snapshot()
        assert [[*row[:3], row[4]] for row in snap["bids"]] == ref.side("buy")
        assert [[*row[:3], row[4]] for row in snap["asks"]] == ref.side("sell")
        # levels agree with the orders in them
        for book, rows in ((snap["levels"][0], snap["bids"]), (snap["levels"][1], snap["asks"])):
            totals: dict[int, int] = {}
            for row in rows:
                totals[row[2]] = totals.get(row[2], 0) + row[4]
            assert {p: q for p, q, _ in book} == totals
    # quantities conserved: every order's quantity = filled + cancelled + resting
    resting = {o.order_id: o.remaining for o in market.s.orders.values()}
    for oid, (_, qty) in placed.items():
        assert filled.get(oid, 0) + cancelled.get(oid, 0) + resting.get(oid, 0) == qty
    # replay equals live
    rebuilt = replay_market(market.log)
    assert rebuilt is not None and rebuilt.snapshot() == market.s.snapshot()
    assert [e.seq for e in market.log] == list(range(1, len(market.log) + 1))


def test_trade_at_resting_price_partial_fill_and_time_priority() -> None:
    m = Market()
    m.do(PlaceOrder("m1", "ann", "sell", 101, 2))
    m.do(PlaceOrder("m1", "bob", "sell", 100, 3))
    m.do(PlaceOrder("m1", "cat", "sell", 100, 3))
    events = m.do(PlaceOrder("m1", "dan", "buy", 102, 7))
    trades = [(e.seller, e.price, e.quantity) for e in events if type(e) is Trade]
    assert trades == [("bob", 100, 3), ("cat", 100, 3), ("ann", 101, 1)]
    assert m.s.best_ask() == 101 and m.s.best_bid() is None
    assert market_view(m.s, 2.0)["book"]["asks"] == [[101, 1, 1]]
    assert m.s.last_price == 101 and m.s.volume == 7


def test_self_trade_cancels_the_resting_order_and_the_incoming_goes_on() -> None:
    m = Market()
    m.do(PlaceOrder("m1", "ann", "sell", 100, 2))  # order 1
    m.do(PlaceOrder("m1", "bob", "sell", 101, 2))  # order 2
    events = m.do(PlaceOrder("m1", "ann", "buy", 101, 3))  # order 3
    kinds = [(type(e).__name__, getattr(e, "order_id", None)) for e in events]
    assert kinds == [("OrderPlaced", 3), ("OrderCancelled", 1), ("Trade", None)]
    assert events[1].reason == "self_trade" and events[1].remaining == 2
    assert events[2].seller == "bob" and events[2].quantity == 2
    assert m.s.best_bid() == 101 and m.s.orders[3].remaining == 1


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (PlaceOrder("m1", "ann", "buy", 0, 1), InvalidOrder),
        (PlaceOrder("m1", "ann", "buy", -5, 1), InvalidOrder),
        (PlaceOrder("m1", "ann", "buy", 10, 0), InvalidOrder),
        (PlaceOrder("m1", "ann", "buy", 10, -1), InvalidOrder),
        (PlaceOrder("m1", "ann", "buy", 1001, 1), InvalidOrder),
        (PlaceOrder("m1", "ann", "buy", 10, 51), InvalidOrder),
        (PlaceOrder("m1", "ann", "buy", 10.5, 1), InvalidOrder),  # type: ignore[arg-type]
        (PlaceOrder("m1", "ann", "buy", True, 1), InvalidOrder),  # type: ignore[arg-type]
        (PlaceOrder("m1", "ann", "hold", 10, 1), InvalidOrder),
        (PlaceOrder("m2", "ann", "buy", 10, 1), NotFound),
        (CancelOrder("m1", "bob", 1), NotYourOrder),
        (CancelOrder("m1", "ann", 99), NotFound),
        (CloseMarket("m1", "bob"), Forbidden),
        (CreateMarket("m1", "x", "again"), Conflict),
        (ClearCall("m1"), AuctionhouseError),
    ],
)
def test_bad_commands_are_refused_with_their_code_and_change_nothing(
    command: MarketCommand, error: type[Exception]
) -> None:
    m = Market(max_price=1000, max_quantity=50)
    m.do(PlaceOrder("m1", "ann", "buy", 10, 1))
    with pytest.raises(error):
        m.do(command)  # Market.do asserts the state is unchanged


def test_a_closed_market_refuses_orders_and_cancels() -> None:
    m = Market(closes_at=50.0)
    m.do(PlaceOrder("m1", "ann", "buy", 10, 1))
    with pytest.raises(MarketClosedError):
        m.do(PlaceOrder("m1", "bob", "sell", 10, 1), 50.0)  # at its close time
    m.do(CloseMarket("m1", "owner", reason="done"), 20.0)
    assert m.s.closed and m.s.best_bid() is None and not m.s.orders
    for command in (PlaceOrder("m1", "bob", "sell", 10, 1), CancelOrder("m1", "ann", 1)):
        with pytest.raises(MarketClosedError):
            m.do(command, 21.0)


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "swap"},
        {"kind": "call"},  # no interval
        {"kind": "call", "call_interval": 0},
        {"kind": "cda", "call_interval": 5.0},
        {"max_price": 0},
        {"max_quantity": 0},
        {"closes_at": -1.0},
    ],
)
def test_bad_market_rules_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        decide_market(None, CreateMarket("m1", "o", "n", **bad), 0.0)


# --------------------------------------------------------------------------- call market


def _brute_volumes(bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> dict[int, int]:
    top = max([p for p, _ in bids + asks], default=1) + 2
    return {
        p: min(sum(q for b, q in bids if b >= p), sum(q for a, q in asks if a <= p))
        for p in range(1, top)
    }


side_st = st.lists(
    st.tuples(st.integers(min_value=1, max_value=60), st.integers(min_value=1, max_value=9)),
    max_size=12,
)


@settings(max_examples=400, deadline=None)
@given(bids=side_st, asks=side_st)
def test_clearing_price_maximises_volume_and_takes_the_midpoint(
    bids: list[tuple[int, int]], asks: list[tuple[int, int]]
) -> None:
    price, volume = clearing_price(bids, asks)
    volumes = _brute_volumes(bids, asks)
    best = max(volumes.values())
    assert volume == best
    if best == 0:
        assert price is None
        return
    tied = [p for p, v in volumes.items() if v == best]
    assert tied == list(range(min(tied), max(tied) + 1))  # an interval
    assert price == (min(tied) + max(tied)) // 2


@pytest.mark.parametrize(
    ("bids", "asks", "expected"),
    [
        # one bid 10 meets one ask 6: any price 6..10 trades 1; midpoint 8
        ([(10, 1)], [(6, 1)], (8, 1)),
        # no cross: no trade
        ([(5, 3)], [(6, 3)], (None, 0)),
        # demand 10@>=9 (5@10 + 5@9), asks 3@8 + 4@11: volume 3 for p in 8..10 -> 9
        ([(10, 5), (9, 5)], [(8, 3), (11, 4)], (9, 3)),
        # Smith-style schedule: buyers 20,18,16,14 / sellers 12,14,16,18 (1 each):
        # p=14: D=4 S=2 -> 2; p=15,16: D=3/3 S=2/3 -> 2/3; p=16 only gives 3 -> 16
        ([(20, 1), (18, 1), (16, 1), (14, 1)], [(12, 1), (14, 1), (16, 1), (18, 1)], (16, 3)),
        # equal prices: everything trades at 7
        ([(7, 4)], [(7, 4)], (7, 4)),
        # bigger supply: volume 5 for p in 3..9 -> 6
        ([(9, 5)], [(3, 8)], (6, 5)),
    ],
)
def test_clearing_price_hand_computed(
    bids: list[tuple[int, int]], asks: list[tuple[int, int]], expected: tuple[int | None, int]
) -> None:
    assert clearing_price(bids, asks) == expected


def test_call_market_collects_then_clears_at_one_price_in_priority_order() -> None:
    m = Market("call", call_interval=10.0)
    m.do(PlaceOrder("m1", "ann", "buy", 10, 5), 1.0)  # 1
    m.do(PlaceOrder("m1", "bob", "buy", 9, 5), 2.0)  # 2
    m.do(PlaceOrder("m1", "cat", "sell", 8, 3), 3.0)  # 3
    m.do(PlaceOrder("m1", "dan", "sell", 11, 4), 4.0)  # 4
    assert m.s.trade_count == 0 and m.s.best_bid() == 10 and m.s.best_ask() == 8  # crossed
    with pytest.raises(AuctionhouseError):
        m.do(ClearCall("m1"), 9.0)
    events = m.do(ClearCall("m1"), 10.0)
    assert type(events[0]) is CallCleared and events[0].price == 9 and events[0].volume == 3
    trades = [(e.buyer, e.seller, e.price, e.quantity) for e in events[1:]]
    assert trades == [("ann", "cat", 9, 3)]
    s = m.s
    assert s.best_bid() == 10 and s.best_ask() == 11 and s.orders[1].remaining == 2
    assert s.period == 1
    # the next call is due a period later; the close clears once more
    m.do(PlaceOrder("m1", "dan", "buy", 12, 1), 12.0)  # crosses dan's own ask 11: cancelled
    assert 4 not in m.s.orders
    events = m.do(CloseMarket("m1", "owner"), 15.0)
    assert [type(e) for e in events] == [CallCleared, MarketClosed]  # nothing crosses
    assert replay_market(m.log) == m.s


call_step = st.tuples(
    st.sampled_from(TRADERS),
    st.sampled_from(["buy", "sell"]),
    st.integers(min_value=1, max_value=20),
    st.integers(min_value=1, max_value=5),
)


@settings(max_examples=200, deadline=None)
@given(periods=st.lists(st.lists(call_step, max_size=10), min_size=1, max_size=5))
def test_call_market_clears_to_an_uncrossed_book_and_never_self_trades(
    periods: list[list[tuple[str, str, int, int]]],
) -> None:
    m = Market("call", call_interval=10.0)
    for k, orders in enumerate(periods):
        for j, (trader, side, price, qty) in enumerate(orders):
            m.do(PlaceOrder("m1", trader, side, price, qty), 10.0 * k + 1 + j * 0.1)
        bids = [(o.price, o.remaining) for o in m.s.bids.orders_in_priority()]
        asks = [(o.price, o.remaining) for o in m.s.asks.orders_in_priority()]
        expected = clearing_price(bids, asks)
        events = m.do(ClearCall("m1"), 10.0 * (k + 1))
        assert (events[0].price, events[0].volume) == expected
        assert sum(e.quantity for e in events[1:]) == expected[1]
        for e in events[1:]:
            assert e.buyer != e.seller and e.price == expected[0]
        bid, ask = m.s.best_bid(), m.s.best_ask()
        assert bid is None or ask is None or bid < ask
    assert replay_market(m.log) == m.s
