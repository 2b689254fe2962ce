"""Commands: what someone asks of an auction. ``rules.decide`` turns one into events or refuses it.

Identity and authority are settled by the house before a command reaches the core: ``bidder``,
``by`` and ``as_admin`` are facts here, not claims.
"""

from __future__ import annotations

from dataclasses import dataclass

from auctionhouse.auction.types import Method, Rules


@dataclass(frozen=True, slots=True)
class CreateAuction:
    auction_id: str
    seller: str
    item_name: str
    method: Method
    rules: Rules
    item_description: str = ""
    # SHA-256 hex digests of the item's photos (checked and stored by the house: photos.py).
    photos: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PlaceBid:
    """A bid. In a Dutch auction it is an accept: ``amount`` is the price the bidder agrees to
    (at least the current clock price); the winner pays the clock price at the accept time.
    ``mandate``/``mandate_doc``: a mobile agent's mandate hash and document (``BidPlaced``)."""

    auction_id: str
    bidder: str
    amount: int
    proxy_max: int | None = None
    nonce: int | None = None
    ts: float | None = None
    signature: str | None = None
    mandate: str | None = None
    mandate_doc: str | None = None


@dataclass(frozen=True, slots=True)
class CancelAuction:
    auction_id: str
    by: str
    as_admin: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PauseAuction:
    auction_id: str
    by: str
    as_admin: bool = False


@dataclass(frozen=True, slots=True)
class ResumeAuction:
    auction_id: str
    by: str
    as_admin: bool = False


@dataclass(frozen=True, slots=True)
class CloseAuction:
    """Asked by the house's timers; refused unless the auction is due to close at ``now``."""

    auction_id: str


Command = CreateAuction | PlaceBid | CancelAuction | PauseAuction | ResumeAuction | CloseAuction
