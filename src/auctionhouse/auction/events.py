"""Events: what happened to an auction. Every accepted command becomes one or more events.

Each event is a frozen dataclass with ``auction_id``, ``seq`` (1, 2, 3... per auction) and ``at``
(house time in seconds). ``event_to_dict``/``event_from_dict`` give the plain JSON-native form the
ledger encodes canonically; the ``type`` key names the class.

Secret fields (``proxy_max``, a sealed bid's ``amount``, the ``reserve_price`` in the rules, the
bid's signature material) are stored in the ledger, which is private to the house; what the public
may see of an event is decided in ``views.public_event``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from auctionhouse.auction.market_events import (
    MARKET_EVENT_CLASSES,
    CallCleared,
    MarketClosed,
    MarketCreated,
    OrderCancelled,
    OrderPlaced,
    Trade,
)
from auctionhouse.auction.types import Rules
from auctionhouse.errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class AuctionCreated:
    auction_id: str
    seq: int
    at: float
    seller: str
    item_name: str
    item_description: str
    method: str
    rules: Rules
    # The item's photos: SHA-256 hex digests of their files, so the chain covers the images
    # (None when there are none: older ledgers have no such field).
    photos: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class BidPlaced:
    """A bid (English), an accept (Dutch) or a sealed bid (FPSB, Vickrey).

    ``price`` and ``leader`` are the public state right after the bid: in English the house's
    proxy may already have answered for the leader, so the bidder need not be the leader.
    Sealed bids carry ``price`` 0 and no leader. ``nonce``, ``ts`` and ``signature`` are the
    bidder's signed-bid material when the bid was signed (kept for audit).

    A mobile agent's bid (seed 004) carries ``mandate``, the SHA-256 (hex) of the owner's signed
    mandate it bids under, and on the agent's first bid in the auction ``mandate_doc``, that
    mandate's canonical JSON, so the audit can check every agent bid against it. Both are left
    out of the encoded form when None (every earlier event keeps its bytes and hash).
    """

    auction_id: str
    seq: int
    at: float
    bidder: str
    amount: int
    price: int
    leader: str | None = None
    proxy_max: int | None = None
    nonce: int | None = None
    ts: float | None = None
    signature: str | None = None
    mandate: str | None = None
    mandate_doc: str | None = None


@dataclass(frozen=True, slots=True)
class DeadlineExtended:
    """Soft close: a late bid moved the close later."""

    auction_id: str
    seq: int
    at: float
    closes_at: float


@dataclass(frozen=True, slots=True)
class AuctionPaused:
    auction_id: str
    seq: int
    at: float
    by: str


@dataclass(frozen=True, slots=True)
class AuctionResumed:
    """The clocks restart; every deadline and the Dutch clock move by ``paused_for`` seconds."""

    auction_id: str
    seq: int
    at: float
    by: str
    paused_for: float


@dataclass(frozen=True, slots=True)
class AuctionCancelled:
    auction_id: str
    seq: int
    at: float
    by: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AuctionClosed:
    """The result. ``price`` is what the winner pays; ``bidders`` is the distinct bidder count."""

    auction_id: str
    seq: int
    at: float
    outcome: str
    winner: str | None
    price: int | None
    bidders: int


Event = (
    AuctionCreated
    | BidPlaced
    | DeadlineExtended
    | AuctionPaused
    | AuctionResumed
    | AuctionCancelled
    | AuctionClosed
    # A double-auction market's events share the ledger (auction/market_events.py).
    | MarketCreated
    | OrderPlaced
    | Trade
    | OrderCancelled
    | CallCleared
    | MarketClosed
)

EVENT_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        AuctionCreated,
        BidPlaced,
        DeadlineExtended,
        AuctionPaused,
        AuctionResumed,
        AuctionCancelled,
        AuctionClosed,
        *MARKET_EVENT_CLASSES,
    )
}

CLOSING_EVENTS: tuple[type[Any], ...] = (AuctionClosed, MarketClosed)
"""Events after which a chain takes nothing more: the ledger seals the chain's head."""

_FIELDS: dict[type[Any], tuple[str, ...]] = {
    cls: tuple(f.name for f in fields(cls)) for cls in EVENT_TYPES.values()
}

OMITTED_WHEN_NONE: dict[type[Any], tuple[str, ...]] = {
    BidPlaced: ("mandate", "mandate_doc"),
    AuctionCreated: ("photos",),
}
"""Fields added after ledgers existed: absent from the encoded form when None."""


def event_to_dict(event: Event) -> dict[str, Any]:
    """The JSON-native form: ``{"type": ClassName, field: value, ...}``."""
    out: dict[str, Any] = {"type": type(event).__name__}
    for name in _FIELDS[type(event)]:
        value = getattr(event, name)
        out[name] = value.to_dict() if isinstance(value, Rules) else value
    for name in OMITTED_WHEN_NONE.get(type(event), ()):
        if out[name] is None:
            del out[name]
    return out


def event_from_dict(data: dict[str, Any]) -> Event:
    """Inverse of ``event_to_dict``; a malformed record raises ``InvalidRequest``."""
    try:
        cls = EVENT_TYPES[data["type"]]
        kwargs = {name: data[name] for name in _FIELDS[cls] if name in data}
        if cls is AuctionCreated:
            kwargs["rules"] = Rules.from_dict(kwargs["rules"])
            if isinstance(kwargs.get("photos"), list):  # JSON has lists, the event a tuple
                kwargs["photos"] = tuple(kwargs["photos"])
        event: Event = cls(**kwargs)
    except (KeyError, TypeError) as exc:
        raise InvalidRequest(f"malformed event record: {exc}") from exc
    return event
