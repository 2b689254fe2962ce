"""decide and apply: every rule of an auction lives here (DESIGN.md section 2).

``decide(state, command, now)`` validates and returns the events the command causes, or raises a
``RuleViolation``/``InvalidRequest`` subclass; it never changes ``state``. ``apply(state, event)``
folds one event in; it is total (it trusts the event, which was decided before it was recorded).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from auctionhouse.auction.commands import (
    CancelAuction,
    CloseAuction,
    Command,
    CreateAuction,
    PauseAuction,
    PlaceBid,
    ResumeAuction,
)
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
from auctionhouse.auction.frozen import positional
from auctionhouse.auction.state import AuctionState, BidRecord
from auctionhouse.auction.types import Method, Outcome, Phase, Rules, check_amount, utc_time
from auctionhouse.errors import (
    AlreadyBid,
    AuctionFull,
    AuctionNotOpen,
    BidTooLow,
    CannotCancel,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    RuleViolation,
    SellerCannotBid,
)
from auctionhouse.errors import (
    AuctionClosed as AuctionClosedError,
)
from auctionhouse.errors import (
    AuctionPaused as AuctionPausedError,
)

# Float time arithmetic (opens_at + k * tick) must not make a tick boundary fall a hair early.
_EPS = 1e-9

# Every bid decided or replayed builds these two: without their per-field object.__setattr__.
_new_bid_placed = positional(BidPlaced)
_new_bid_record = positional(BidRecord)


# --------------------------------------------------------------------------- clocks and deadlines


def dutch_floor(state: AuctionState) -> int:
    """The Dutch clock's public floor: ``rules.floor_price``, else 1. Never the reserve: the
    clock's path and its close time must not depend on a secret."""
    return state.rules.dutch_floor


def dutch_price(state: AuctionState, now: float) -> int:
    """The Dutch clock price at ``now`` (minor units): start - decrement * whole ticks elapsed,
    never below the public floor. Paused time does not count."""
    rules = state.rules
    clock_now = state.paused_at if state.paused_at is not None else now
    elapsed = clock_now - state.opens_at - state.paused_total
    if elapsed <= 0:
        return rules.starting_price
    steps = math.floor(elapsed / rules.tick_seconds + _EPS)
    return max(dutch_floor(state), rules.starting_price - steps * rules.decrement)


def next_dutch_step(state: AuctionState, now: float) -> float | None:
    """When the Dutch clock price next changes after ``now`` (the opening, if not yet open), or
    None when it will not: not Dutch, closed, paused, or stopped at the floor."""
    if state.method is not Method.DUTCH or state.outcome is not None or state.paused_at is not None:
        return None
    base = state.opens_at + state.paused_total
    if now < base:
        return base
    if dutch_price(state, now) <= dutch_floor(state):
        return None
    step = state.rules.tick_seconds
    return base + (math.floor((now - base) / step + _EPS) + 1) * step


def _dutch_clock_end(state: AuctionState) -> float:
    """The clock stays one tick at the (public) floor, then the auction closes unsold."""
    rules = state.rules
    steps = math.ceil((rules.starting_price - dutch_floor(state)) / rules.decrement)
    return state.opens_at + state.paused_total + (steps + 1) * rules.tick_seconds


def close_due_at(state: AuctionState) -> float | None:
    """When the auction must close (house time), or None if no timer applies now
    (closed, paused, or an auction that only closes on a count of bids)."""
    if state.outcome is not None or state.paused_at is not None:
        return None
    candidates: list[float] = []
    if state.closes_at is not None:
        candidates.append(state.closes_at)
    if state.method is Method.ENGLISH and state.rules.quiet_seconds is not None:
        base = (
            state.last_bid_at
            if state.last_bid_at is not None
            else (state.opens_at + state.paused_total)
        )
        candidates.append(max(base, state.opens_at) + state.rules.quiet_seconds)
    elif state.method is Method.DUTCH:
        candidates.append(_dutch_clock_end(state))
    return min(candidates) if candidates else None


