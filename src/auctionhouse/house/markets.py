"""MarketDesk: the house's double-auction markets (docs/markets.md).

The desk is part of one ``AuctionHouse`` (``house.markets``) and shares what makes the house's
writes safe: its lock (one command at a time), its staged events and group commit (a market's
events are written in the same transactions as auctions'), its ledger (a market is one hash
chain, ``m1``, ``m2``...), its accounts, rate limits, signature check and spent nonces (an order
spends a nonce from the same sequence as the account's bids). The rules are in
``auction/market.py``; the desk settles identity, signature and limits, decides, applies,
stages, and answers once durable.

Every order and cancel must be signed (Ed25519 over ``house.signing.order_message`` /
``cancel_message``): a market moves money at once, with no close to review it, so there is no
unsigned path (docs/decisions/0018-market-rules.md).
"""

from __future__ import annotations

import heapq
import logging
import math
from collections import Counter
from collections.abc import Callable
from copy import copy
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from auctionhouse.auction.market import (
    CancelOrder,
    ClearCall,
    CloseMarket,
    CreateMarket,
    MarketCommand,
    MarketState,
    PlaceOrder,
    apply_market,
    book_view,
    decide_market,
    market_due_at,
    market_view,
    next_call_at,
    order_view,
    public_market_event,
)
from auctionhouse.auction.market_events import (
    MARKET_EVENT_CLASSES,
    MarketCreated,
    MarketEvent,
    OrderCancelled,
    OrderPlaced,
    Trade,
)
from auctionhouse.errors import (
    AuctionhouseError,
    InvalidRequest,
    LedgerError,
    NotFound,
    QuotaExceeded,
)
from auctionhouse.house.nonces import Spent
from auctionhouse.house.signing import cancel_message, order_message
from auctionhouse.house.verifier import CheckedCommand, SignatureCheck, make_message_check

if TYPE_CHECKING:
    from auctionhouse.house.accounts import Account
    from auctionhouse.house.house import AuctionHouse

log = logging.getLogger("auctionhouse.house")
MarketListener = Callable[[MarketEvent, MarketState], None]
MARKET_EVENTS = frozenset(MARKET_EVENT_CLASSES)
MAX_DEPTH = 500
MAX_TRADES_PAGE = 1000
RECENT_TRADES = 10_000  # trades kept per market for GET /markets/{id}/trades


