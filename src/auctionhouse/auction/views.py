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
from auctionhouse.auction.rules import close_due_at, dutch_price, min_next_bid, outcome_now
from auctionhouse.auction.state import AuctionState
from auctionhouse.auction.types import DEFAULT_CURRENCY, Method, Outcome, Rules

_SECRET_RULES = ("reserve_price",)


def public_rules(rules: Rules) -> dict[str, Any]:
    out = rules.to_dict()
    for name in _SECRET_RULES:
        out.pop(name, None)
    out["has_reserve"] = rules.reserve_price is not None
    out.pop("duration", None)
    return out


def result_view(state: AuctionState, now: float | None = None) -> dict[str, Any] | None:
    """The outcome: the recorded one, or (given ``now``) the one the log implies once the close
    is due but not yet recorded (``closed_at`` is then the due time). None while it runs."""
    if state.outcome is not None:
        return {
            "outcome": state.outcome.value,
            "winner": state.winner,
            "price": state.final_price,
            "closed_at": state.closed_at,
        }
    if now is None:
        return None
    due = close_due_at(state)
    if due is None or now < due or now < state.opens_at:
        return None
    outcome, winner, price, _ = outcome_now(state)
    return {"outcome": outcome.value, "winner": winner, "price": price, "closed_at": due}


def public_view(state: AuctionState, now: float) -> dict[str, Any]:
    """The auction as anyone may see it at ``now``.

    Once closed (or past its due close) every field is frozen at the outcome, whatever the
    method and however it ended: ``price`` is the sale price or None when unsold, ``leader``
    the winner or None, ``min_next_bid`` and ``close_due_at`` None.
    ``currency`` is the ISO 4217 code every amount of the auction is in (minor units).
    """
    method = state.method
    result = result_view(state, now)
    view: dict[str, Any] = {
        "id": state.auction_id,
        "seller": state.seller,
        "item": {
            "name": state.item_name,
            "description": state.item_description,
            "photos": list(state.photos),
        },
        "method": method.value,
        "rules": public_rules(state.rules),
        "currency": state.rules.currency or DEFAULT_CURRENCY,
        "state": state.phase(now).value,
        "created_at": state.created_at,
        "opens_at": state.opens_at,
        "closes_at": state.closes_at,
        "close_due_at": None if result is not None else close_due_at(state),
        "seq": state.seq,
        "bid_count": len(state.bids),
        "bidder_count": len(state.bidders),
        "reserve_met": _reserve_met(state, result),
        "result": result,
    }
    if result is not None:
        view["price"] = result["price"]
        view["leader"] = result["winner"]
        view["min_next_bid"] = None
    elif method is Method.ENGLISH:
        view["price"] = state.price if state.leader is not None else None
        view["leader"] = state.leader
        view["min_next_bid"] = min_next_bid(state, now)
    elif method is Method.DUTCH:
        view["price"] = dutch_price(state, now)
        view["leader"] = None
        view["min_next_bid"] = view["price"]
    else:
        view["price"] = None
        view["leader"] = None
        view["min_next_bid"] = min_next_bid(state, now)
    return view


def _reserve_met(state: AuctionState, result: dict[str, Any] | None) -> bool | None:
    if state.rules.reserve_price is None:
        return None
    if result is not None:
        return bool(result["outcome"] == Outcome.SOLD.value)
    return state.reserve_met


def public_event(event: Event, method: Method, revealed: bool) -> dict[str, Any]:
    """One ledger event as the public may see it. ``revealed`` is true once the auction has closed
    (sealed bids are shown then); proxy maxima and signature material are never shown."""
    base: dict[str, Any] = {"seq": event.seq, "at": event.at, "type": type(event).__name__}
    if isinstance(event, BidPlaced):
        if method.sealed and not revealed:
            base["bid_count_delta"] = 1
            return base
        base.update(bidder=event.bidder, amount=_public_amount(event, method))
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
        if event.photos:
            base["item"]["photos"] = list(event.photos)
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


def _public_amount(event: BidPlaced, method: Method) -> int | None:
    """What the public may know of an English bid's amount: a plain bid that did not raise its
    own bidder's lead is public as it was made. A proxy bid's amount (which may equal its
    maximum) and a leader's raise (its new maximum) are secret: None; the price tells the rest."""
    if method is not Method.ENGLISH:
        return event.amount
    if event.proxy_max is not None:
        return None
    if event.leader == event.bidder and event.price != event.amount:
        return None  # the leader raised its own maximum; the price did not move
    return event.amount