def phase_at(state: AuctionState, now: float) -> Phase:
    """The auction's phase at ``now``. An auction whose close is due is ``closed`` even before
    the house has recorded the close: it takes no bid, and its outcome is already decided
    (``outcome_now``)."""
    return phase_with_due(state, now, close_due_at(state))


def phase_with_due(state: AuctionState, now: float, due: float | None) -> Phase:
    """``phase_at(state, now)`` for a caller that already holds ``due == close_due_at(state)``
    (the house keeps it per auction for its timers): the same answer without computing the due
    time again, on every bid's acknowledgement."""
    if state.outcome is not None:
        return Phase.CLOSED
    if state.paused_at is not None:
        return Phase.PAUSED
    if now < state.opens_at:
        return Phase.SCHEDULED
    if due is not None and now >= due:
        return Phase.CLOSED
    return Phase.OPEN


def next_change_at(state: AuctionState, now: float) -> float | None:
    """When the auction's public face next changes by the clock alone, after ``now`` (house
    time, seconds): its opening, a Dutch clock step, or its due close; None when only an event
    can change it (closed, paused, or no timer). Between ``now`` and that time, ``phase_at``,
    ``dutch_price`` and ``close_due_at`` answer the same (lists keep sort keys by it)."""
    if state.outcome is not None or state.paused_at is not None:
        return None
    soonest = state.opens_at if now < state.opens_at else math.inf
    due = close_due_at(state)
    if due is not None and now < due < soonest:
        soonest = due
    step = next_dutch_step(state, now)
    if step is not None and step < soonest:
        soonest = step
    return None if soonest == math.inf else soonest


def least_next_bid(rules: Rules, price: int, leading: bool) -> int:
    """English: the least amount the next bid must have (minor units), from public facts: the
    starting price while nobody leads (``leading`` False), else ``price`` plus the increment at
    that price (``Rules.increment_at``: the flat ``min_increment``, the increment table's band
    or the percentage, the greatest). The one answer for the house's views and for agents
    planning their next bid (docs/core.md "Increments")."""
    if not leading:
        return max(1, rules.starting_price)
    return price + rules.increment_at(price)


def min_next_bid(state: AuctionState, now: float) -> int:
    """The least amount a new bid must have (public)."""
    if state.method is Method.ENGLISH:
        return least_next_bid(state.rules, state.price, state.leader is not None)
    if state.method is Method.DUTCH:
        return dutch_price(state, now)
    return max(1, state.rules.starting_price)


# --------------------------------------------------------------------------- decide


def decide(state: AuctionState | None, command: Command, now: float) -> list[Event]:
    """Validate ``command`` against ``state`` at ``now``; return the events it causes."""
    if isinstance(command, CreateAuction):
        return _decide_create(state, command, now)
    if state is None:
        raise NotFound(f"no auction {command.auction_id!r}")
    if isinstance(command, PlaceBid):
        return _decide_bid(state, command, now)
    if isinstance(command, CloseAuction):
        return _decide_close(state, now)
    if isinstance(command, CancelAuction):
        return _decide_cancel(state, command, now)
    if isinstance(command, PauseAuction):
        return _decide_pause(state, command, now)
    if isinstance(command, ResumeAuction):
        return _decide_resume(state, command, now)
    raise InvalidRequest(f"unknown command {type(command).__name__}")


def _decide_create(state: AuctionState | None, cmd: CreateAuction, now: float) -> list[Event]:
    if state is not None:
        raise Conflict(f"auction {cmd.auction_id!r} already exists")
    for name in ("auction_id", "seller", "item_name"):
        value = getattr(cmd, name)
        if not isinstance(value, str) or not value.strip():
            raise InvalidRequest(f"{name} must be a non-empty string")
    if not isinstance(cmd.item_description, str):
        raise InvalidRequest("item_description must be a string")
    try:
        method = Method(cmd.method)
    except ValueError:
        raise InvalidRequest(
            f"method must be one of {', '.join(m.value for m in Method)}"
        ) from None
    rules = cmd.rules.for_method(method, now)
    photos = _check_photos(cmd.photos)
    return [
        AuctionCreated(
            auction_id=cmd.auction_id,
            seq=1,
            at=now,
            seller=cmd.seller,
            item_name=cmd.item_name.strip(),
            item_description=cmd.item_description,
            method=method.value,
            rules=rules,
            photos=photos or None,
        )
    ]


