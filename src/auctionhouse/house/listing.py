"""Finding auctions: filters, full-text search and the sort orders of a list (docs/api.md).

The house keeps every auction's state in memory, so filters and sorting run over those states;
the words of a search go to the ledger store's full-text index (ledger/search.py), which
answers with the matching auction ids. Sorting keeps only the page asked for
(``heapq.nsmallest``), so a list costs one pass over the candidates whatever the house's size.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Sequence
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


def _sort_key(sort: str, now: float) -> Callable[[tuple[int, AuctionState]], Any]:
    """A key over ``(age, state)`` pairs, ``age`` 0 for the newest auction, 1 for the next..."""
    if sort == "ending_soonest":

        def ending(pair: tuple[int, AuctionState]) -> tuple[float, int]:
            age, s = pair
            due = close_due_at(s)
            if due is None or due <= now or s.outcome is not None:
                return (math.inf, age)
            return (due, age)

        return ending
    if sort == "price_low":
        return lambda pair: (listed_price(pair[1], now), pair[0])
    if sort == "price_high":
        return lambda pair: (-listed_price(pair[1], now), pair[0])
    return lambda pair: (-len(pair[1].bids), pair[0])  # most_bids


def find(
    newest_first: Iterable[AuctionState],
    filters: Filters,
    now: float,
    *,
    matches: set[str] | None,
    limit: int,
    offset: int,
) -> tuple[list[AuctionState], int]:
    """The page ``[offset, offset + limit)`` of the auctions passing ``filters`` (``matches``:
    the ids a search found, None without a search), sorted by ``filters.sort``, and how many
    pass in all. ``newest_first``: every auction, newest first."""
    f = filters
    chosen: list[tuple[int, AuctionState]] = []
    for age, s in enumerate(newest_first):
        if matches is not None and s.auction_id not in matches:
            continue
        if f.method is not None and s.method.value != f.method:
            continue
        if f.seller is not None and s.seller != f.seller:
            continue
        if f.bidder is not None:
            if f.bidder not in s.bidders:
                continue
            # Who bid in a sealed auction is secret until it closes: shown to that bidder only.
            if s.method.sealed and s.outcome is None and f.viewer != f.bidder:
                continue
        if f.state is not None and s.phase(now).value != f.state:
            continue
        chosen.append((age, s))
    if f.sort == "newest":
        page: Sequence[tuple[int, AuctionState]] = chosen[offset : offset + limit]
    else:
        page = heapq.nsmallest(offset + limit, chosen, key=_sort_key(f.sort, now))[offset:]
    return [s for _age, s in page], len(chosen)
