"""The state of one auction, as folded from its events by ``rules.apply``.

The state object is mutable for speed (replay folds hundreds of thousands of events a second):
``apply`` updates it in place and returns it, and only ``apply`` ever changes it. ``decide`` reads
it and never writes. ``snapshot()`` gives a plain comparable form (replay == live is tested on it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auctionhouse.auction.types import Method, Outcome, Phase, Rules


@dataclass(frozen=True, slots=True)
class BidRecord:
    bidder: str
    amount: int
    seq: int
    at: float


class AuctionState:
    __slots__ = (
        "auction_id",
        "bidders",
        "bids",
        "closed_at",
        "closes_at",
        "created_at",
        "final_price",
        "hard_close_at",
        "item_description",
        "item_name",
        "last_bid_at",
        "leader",
        "maxima",
        "method",
        "opens_at",
        "outcome",
        "paused_at",
        "paused_total",
        "photos",
        "price",
        "rules",
        "seller",
        "seq",
        "winner",
    )

    def __init__(
        self,
        *,
        auction_id: str,
        seller: str,
        item_name: str,
        item_description: str,
        method: Method,
        rules: Rules,
        created_at: float,
    ) -> None:
        assert rules.opens_at is not None, "rules must be resolved by Rules.for_method"
        self.auction_id = auction_id
        self.seller = seller
        self.item_name = item_name
        self.item_description = item_description
        self.photos: tuple[str, ...] = ()
        self.method = method
        self.rules = rules
        self.created_at = created_at
        self.seq = 0
        self.opens_at: float = rules.opens_at
        self.closes_at: float | None = rules.closes_at
        sc = rules.soft_close
        self.hard_close_at: float | None = (
            rules.closes_at + sc.cap if sc is not None and rules.closes_at is not None else None
        )
        self.bids: list[BidRecord] = []
        self.bidders: set[str] = set()
        # English: each bidder's highest maximum (a proxy maximum, or the bid itself). Secret.
        self.maxima: dict[str, int] = {}
        self.leader: str | None = None
        self.price = 0
        self.last_bid_at: float | None = None
        self.paused_at: float | None = None
        self.paused_total = 0.0
        self.outcome: Outcome | None = None
        self.winner: str | None = None
        self.final_price: int | None = None
        self.closed_at: float | None = None

    @property
    def closed(self) -> bool:
        return self.outcome is not None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    def phase(self, now: float) -> Phase:
        """The phase at ``now``; past a due close it is ``closed`` (``rules.phase_at``)."""
        from auctionhouse.auction.rules import phase_at  # rules imports this module

        return phase_at(self, now)

    @property
    def reserve_met(self) -> bool | None:
        """Public: None when there is no reserve; for sealed bids unknown (None) until close."""
        reserve = self.rules.reserve_price
        if reserve is None:
            return None
        if self.method.sealed:
            if self.outcome is None:
                return None
            return self.outcome is Outcome.SOLD
        if self.method is Method.DUTCH:
            # Known only once an accept has closed the auction.
            if self.outcome is None:
                return None
            return self.outcome is Outcome.SOLD
        # English: the leader's maximum covers the reserve (a yes/no; neither number is shown).
        return self.leader is not None and self.maxima[self.leader] >= reserve

    def snapshot(self) -> dict[str, Any]:
        return {name: _plain(getattr(self, name)) for name in self.__slots__}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AuctionState):
            return NotImplemented
        return self.snapshot() == other.snapshot()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"AuctionState({self.auction_id!r}, {self.method.value}, seq={self.seq}, "
            f"price={self.price}, leader={self.leader!r}, outcome={self.outcome})"
        )


def _plain(value: Any) -> Any:
    if isinstance(value, set):
        return sorted(value)
    if isinstance(value, dict):
        return dict(sorted(value.items()))
    if isinstance(value, list):
        return list(value)
    return value