MAX_PHOTOS = 8
"""Photos an item may have at most."""


def _check_photos(photos: object) -> tuple[str, ...]:
    """An item's photos: at most ``MAX_PHOTOS`` distinct SHA-256 digests (64 lowercase hex)."""
    if not isinstance(photos, tuple | list) or not all(isinstance(p, str) for p in photos):
        raise InvalidRequest("photos must be a list of photo digests")
    if len(photos) > MAX_PHOTOS:
        raise InvalidRequest(f"an item has at most {MAX_PHOTOS} photos", field="photos")
    for digest in photos:
        if len(digest) != 64 or digest.strip("0123456789abcdef"):
            raise InvalidRequest(f"not a photo digest: {digest[:80]!r}", field="photos")
    if len(set(photos)) != len(photos):
        raise InvalidRequest("the same photo is given twice", field="photos")
    return tuple(photos)


def _closed(state: AuctionState, due: float | None = None) -> AuctionClosedError:
    """The refusal of a command on a closed auction, or one past its ``due`` close: the close
    time said readably (UTC; faces show it local) and carried in ``closed_at`` (seconds)."""
    aid = state.auction_id
    if state.outcome is not None:
        at = state.closed_at
        if at is None:  # pragma: no cover - every close records its time
            return AuctionClosedError(f"auction {aid} is closed ({state.outcome.value})")
        return AuctionClosedError(
            f"auction {aid} closed at {utc_time(at)} ({state.outcome.value})", closed_at=at
        )
    return AuctionClosedError(f"auction {aid} closed at {utc_time(due or 0.0)}", closed_at=due)


def _check_can_bid(state: AuctionState, cmd: PlaceBid, now: float) -> None:
    if state.outcome is not None:
        raise _closed(state)
    if state.paused_at is not None:
        raise AuctionPausedError(f"auction {state.auction_id} is paused")
    if now < state.opens_at:
        raise AuctionNotOpen(
            f"auction {state.auction_id} opens at {utc_time(state.opens_at)}",
            opens_at=state.opens_at,
        )
    due = close_due_at(state)
    if due is not None and now >= due:
        raise _closed(state, due)
    if not isinstance(cmd.bidder, str) or not cmd.bidder:
        raise InvalidRequest("bidder must be a non-empty string")
    if cmd.bidder == state.seller:
        raise SellerCannotBid("a seller cannot bid in its own auction")
    check_amount("amount", cmd.amount)
    if cmd.proxy_max is not None:
        if state.method is not Method.ENGLISH:
            raise InvalidRequest("proxy_max is only for English auctions")
        check_amount("proxy_max", cmd.proxy_max)
        if cmd.proxy_max < cmd.amount:
            raise InvalidRequest("proxy_max must be at least the bid amount")
    max_bidders = state.rules.max_bidders
    if max_bidders is not None and cmd.bidder not in state.bidders:
        if len(state.bidders) >= max_bidders:
            raise AuctionFull(f"auction {state.auction_id} has its {max_bidders} bidders")


def _bid_event(
    state: AuctionState, cmd: PlaceBid, now: float, *, price: int, leader: str | None
) -> BidPlaced:
    """The bid's event: ``price`` and ``leader`` are the public state right after it."""
    return _new_bid_placed(  # BidPlaced(...) without its per-field object.__setattr__
        state.auction_id,
        state.seq + 1,
        now,
        cmd.bidder,
        cmd.amount,
        price,
        leader,
        cmd.proxy_max,
        cmd.nonce,
        cmd.ts,
        cmd.signature,
        cmd.mandate,
        cmd.mandate_doc,
    )


