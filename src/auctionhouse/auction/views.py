"""What the public may see of an auction and of its events.

This is the one place that decides secrecy: the reserve price, proxy maxima and sealed bid amounts
(and sealed bidders) never leave here before close. Faces (HTTP, WebSocket, the web page, agents'
``MarketView``) build on these dicts and add nothing secret.
"""

from __future__ import annotations

from typing import Any

from auctionhouse.auction.events import (
    AuctionCancelled,
    AuctionClosed,
    AuctionCreated,
    AuctionPaused,
    AuctionResumed,
    BidPlaced,
    DeadlineExtended,
    Event,
)
from auctionhouse.auction.rules import close_due_at, dutch_price, min_next_bid
from auctionhouse.auction.state import AuctionState
from auctionhouse.auction.types import Method, Rules

_SECRET_RULES = ("reserve_price",)


def public_rules(rules: Rules) -> dict[str, Any]:
    out = rules.to_dict()
    for name in _SECRET_RULES:
        out.pop(name, None)
    out["has_reserve"] = rules.reserve_price is not None
    out.pop("duration", None)
    return out


def result_view(state: AuctionState) -> dict[str, Any] | None:
    if state.outcome is None:
        return None
    return {
        "outcome": state.outcome.value,
        "winner": state.winner,
        "price": state.final_price,
        "closed_at": state.closed_at,
    }


def public_view(state: AuctionState, now: float) -> dict[str, Any]:
    """The auction as anyone may see it at ``now``."""
    method = state.method
    closed = state.outcome is not None
    view: dict[str, Any] = {
        "id": state.auction_id,
        "seller": state.seller,
        "item": {"name": state.item_name, "description": state.item_description},
        "method": method.value,
        "rules": public_rules(state.rules),
        "state": state.phase(now).value,
        "created_at": state.created_at,
        "opens_at": state.opens_at,
        "closes_at": state.closes_at,
        "close_due_at": close_due_at(state),
        "seq": state.seq,
        "bid_count": len(state.bids),
        "bidder_count": len(state.bidders),
        "reserve_met": state.reserve_met,
        "result": result_view(state),
    }
    if method is Method.ENGLISH:
        view["price"] = state.price if state.leader is not None else None
        view["leader"] = state.leader
        view["min_next_bid"] = None if closed else min_next_bid(state, now)
    elif method is Method.DUTCH:
        view["price"] = state.price if closed and state.winner else dutch_price(state, now)
        view["leader"] = state.winner
        view["min_next_bid"] = None if closed else dutch_price(state, now)
    else:
        view["price"] = state.final_price if closed else None
        view["leader"] = state.winner if closed else None
        view["min_next_bid"] = None if closed else min_next_bid(state, now)
    return view


def public_event(event: Event, method: Method, revealed: bool) -> dict[str, Any]:
    """One ledger event as the public may see it. ``revealed`` is true once the auction has closed
    (sealed bids are shown then); proxy maxima and signature material are never shown."""
    base: dict[str, Any] = {"seq": event.seq, "at": event.at, "type": type(event).__name__}
    if isinstance(event, BidPlaced):
        if method.sealed and not revealed:
            base["bid_count_delta"] = 1
            return base
        base.update(bidder=event.bidder, amount=event.amount)
        if method is not Method.FPSB and method is not Method.VICKREY:
            base.update(price=event.price, leader=event.leader)
        return base
    if isinstance(event, AuctionCreated):
        base.update(
            seller=event.seller,
            item={"name": event.item_name, "description": event.item_description},
            method=event.method,
            rules=public_rules(event.rules),
        )
    elif isinstance(event, DeadlineExtended):
        base["closes_at"] = event.closes_at
    elif isinstance(event, AuctionPaused | AuctionCancelled):
        base["by"] = event.by
        if isinstance(event, AuctionCancelled):
            base["reason"] = event.reason
    elif isinstance(event, AuctionResumed):
        base.update(by=event.by, paused_for=event.paused_for)
    elif isinstance(event, AuctionClosed):
        base.update(
            outcome=event.outcome, winner=event.winner, price=event.price, bidders=event.bidders
        )
    return base
