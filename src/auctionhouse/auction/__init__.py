"""The pure rules core: methods, the auction state machine, outcomes.

No I/O, no clock, no threads. ``decide(state, command, now) -> events`` validates a command and
says what happened; ``apply(state, event) -> state`` folds an event in and never refuses.
Replay runs only ``apply``, so a rule never runs twice on reload. See docs/core.md.
"""

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
    EVENT_TYPES,
    AuctionCancelled,
    AuctionClosed,
    AuctionCreated,
    AuctionPaused,
    AuctionResumed,
    BidPlaced,
    DeadlineExtended,
    Event,
    event_from_dict,
    event_to_dict,
)
from auctionhouse.auction.market_events import (
    CallCleared,
    MarketClosed,
    MarketCreated,
    MarketEvent,
    OrderCancelled,
    OrderPlaced,
    Trade,
)
from auctionhouse.auction.rules import (
    apply,
    close_due_at,
    decide,
    dutch_price,
    least_next_bid,
    next_change_at,
    phase_at,
    replay,
)
from auctionhouse.auction.state import AuctionState, BidRecord
from auctionhouse.auction.types import IncrementBand, Method, Outcome, Phase, Rules, SoftClose
from auctionhouse.auction.views import public_event, public_view, result_view

__all__ = [
    "EVENT_TYPES",
    "AuctionCancelled",
    "AuctionClosed",
    "AuctionCreated",
    "AuctionPaused",
    "AuctionResumed",
    "AuctionState",
    "BidPlaced",
    "BidRecord",
    "CallCleared",
    "CancelAuction",
    "CloseAuction",
    "Command",
    "CreateAuction",
    "DeadlineExtended",
    "Event",
    "IncrementBand",
    "MarketClosed",
    "MarketCreated",
    "MarketEvent",
    "Method",
    "OrderCancelled",
    "OrderPlaced",
    "Outcome",
    "PauseAuction",
    "Phase",
    "PlaceBid",
    "ResumeAuction",
    "Rules",
    "SoftClose",
    "Trade",
    "apply",
    "close_due_at",
    "decide",
    "dutch_price",
    "event_from_dict",
    "event_to_dict",
    "least_next_bid",
    "next_change_at",
    "phase_at",
    "public_event",
    "public_view",
    "replay",
    "result_view",
]