def _decide_bid(state: AuctionState, cmd: PlaceBid, now: float) -> list[Event]:
    _check_can_bid(state, cmd, now)
    if state.method is Method.ENGLISH:
        return _decide_english_bid(state, cmd, now)
    if state.method is Method.DUTCH:
        price = dutch_price(state, now)
        if cmd.amount < price:
            raise BidTooLow(f"the clock price is {price}", minimum=price)
        bid = _bid_event(state, cmd, now, price=price, leader=cmd.bidder)
        # The clock runs to a public floor; an accept below the secret reserve ends the
        # auction unsold, and only then is it known that the reserve was not met.
        reserve = state.rules.reserve_price
        if reserve is not None and price < reserve:
            closed = _closed_event(state, bid.seq + 1, now, Outcome.RESERVE_NOT_MET, None, None, 1)
        else:
            closed = _closed_event(state, bid.seq + 1, now, Outcome.SOLD, cmd.bidder, price, 1)
        return [bid, closed]
    return _decide_sealed_bid(state, cmd, now)


def _decide_english_bid(state: AuctionState, cmd: PlaceBid, now: float) -> list[Event]:
    rules = state.rules
    amount = cmd.amount
    my_max = cmd.proxy_max if cmd.proxy_max is not None else amount
    leader = state.leader
    # "Every bid is a maximum": a plain bid is a proxy maximum, so the house bids only the
    # least needed for it (the amount stays secret, as a proxy maximum's, in public views).
    as_max = cmd.proxy_max is None and rules.every_bid_is_max

    if leader is None:
        minimum = least_next_bid(rules, state.price, False)
        if amount < minimum:
            raise BidTooLow(f"the starting price is {minimum}", minimum=minimum)
        new_leader, price = cmd.bidder, minimum if as_max else amount
    elif cmd.bidder == leader:
        # A leader never raises the price against itself: its bid (plain or proxy) raises its
        # secret maximum, validated like any bid; the price moves only when someone competes.
        minimum = least_next_bid(rules, state.price, True)
        if amount < minimum:
            raise BidTooLow(f"the next bid must be at least {minimum}", minimum=minimum)
        current_max = state.maxima[leader]
        if my_max <= current_max:
            raise BidTooLow(
                f"you lead already with a maximum of {current_max}; a raise must be above it",
                minimum=current_max + 1,
            )
        new_leader, price = leader, state.price
    else:
        minimum = least_next_bid(rules, state.price, True)
        if amount < minimum:
            raise BidTooLow(f"the next bid must be at least {minimum}", minimum=minimum)
        leader_max = state.maxima[leader]
        floor = minimum if as_max else amount
        if my_max > leader_max:
            price = max(floor, min(my_max, leader_max + rules.increment_at(leader_max)))
            new_leader = cmd.bidder
        else:  # the leader's proxy answers; ties go to the earlier bid
            new_leader = leader
            price = min(leader_max, my_max + rules.increment_at(my_max))

    events: list[Event] = [_bid_event(state, cmd, now, price=price, leader=new_leader)]
    sc = rules.soft_close
    raise_only = cmd.bidder == leader  # a leader's raise moves no price: nothing to answer
    if (
        sc is not None
        and not raise_only
        and state.closes_at is not None
        and state.hard_close_at is not None
    ):
        if now >= state.closes_at - sc.window:
            extended = min(state.closes_at + sc.extension, state.hard_close_at)
            if extended > state.closes_at:
                events.append(
                    DeadlineExtended(
                        auction_id=state.auction_id,
                        seq=state.seq + 2,
                        at=now,
                        closes_at=extended,
                    )
                )
    return events


def _decide_sealed_bid(state: AuctionState, cmd: PlaceBid, now: float) -> list[Event]:
    if cmd.bidder in state.bidders:
        raise AlreadyBid("one sealed bid per bidder: your bid is already in")
    minimum = max(1, state.rules.starting_price)
    if cmd.amount < minimum:
        raise BidTooLow(f"the minimum bid is {minimum}", minimum=minimum)
    bid = _bid_event(state, cmd, now, price=0, leader=None)
    events: list[Event] = [bid]
    expected = state.rules.expected_bids
    if expected is not None and len(state.bids) + 1 >= expected:
        bids = [*state.bids, BidRecord(cmd.bidder, cmd.amount, bid.seq, now)]
        events.append(_closed_event(state, bid.seq + 1, now, *_sealed_result(state, bids)))
    return events