class MarketDesk:
    """Markets of one house. Every public method takes the house lock."""

    def __init__(self, house: AuctionHouse) -> None:
        self._house = house
        self._markets: dict[str, MarketState] = {}
        self._events: dict[str, list[MarketEvent]] = {}
        self._trades: dict[str, list[Trade]] = {}
        self._timers: list[tuple[float, str]] = []
        self._timer_due: dict[str, float] = {}
        self._listeners: list[MarketListener] = []
        self._next_id = 1
        self.resent = 0  # byte-identical resends answered again
        # The house's totals from its log (replay included: they survive a restart), for
        # the metrics: trades and units traded, cancelled orders by reason.
        self.trades_made = 0
        self.units_traded = 0
        self.cancelled: Counter[str] = Counter()

    # ------------------------------------------------------------------ replay and indexes

    def replay(self, event: MarketEvent) -> None:
        """Fold one recorded event in (house start: apply only, no rule runs)."""
        self._index(event, apply_market(self._markets.get(event.market_id), event), timers=False)

    def after_replay(self) -> None:
        for mid, state in self._markets.items():
            due = market_due_at(state)
            if due is not None:
                self._timer_due[mid] = due
                self._timers.append((due, mid))
        heapq.heapify(self._timers)

    def _index(self, event: MarketEvent, state: MarketState, *, timers: bool = True) -> None:
        mid = event.market_id
        self._markets[mid] = state
        self._events.setdefault(mid, []).append(event)
        kind = type(event)
        if kind is Trade:
            trades = self._trades.setdefault(mid, [])
            trades.append(event)  # type: ignore[arg-type]
            self.trades_made += 1
            self.units_traded += event.quantity  # type: ignore[union-attr]
            if len(trades) > 2 * RECENT_TRADES:
                del trades[:RECENT_TRADES]
        elif kind is OrderPlaced or kind is OrderCancelled:
            if kind is OrderCancelled:
                self.cancelled[event.reason] += 1  # type: ignore[union-attr]
            nonce = event.nonce  # type: ignore[union-attr]
            if nonce is not None:
                who = event.trader if kind is OrderPlaced else event.by  # type: ignore[union-attr]
                # kept as a pointer into the log: a byte-identical resend is answered again
                self._house._nonces.remember(who, nonce, Spent(mid, event.seq))
        elif kind is MarketCreated and mid[1:].isascii() and mid[1:].isdigit():
            self._next_id = max(self._next_id, int(mid[1:]) + 1)
        if timers:
            due = market_due_at(state)
            if due is not None and self._timer_due.get(mid) != due:  # once per due time
                self._timer_due[mid] = due
                heapq.heappush(self._timers, (due, mid))

    # ------------------------------------------------------------------ the write path

    def _run(self, command: MarketCommand, now: float) -> list[MarketEvent]:
        """Decide, apply and stage ``command`` under the house lock; durable before return
        unless the house is batching (the async service writes the staged events)."""
        house = self._house
        with house._lock:
            house._refuse_if_read_only()
            if house._failed is not None:
                raise LedgerError(
                    f"the house stopped writing after a ledger failure: {house._failed}"
                )
            state = self._markets.get(command.market_id)
            events: list[MarketEvent] = decide_market(state, command, now)
            for event in events:
                state = apply_market(state, event)
                self._index(event, state)
            house._staged.extend(events)
            house._dirty_since_checkpoint = True
            if house._batch_depth == 0 and house.auto_flush:
                house.flush()
            return events

    def notify(self, event: MarketEvent) -> None:
        """Tell the market listeners of one durable event (called by ``AuctionHouse.notify``)."""
        state = self._markets[event.market_id]
        for listener in list(self._listeners):
            try:
                listener(event, state)
            except Exception:  # a failing listener never stops the others nor the ack
                log.exception("a market listener failed on %s", type(event).__name__)

    def subscribe(self, listener: MarketListener) -> Callable[[], None]:
        """Call ``listener(event, state)`` for every market event once it is durable."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # ------------------------------------------------------------------ commands

    def create_market(
        self,
        owner_id: str,
        name: str,
        kind: str = "cda",
        *,
        max_price: int | None = None,
        max_quantity: int | None = None,
        call_interval: float | None = None,
        closes_at: float | None = None,
        duration: float | None = None,
        market_id: str | None = None,
    ) -> dict[str, Any]:
        """A new market owned by ``owner_id``; returns its public view once durable.

        ``kind`` ``cda`` or ``call`` (then ``call_interval`` seconds > 0); ``closes_at`` (house
        time) or ``duration`` (seconds from now), else open until closed. Raises
        ``InvalidRequest``, ``QuotaExceeded`` (the owner's open markets and auctions share the
        house's ``max_concurrent_auctions``), ``RateLimited``."""
        house = self._house
        owner = house._account(owner_id)
        now = house.clock.now()
        house._account_limiter.take(owner.id, now, "requests from your account")
        if duration is not None:
            if closes_at is not None:
                raise InvalidRequest("give closes_at or duration, not both")
            if not isinstance(duration, int | float) or isinstance(duration, bool):
                raise InvalidRequest("duration must be seconds")
            if not 0 < duration < 10**9:
                raise InvalidRequest("duration must be seconds > 0")
            closes_at = now + duration
        with house._lock:
            open_here = sum(
                1 for s in self._markets.values() if s.owner == owner.id and not s.closed
            )
            limit = house.config.max_concurrent_auctions
            if open_here >= limit:
                raise QuotaExceeded(f"an account may own {limit} open markets")
            mid = market_id or f"m{self._next_id}"
            command = CreateMarket(mid, owner.id, name, kind, closes_at=closes_at)
            rules: dict[str, Any] = {"call_interval": call_interval}
            if max_price is not None:
                rules["max_price"] = max_price
            if max_quantity is not None:
                rules["max_quantity"] = max_quantity
            command = replace(command, **rules)
            self._run(command, now)
            return self.view(mid)

    def place_order(
        self,
        trader_id: str,
        market_id: str,
        side: str,
        price: int,
        quantity: int,
        *,
        nonce: int | None,
        ts: float | None,
        signature: str | None,
    ) -> dict[str, Any]:
        """Place a signed limit order; returns the ack once durable: the order's id, the trades
        it made at once (CDA), the self-trade cancels it caused, what rests and the top of book.

        Refusals (nothing changes but a spent nonce once the signature holds, as for bids):
        ``SignatureRequired``, ``BadSignature``, ``ReplayedNonce``, ``StaleTimestamp``,
        ``InvalidOrder``, ``MarketClosedError``, ``NotFound``, ``RateLimited``."""
        house = self._house
        house._refuse_if_read_only()
        now = house.clock.now()
        account = house._account(trader_id)
        house._account_limiter.take(account.id, now, "orders from your account")
        with house._lock:
            self._state(market_id)
            self._close_if_due(market_id, now)
            command = PlaceOrder(market_id, account.id, side, price, quantity, nonce, ts, signature)
            return self._signed(
                account,
                command,
                lambda n, t: order_message(market_id, account.id, side, price, quantity, n, t),
                now,
            )

    def cancel_order(
        self,
        account_id: str,
        market_id: str,
        order_id: int,
        *,
        nonce: int | None,
        ts: float | None,
        signature: str | None,
    ) -> dict[str, Any]:
        """Cancel the unfilled rest of one's own live order (signed, ``cancel_message``); an
        admin may cancel any order with a signature of their own. Refusals: those of an order,
        ``NotFound`` (no such live order), ``NotYourOrder``."""
        house = self._house
        house._refuse_if_read_only()
        now = house.clock.now()
        account = house._account(account_id)
        house._account_limiter.take(account.id, now, "orders from your account")
        with house._lock:
            self._state(market_id)
            self._close_if_due(market_id, now)
            if not isinstance(order_id, int) or isinstance(order_id, bool):
                raise InvalidRequest("order_id must be a whole number")
            command = CancelOrder(
                market_id, account.id, order_id, account.is_admin, nonce, ts, signature
            )
            return self._signed(
                account,
                command,
                lambda n, t: cancel_message(market_id, account.id, order_id, n, t),
                now,
            )

    def close_market(self, account_id: str, market_id: str, reason: str = "") -> dict[str, Any]:
        """Close a market (its owner or an admin): resting orders are cancelled; a call
        market clears once more first."""
        house = self._house
        account = house._account(account_id)
        now = house.clock.now()
        with house._lock:
            self._state(market_id)
            self._close_if_due(market_id, now)
            self._run(CloseMarket(market_id, account.id, account.is_admin, reason), now)
            return self.view(market_id)

    def _signed(
        self,
        account: Account,
        command: PlaceOrder | CancelOrder,
        message: Callable[[int, float], bytes],
        now: float,
    ) -> dict[str, Any]:
        """Check, decide and answer a signed order or cancel. A byte-identical resend of one
        already answered (a client whose answer was lost) gets the first answer again, with no
        second order and no strike (decision 0008, as for bids); its nonce stays spent."""
        nonce, ts, signature = command.nonce, command.ts, command.signature
        resent = self._resend(account, command.market_id, message, nonce, ts, signature)
        if resent is not None:
            return resent
        self._check_signed(account, message, nonce, ts, signature, now)
        assert isinstance(nonce, int) and isinstance(ts, int | float) and signature is not None
        try:
            events = self._counted(command, now)
        except AuctionhouseError as exc:  # the signature held: a resend gets this refusal
            refused = Spent(command.market_id, None, message(nonce, ts), signature, copy(exc))
            self._house._nonces.remember(account.id, nonce, refused)
            raise
        return self._answer(events[0], events)

    def _resend(
        self,
        account: Account,
        market_id: str,
        message: Callable[[int, float], bytes],
        nonce: int | None,
        ts: float | None,
        signature: str | None,
    ) -> dict[str, Any] | None:
        """The first answer to a byte-identical resend, or None (not such a resend)."""
        if signature is None or not isinstance(nonce, int) or isinstance(nonce, bool):
            return None
        if not isinstance(ts, int | float) or isinstance(ts, bool):
            return None
        spent = self._house._nonces.find(account.id, nonce)
        if spent is None or spent.auction_id != market_id:
            return None
        text = message(nonce, ts)
        if spent.seq is None:  # refused the first time: refused again, the same way
            if spent.message != text or spent.signature != signature or spent.error is None:
                return None
            self.resent += 1
            raise copy(spent.error)
        log = self._events[market_id]
        first = log[spent.seq - 1]
        if type(first) is OrderPlaced and first.trader == account.id:
            original = order_message(
                market_id, first.trader, first.side, first.price, first.quantity, nonce, ts
            )
        elif type(first) is OrderCancelled and first.by == account.id:
            original = cancel_message(market_id, first.by, first.order_id, nonce, ts)
        else:
            return None
        if first.signature != signature or first.ts != ts or original != text:
            return None
        self.resent += 1
        events: list[MarketEvent] = [first]
        if type(first) is OrderPlaced:  # and what the same command decided with it
            for event in log[spent.seq :]:
                ours = type(event) is Trade and first.order_id in (
                    event.buy_order,
                    event.sell_order,
                )
                if not ours and not (
                    type(event) is OrderCancelled and event.reason == "self_trade"
                ):
                    break
                events.append(event)
        answer = self._answer(first, events)
        answer["resent"] = True
        return answer

    def _answer(self, first: MarketEvent, events: list[MarketEvent]) -> dict[str, Any]:
        if isinstance(first, OrderCancelled):
            return {
                "market": first.market_id,
                "order_id": first.order_id,
                "seq": first.seq,
                "cancelled": first.remaining,
                "book": self._top(first.market_id),
            }
        return self._order_ack(events)

    def _counted(self, command: MarketCommand, now: float) -> list[MarketEvent]:
        try:
            return self._run(command, now)
        except AuctionhouseError as exc:
            self._house.rejections[exc.code] += 1
            raise

    def _check_signed(
        self,
        account: Account,
        message: Callable[[int, float], bytes],
        nonce: int | None,
        ts: float | None,
        signature: str | None,
        now: float,
    ) -> None:
        """The house's rules for a signed command (``AuctionHouse._check_signature``, the
        bids' own), over ``message(nonce, ts)``: a verdict verified ahead in a batch
        (``order_check``) is used for exactly those bytes, else it is verified here."""
        house = self._house

        def verify_with(public_key: str) -> None:
            assert isinstance(nonce, int) and isinstance(ts, int | float) and signature
            house._verify_message(public_key, message(nonce, ts), signature)

        house._check_signature(
            account,
            nonce,
            ts,
            signature,
            now,
            verify_with,
            what="order",
            required="market orders and cancels must be signed",
        )

    def order_check(
        self,
        trader_id: str,
        market_id: str,
        side: str,
        price: int,
        quantity: int,
        *,
        nonce: int | None,
        ts: float | None,
        signature: str | None,
    ) -> SignatureCheck | None:
        """The check of a signed order (``place_order``'s arguments) a service verifies ahead,
        off the event loop, in a batch with bids (house/verifier.py); None: nothing to check
        ahead (``place_order`` refuses what is malformed itself)."""
        key = self._signing_key(trader_id, nonce, ts)
        if key is None:
            return None
        assert isinstance(nonce, int) and isinstance(ts, int | float)
        try:
            message = order_message(market_id, key[0], side, price, quantity, nonce, ts)
        except (TypeError, ValueError):  # not JSON: place_order refuses it
            return None
        return make_message_check(key[1], message, signature)

    def cancel_check(
        self,
        account_id: str,
        market_id: str,
        order_id: int,
        *,
        nonce: int | None,
        ts: float | None,
        signature: str | None,
    ) -> SignatureCheck | None:
        """The check of a signed cancel (``cancel_order``'s arguments), as ``order_check``."""
        key = self._signing_key(account_id, nonce, ts)
        if key is None:
            return None
        assert isinstance(nonce, int) and isinstance(ts, int | float)
        try:
            message = cancel_message(market_id, key[0], order_id, nonce, ts)
        except (TypeError, ValueError):
            return None
        return make_message_check(key[1], message, signature)

    def _signing_key(
        self, account_id: str, nonce: int | None, ts: float | None
    ) -> tuple[str, str | None] | None:
        if not isinstance(nonce, int) or isinstance(nonce, bool):
            return None
        if not isinstance(ts, int | float) or isinstance(ts, bool) or not math.isfinite(ts):
            return None
        try:
            account = self._house.accounts.get(account_id)
        except NotFound:
            return None
        return account.id, account.public_key

    def _order_ack(self, events: list[MarketEvent]) -> dict[str, Any]:
        """An order's ack from its command's events: its trades, the self-trade cancels it
        caused, and what rested after them; the top of the book as it is now."""
        placed = events[0]
        assert isinstance(placed, OrderPlaced)
        traded = sum(e.quantity for e in events if type(e) is Trade)
        return {
            "market": placed.market_id,
            "order_id": placed.order_id,
            "seq": events[-1].seq,
            "accepted": True,
            "trades": [public_market_event(e) for e in events if type(e) is Trade],
            "self_trade_cancels": [e.order_id for e in events if isinstance(e, OrderCancelled)],
            "remaining": placed.quantity - traded,
            "book": self._top(placed.market_id),
        }

    def _top(self, market_id: str) -> dict[str, Any]:
        state = self._markets[market_id]
        return {
            "best_bid": state.best_bid(),
            "best_ask": state.best_ask(),
            "last_price": state.last_price,
        }

    def _state(self, market_id: str) -> MarketState:
        if not isinstance(market_id, str):
            raise NotFound("no such market")
        state = self._markets.get(market_id)
        if state is None:
            raise NotFound(f"no market {market_id!r}")
        return state

    def _close_if_due(self, market_id: str, now: float) -> None:
        """A call due or a close passed is recorded before the command that finds it, so the
        order of events in the log, not a client, decides what a deadline means."""
        state = self._markets[market_id]
        due = market_due_at(state)
        if due is None or now < due:
            return
        call = next_call_at(state)
        if call is not None and now >= call and (state.closes_at is None or now < state.closes_at):
            self._run(ClearCall(market_id), now)
        elif state.closes_at is not None and now >= state.closes_at:
            self._run(CloseMarket(market_id, "house", True, "closes_at"), now)

    # ------------------------------------------------------------------ timers

    def tick(self, now: float) -> list[MarketEvent]:
        """Clear every call market whose period ended and close every market past its close
        (caller holds the house lock); returns the events."""
        done: list[MarketEvent] = []
        while self._timers and self._timers[0][0] <= now:
            _, mid = heapq.heappop(self._timers)
            state = self._markets[mid]
            due = market_due_at(state)
            if due is None:
                self._timer_due.pop(mid, None)
                continue
            if due > now:
                if self._timer_due.get(mid) != due:
                    self._timer_due[mid] = due
                    heapq.heappush(self._timers, (due, mid))
                continue
            self._timer_due.pop(mid, None)
            before = len(self._events[mid])
            self._close_if_due(mid, now)
            done.extend(self._events[mid][before:])
        return done

    def next_wakeup(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    # ------------------------------------------------------------------ reads

    def view(self, market_id: str, depth: int = 10) -> dict[str, Any]:
        """The public view of a market, with ``depth`` levels of its book a side."""
        return market_view(self._state(market_id), self._house.clock.now(), _depth(depth))

    def book(self, market_id: str, depth: int = 10) -> dict[str, Any]:
        return book_view(self._state(market_id), _depth(depth))

    def list_markets(self, *, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Public views (depth 5), newest first; ``state`` ``open``/``closed`` filters."""
        now = self._house.clock.now()
        out: list[dict[str, Any]] = []
        for s in reversed(self._markets.values()):
            view = market_view(s, now, 5)
            if state is not None and view["state"] != state:
                continue
            out.append(view)
            if len(out) >= limit:
                break
        return out

    def trades(self, market_id: str, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """Trades with ``trade_id > after``, oldest first, at most ``limit`` (the newest
        ``RECENT_TRADES`` of a market are kept here; the ledger has them all)."""
        self._state(market_id)
        for name, number in (("after", after), ("limit", limit)):
            if not isinstance(number, int) or isinstance(number, bool) or number < 0:
                raise InvalidRequest(f"{name} must be a whole number >= 0")
        trades = self._trades.get(market_id, [])
        start = 0
        if trades and after >= trades[0].trade_id:
            start = after - trades[0].trade_id + 1
        return [public_market_event(t) for t in trades[start : start + min(limit, 10_000)]]

    def recent_trades(self, market_id: str, count: int = 50) -> list[dict[str, Any]]:
        self._state(market_id)
        return [public_market_event(t) for t in self._trades.get(market_id, [])[-count:]]

    def events(self, market_id: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """The public form of a market's log after seq ``after`` (at most ``limit``)."""
        self._state(market_id)
        return [public_market_event(e) for e in self._events[market_id][after : after + limit]]

    def my_orders(self, market_id: str, account_id: str) -> list[dict[str, Any]]:
        """``account_id``'s live orders in a market (private to that account)."""
        state = self._state(market_id)
        return [order_view(o) for o in state.orders.values() if o.trader == account_id]

    def state(self, market_id: str) -> MarketState:
        """The full state: for the house's faces and tests."""
        return self._state(market_id)

    def counts(self) -> dict[str, Any]:
        """For the metrics: markets by state (``open``, ``closed``), trades and units traded,
        cancelled orders by reason (``cancel``, ``self_trade``, ``closed``), resends answered
        again. House-wide (a shared house's instances each count every market)."""
        now = self._house.clock.now()
        by_state: Counter[str] = Counter()
        for state in self._markets.values():
            closed = state.closed or (state.closes_at is not None and now >= state.closes_at)
            by_state["closed" if closed else "open"] += 1
        return {
            "by_state": dict(by_state),
            "trades": self.trades_made,
            "units": self.units_traded,
            "cancelled": dict(self.cancelled),
            "resent": self.resent,
        }

    def market_ids(self) -> list[str]:
        return list(self._markets)

    def log(self, market_id: str) -> list[MarketEvent]:
        """The market's events (private form), in seq order."""
        self._state(market_id)
        return list(self._events[market_id])


def _depth(depth: int) -> int:
    if not isinstance(depth, int) or isinstance(depth, bool) or not 1 <= depth <= MAX_DEPTH:
        raise InvalidRequest(f"depth must be from 1 to {MAX_DEPTH}")
    return depth


def place_order_command(
    trader_id: str,
    market_id: str,
    side: str,
    price: int,
    quantity: int,
    *,
    nonce: int | None,
    ts: float | None,
    signature: str | None,
) -> CheckedCommand[dict[str, Any]]:
    """The service command ``house.markets.place_order(...)``, whose signature the service
    verifies ahead in a batch (as ``verifier.place_bid_command`` does for bids)."""
    fields: dict[str, Any] = {"nonce": nonce, "ts": ts, "signature": signature}
    args = (trader_id, market_id, side, price, quantity)
    return CheckedCommand(
        lambda house: house.markets.place_order(*args, **fields),
        lambda house: house.markets.order_check(*args, **fields),
    )


def cancel_order_command(
    account_id: str,
    market_id: str,
    order_id: int,
    *,
    nonce: int | None,
    ts: float | None,
    signature: str | None,
) -> CheckedCommand[dict[str, Any]]:
    """The service command ``house.markets.cancel_order(...)``, checked ahead likewise."""
    fields: dict[str, Any] = {"nonce": nonce, "ts": ts, "signature": signature}
    args = (account_id, market_id, order_id)
    return CheckedCommand(
        lambda house: house.markets.cancel_order(*args, **fields),
        lambda house: house.markets.cancel_check(*args, **fields),
    )
