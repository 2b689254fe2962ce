"""Finding auctions: filters, full-text search and the sort orders of a list (docs/api.md).

The house keeps every auction's state in memory, so filters and sorting run over those states;
the words of a search go to the ledger store's full-text index (ledger/search.py), which
answers with the matching auction ids. Sorting keeps only the page asked for
(``heapq.nsmallest``), so a list costs one pass over the candidates whatever the house's size.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from auctionhouse.auction import AuctionState, Method, Phase, close_due_at, dutch_price
from auctionhouse.errors import InvalidRequest

SORTS = ("newest", "ending_soonest", "price_low", "price_high", "most_bids")
"""How a list may be sorted: newest first (the default), ending soonest (auctions with a known
close first, the nearest first; closed ones last), listed price lowest or highest first, most
bids first. Ties keep the newest first."""

STATES = tuple(p.value for p in Phase)
METHODS = tuple(m.value for m in Method)


@dataclass(frozen=True, slots=True)
class Filters:
    """What a list asks for; ``check`` refuses a bad value with ``InvalidRequest``."""

    state: str | None = None
    method: str | None = None
    seller: str | None = None
    bidder: str | None = None
    viewer: str | None = None
    query: str | None = None
    sort: str = "newest"

    def check(self) -> None:
        for name in ("state", "method", "seller", "bidder", "query"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise InvalidRequest(f"{name} must be a string")
        if self.state is not None and self.state not in STATES:
            raise InvalidRequest(f"state must be one of {', '.join(STATES)}", field="state")
        if self.method is not None and self.method not in METHODS:
            raise InvalidRequest(f"method must be one of {', '.join(METHODS)}", field="method")
        if self.sort not in SORTS:
            raise InvalidRequest(f"sort must be one of {', '.join(SORTS)}", field="sort")


def listed_price(state: AuctionState, now: float) -> int:
    """The price a list shows for sorting, in minor units: the sale price once sold, the
    current price (English: the leading bid, else the starting price; Dutch: the clock), and
    the starting price of a sealed auction (its bids are secret)."""
    if state.outcome is not None:
        return state.final_price if state.final_price is not None else state.rules.starting_price
    if state.method is Method.ENGLISH:
        return state.price if state.leader is not None else state.rules.starting_price
    if state.method is Method.DUTCH:
        return dutch_price(state, now)
    return state.rules.starting_price


def _sort_key(sort: str, now: float) -> Callable[[AuctionState], Any]:
    """The key of a sort order (ascending; ties keep the given order, newest first)."""
    if sort == "ending_soonest":
        inf = math.inf

        def ending(s: AuctionState) -> float:
            if s.outcome is not None:
                return inf
            due = close_due_at(s)
            return inf if due is None or due <= now else due

        return ending
    if sort == "price_low":
        return lambda s: listed_price(s, now)
    if sort == "price_high":
        return lambda s: -listed_price(s, now)
    return lambda s: -len(s.bids)  # most_bids


def find(
    newest_first: Sequence[AuctionState],
    filters: Filters,
    now: float,
    *,
    limit: int,
    offset: int,
) -> tuple[list[AuctionState], int]:
    """The page ``[offset, offset + limit)`` of the auctions of ``newest_first`` (every
    auction, or those a search found, newest first) passing ``filters``, sorted by
    ``filters.sort``, and how many pass in all. Without filters nothing is scanned; a sort
    keeps only the page (``heapq.nsmallest``, stable: ties stay newest first)."""
    f = filters
    chosen: Sequence[AuctionState] = newest_first
    if f.method is not None or f.seller is not None or f.bidder is not None:
        chosen = [s for s in chosen if _passes(s, f)]
    if f.state is not None:
        state = f.state
        chosen = [s for s in chosen if s.phase(now).value == state]
    if f.sort == "newest":
        return list(chosen[offset : offset + limit]), len(chosen)
    page = heapq.nsmallest(offset + limit, chosen, key=_sort_key(f.sort, now))[offset:]
    return page, len(chosen)


def _passes(s: AuctionState, f: Filters) -> bool:
    if f.method is not None and s.method.value != f.method:
        return False
    if f.seller is not None and s.seller != f.seller:
        return False
    if f.bidder is not None:
        if f.bidder not in s.bidders:
            return False
        # Who bid in a sealed auction is secret until it closes: shown to that bidder only.
        if s.method.sealed and s.outcome is None and f.viewer != f.bidder:
            return False
    return True