def _sealed_result(
    state: AuctionState, bids: list[BidRecord]
) -> tuple[Outcome, str | None, int | None, int]:
    rules = state.rules
    n = len(bids)
    if n == 0:
        return Outcome.NO_BIDS, None, None, 0
    if n < rules.min_bidders:
        return Outcome.TOO_FEW_BIDDERS, None, None, n
    ranked = sorted(bids, key=lambda b: (-b.amount, b.seq))
    top = ranked[0]
    reserve = rules.reserve_price or 0
    if top.amount < reserve:
        return Outcome.RESERVE_NOT_MET, None, None, n
    if state.method is Method.FPSB:
        return Outcome.SOLD, top.bidder, top.amount, n
    second = ranked[1].amount if n > 1 else max(1, rules.starting_price)
    return Outcome.SOLD, top.bidder, max(second, reserve), n


def _closed_event(
    state: AuctionState,
    seq: int,
    now: float,
    outcome: Outcome,
    winner: str | None,
    price: int | None,
    bidders: int,
) -> AuctionClosed:
    return AuctionClosed(
        auction_id=state.auction_id,
        seq=seq,
        at=now,
        outcome=outcome.value,
        winner=winner,
        price=price,
        bidders=bidders,
    )


def outcome_now(state: AuctionState) -> tuple[Outcome, str | None, int | None, int]:
    """The outcome the log implies if the auction closed now."""
    n = len(state.bidders)
    if state.method.sealed:
        return _sealed_result(state, state.bids)
    if state.method is Method.DUTCH:
        if state.winner is not None:
            return Outcome.SOLD, state.winner, state.price, 1
        return Outcome.NO_BIDS, None, None, 0
    if state.leader is None:
        return Outcome.NO_BIDS, None, None, 0
    if n < state.rules.min_bidders:
        return Outcome.TOO_FEW_BIDDERS, None, None, n
    reserve = state.rules.reserve_price
    if reserve is not None and state.price < reserve:
        # The reserve stays secret while the auction runs: the public price never jumps to it.
        # A winner whose maximum covers it pays the reserve at close.
        if state.maxima[state.leader] < reserve:
            return Outcome.RESERVE_NOT_MET, None, None, n
        return Outcome.SOLD, state.leader, reserve, n
    return Outcome.SOLD, state.leader, state.price, n


def _decide_close(state: AuctionState, now: float) -> list[Event]:
    if state.outcome is not None:
        raise _closed(state)
    due = close_due_at(state)
    if due is None or now < due:
        raise RuleViolation(f"auction {state.auction_id} is not due to close")
    return [_closed_event(state, state.seq + 1, now, *outcome_now(state))]


def _decide_cancel(state: AuctionState, cmd: CancelAuction, now: float) -> list[Event]:
    if state.outcome is not None:
        raise _closed(state)
    if not cmd.as_admin:
        if cmd.by != state.seller:
            raise Forbidden("only the seller or an admin may cancel an auction")
        if state.bids:
            raise CannotCancel("a seller may cancel only before the first bid")
    cancelled = AuctionCancelled(
        auction_id=state.auction_id, seq=state.seq + 1, at=now, by=cmd.by, reason=cmd.reason
    )
    closed = _closed_event(
        state, state.seq + 2, now, Outcome.CANCELLED, None, None, len(state.bidders)
    )
    return [cancelled, closed]


def _decide_pause(state: AuctionState, cmd: PauseAuction, now: float) -> list[Event]:
    if not cmd.as_admin:
        raise Forbidden("only an admin may pause an auction")
    if state.outcome is not None:
        raise _closed(state)
    if state.paused_at is not None:
        raise RuleViolation(f"auction {state.auction_id} is paused already")
    due = close_due_at(state)
    if due is not None and now >= due:
        raise _closed(state, due)
    return [AuctionPaused(auction_id=state.auction_id, seq=state.seq + 1, at=now, by=cmd.by)]


def _decide_resume(state: AuctionState, cmd: ResumeAuction, now: float) -> list[Event]:
    if not cmd.as_admin:
        raise Forbidden("only an admin may resume an auction")
    if state.paused_at is None:
        raise RuleViolation(f"auction {state.auction_id} is not paused")
    # Only time after the opening counts: the clocks had not started before it.
    paused_for = max(0.0, now - max(state.paused_at, state.opens_at))
    return [
        AuctionResumed(
            auction_id=state.auction_id, seq=state.seq + 1, at=now, by=cmd.by, paused_for=paused_for
        )
    ]


# --------------------------------------------------------------------------- apply


def _apply_created(event: AuctionCreated, state: AuctionState | None) -> AuctionState:
    new = AuctionState(
        auction_id=event.auction_id,
        seller=event.seller,
        item_name=event.item_name,
        item_description=event.item_description,
        method=Method(event.method),
        rules=event.rules,
        created_at=event.at,
    )
    new.seq = event.seq
    if event.photos:
        new.photos = tuple(event.photos)
    return new


def _apply_bid(event: BidPlaced, state: AuctionState | None) -> AuctionState:
    assert state is not None
    state.bids.append(_new_bid_record(event.bidder, event.amount, event.seq, event.at))
    state.bidders.add(event.bidder)
    state.last_bid_at = event.at
    if state.method is Method.ENGLISH:
        state.price = event.price
        state.leader = event.leader
        top = event.proxy_max if event.proxy_max is not None else event.amount
        if top > state.maxima.get(event.bidder, 0):
            state.maxima[event.bidder] = top
    elif state.method is Method.DUTCH:
        state.price = event.price
        state.leader = event.bidder
    state.seq = event.seq
    return state


def _apply_extended(event: DeadlineExtended, state: AuctionState | None) -> AuctionState:
    assert state is not None
    state.closes_at = event.closes_at
    state.seq = event.seq
    return state


def _apply_paused(event: AuctionPaused, state: AuctionState | None) -> AuctionState:
    assert state is not None
    state.paused_at = event.at
    state.seq = event.seq
    return state


def _apply_resumed(event: AuctionResumed, state: AuctionState | None) -> AuctionState:
    assert state is not None
    shift = event.paused_for
    state.paused_at = None
    state.paused_total += shift
    if state.closes_at is not None:
        state.closes_at += shift
    if state.hard_close_at is not None:
        state.hard_close_at += shift
    if state.last_bid_at is not None:
        state.last_bid_at += shift
    state.seq = event.seq
    return state


def _apply_cancelled(event: AuctionCancelled, state: AuctionState | None) -> AuctionState:
    assert state is not None
    state.seq = event.seq
    return state


def _apply_closed(event: AuctionClosed, state: AuctionState | None) -> AuctionState:
    assert state is not None
    state.outcome = Outcome(event.outcome)
    state.winner = event.winner
    state.final_price = event.price
    state.closed_at = event.at
    state.seq = event.seq
    return state


# A dict lookup on the exact type: replay folds hundreds of thousands of events a second.
_APPLY: dict[type[Any], Callable[[Any, AuctionState | None], AuctionState]] = {
    AuctionCreated: _apply_created,
    BidPlaced: _apply_bid,
    DeadlineExtended: _apply_extended,
    AuctionPaused: _apply_paused,
    AuctionResumed: _apply_resumed,
    AuctionCancelled: _apply_cancelled,
    AuctionClosed: _apply_closed,
}


def apply(state: AuctionState | None, event: Event) -> AuctionState:
    """Fold ``event`` into ``state`` (``None`` before the auction exists)."""
    try:
        fold = _APPLY[type(event)]
    except KeyError:
        raise TypeError(f"not an event: {event!r}") from None
    return fold(event, state)


def replay(events: Iterable[Event]) -> AuctionState | None:
    """Rebuild one auction from its events, in order."""
    state: AuctionState | None = None
    for event in events:
        state = _APPLY[type(event)](event, state)
    return state
