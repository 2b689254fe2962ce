"""Finding auctions: filters, full-text search and the sort orders of a list (docs/api.md).

The house keeps every auction's state in memory, and :class:`ListingIndex` keeps every sort
order ready beside it: for each group of auctions one filter picks (a state and a method), a
sorted list per sort order (sortedcontainers' ``SortedList``), whose keys are kept up to date
as events apply and as the clock moves an auction (its opening, a Dutch clock step, a due
close: ``auction.next_change_at``). A page is then a range read of one list (or a merge of the
few lists a filter spans), not a sort of every candidate. The words of a search are matched in
memory (``WordIndex``, ledger/search.py's words); with another sort, a few matches are sorted
by their kept keys, many are found by walking the sort order and keeping the matches
(docs/decisions/0027-maintained-sort-keys.md).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable, Iterator, Sequence, Set
from dataclasses import dataclass
from typing import Any

from sortedcontainers import SortedList

from auctionhouse.auction import (
    AuctionState,
    Event,
    Method,
    Phase,
    close_due_at,
    dutch_price,
    next_change_at,
    phase_at,
)
from auctionhouse.auction.events import AuctionCreated, BidPlaced
from auctionhouse.errors import InvalidRequest
from auctionhouse.ledger.search import words

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


# A sort key is one int, (value << _BITS) + (_MASK - ordinal), so ties keep the newest first
# (the greater creation ordinal); ending soonest is a (seconds, _MASK - ordinal) tuple, its
# value being a float. One key object is shared by the house-wide list and the group's.
_BITS = 40
_MASK = (1 << _BITS) - 1
# One (state, method) tuple per group, shared by every auction in it.
_GROUPS = {(p, m): (p.value, m.value) for p in Phase for m in Method}
_UNSOLD = 1 << 62  # the price key of an auction closed without a sale: after every price
_SEALED = frozenset(m for m in Method if m.sealed)
_KEYED = ("price_low", "price_high", "ending_soonest", "most_bids")
# Sort a candidate set directly when |set|^2 <= _DIRECT * wanted * |walked|: the walk's cost
# is about wanted * |walked| / |set| looks, the direct sort's |set| keys (both sub-millisecond
# at the crossover for a page of 25 among 100,000).
_DIRECT = 4
# A walk gives up past 4x its expected length plus this many keys (then it sorts directly).
_WALK_SLACK = 256


def _ordinal_of(key: Any) -> int:
    tie = key[1] if isinstance(key, tuple) else key & _MASK
    return _MASK - int(tie)


class _Group:
    """The auctions of one (state, method): one sorted list of keys per sort order."""

    __slots__ = ("lists", "members")

    def __init__(self) -> None:
        self.lists: dict[str, SortedList[Any]] = {sort: SortedList() for sort in SORTS}
        self.members: set[int] = set()

    def __len__(self) -> int:
        return len(self.members)


class WordIndex:
    """The words of every item in memory, for a search combined with another sort or filter:
    each distinct word's set of auction ordinals, and the sorted vocabulary, so a query term
    (a word prefix, ledger/search.py) is the union of the sets of a range of words, and the
    query the intersection of its terms: set operations in C, whatever the number of matches
    (a store's full-text index handed matches over one Python row each: 0.2 s for 60,000).
    Its query semantics: tests/house/test_house_search_words.py."""

    __slots__ = ("_postings", "_vocabulary")

    def __init__(self) -> None:
        self._postings: dict[str, set[int]] = {}
        self._vocabulary: SortedList[str] = SortedList()

    def add(self, o: int, name: str, description: str) -> None:
        postings = self._postings
        for word in set(words(f"{name} {description}")):
            found = postings.get(word)
            if found is None:
                postings[word] = {o}
                self._vocabulary.add(word)
            else:
                found.add(o)

    def matching(self, terms: Sequence[str]) -> Set[int]:
        """The ordinals of the items with a word beginning with each of ``terms``; it may be
        the index's own set (a term that is one word's prefix only): read it, never change it."""
        found: Set[int] | None = None
        postings = self._postings
        for term in terms:
            hits = [postings[w] for w in self._vocabulary.irange(term, term + "\U0010ffff")]
            here = hits[0] if len(hits) == 1 else set().union(*hits)
            found = here if found is None else found & here
            if not found:
                return set()
        return found if found is not None else set()


class ListingIndex:
    """Every auction's sort keys and filter groups, kept as events apply and the clock runs.

    Shapes: auctions are known by their creation ordinal (0, 1, ...); money keys in minor
    units, times in house seconds. ``note`` is called for each applied event (cheap: it marks
    the auction for a refresh); ``page`` first refreshes what events or the clock changed since
    the last call, then reads the page. Not thread-safe: the house calls it under its lock.
    """

    def __init__(self) -> None:
        self._states: list[AuctionState] = []
        self._ordinals: dict[str, int] = {}
        # Per ordinal: its group's (state, method) and its keys, in the order of SORTS.
        self._group_of: list[tuple[str, str] | None] = []
        self._keys: list[tuple[Any, ...] | None] = []
        self._groups: dict[tuple[str, str], _Group] = {
            (phase, method): _Group() for phase in STATES for method in METHODS
        }
        self._all: dict[str, SortedList[Any]] = {sort: SortedList() for sort in _KEYED}
        self._by_seller: dict[str, set[int]] = {}
        self._by_bidder: dict[str, set[int]] = {}
        self._dirty: set[int] = set()
        # The clock's changes to come: (house time, ordinal); _due_at holds the one that counts.
        self._clock: list[tuple[float, int]] = []
        self._due_at: list[float | None] = []
        self._words = WordIndex()

    # -------------------------------------------------------------------------- keeping up

    @classmethod
    def build(cls, auctions: Iterable[AuctionState], now: float) -> ListingIndex:
        """An index of ``auctions`` (in creation order), every key computed at ``now``."""
        index = cls()
        for state in auctions:
            o = index._add(state)
            for bidder in state.bidders:
                index._by_bidder.setdefault(bidder, set()).add(o)
        index._dirty.clear()
        entries: dict[tuple[str, str], list[tuple[Any, ...]]] = {g: [] for g in index._groups}
        for o, state in enumerate(index._states):
            group, keys = _keys_of(state, o, now)
            index._group_of[o] = group
            index._keys[o] = keys
            entries[group].append(keys)
            index._groups[group].members.add(o)
            index._schedule(o, state, now)
        for group, rows in entries.items():
            lists = index._groups[group].lists
            for i, sort in enumerate(SORTS):
                lists[sort].update(row[i] for row in rows)
        for i, sort in enumerate(SORTS):
            if sort in index._all:
                index._all[sort].update(k[i] for k in index._keys if k is not None)
        return index

    def _add(self, state: AuctionState) -> int:
        o = len(self._states)
        self._states.append(state)
        self._ordinals[state.auction_id] = o
        self._group_of.append(None)
        self._keys.append(None)
        self._due_at.append(None)
        self._by_seller.setdefault(state.seller, set()).add(o)
        self._words.add(o, state.item_name, state.item_description)
        self._dirty.add(o)
        return o

    def note(self, event: Event, state: AuctionState) -> None:
        """One event applied to ``state``: its keys are refreshed at the next ``page``."""
        if type(event) is AuctionCreated:
            self._add(state)
            return
        o = self._ordinals.get(event.auction_id)
        if o is None:
            return
        self._states[o] = state
        self._dirty.add(o)
        if type(event) is BidPlaced:
            self._by_bidder.setdefault(event.bidder, set()).add(o)

    def refresh(self, now: float) -> None:
        """Bring every key to ``now``: auctions events changed, and those the clock moved."""
        clock = self._clock
        dirty = self._dirty
        while clock and clock[0][0] <= now:
            at, o = heapq.heappop(clock)
            if self._due_at[o] == at:
                self._due_at[o] = None
                dirty.add(o)
        if not dirty:
            return
        for o in dirty:
            self._refresh(o, now)
        dirty.clear()

    def _refresh(self, o: int, now: float) -> None:
        state = self._states[o]
        group, keys = _keys_of(state, o, now)
        old_group, old_keys = self._group_of[o], self._keys[o]
        if old_group != group:
            if old_group is not None:
                self._groups[old_group].members.discard(o)
            self._groups[group].members.add(o)
        if old_keys is None or old_group is None:
            lists = self._groups[group].lists
            for i, sort in enumerate(SORTS):
                lists[sort].add(keys[i])
                if sort in self._all:
                    self._all[sort].add(keys[i])
        else:
            moved = old_group != group
            old_lists = self._groups[old_group].lists
            new_lists = self._groups[group].lists
            for i, sort in enumerate(SORTS):
                if old_keys[i] == keys[i] and not moved:
                    continue
                old_lists[sort].remove(old_keys[i])
                new_lists[sort].add(keys[i])
                if sort in self._all and old_keys[i] != keys[i]:
                    self._all[sort].remove(old_keys[i])
                    self._all[sort].add(keys[i])
        self._group_of[o] = group
        self._keys[o] = keys
        self._schedule(o, state, now)

    def _schedule(self, o: int, state: AuctionState, now: float) -> None:
        at = next_change_at(state, now)
        if at != self._due_at[o]:
            self._due_at[o] = at
            if at is not None:
                heapq.heappush(self._clock, (at, o))

    # -------------------------------------------------------------------------- reading

    def __len__(self) -> int:
        return len(self._states)

    def page(
        self,
        filters: Filters,
        now: float,
        *,
        limit: int,
        offset: int,
        terms: Sequence[str] | None = None,
    ) -> tuple[list[AuctionState], int]:
        """The page ``[offset, offset + limit)`` of the auctions passing ``filters`` (and, when
        ``terms`` are given, whose item has a word beginning with each: ledger/search.py's
        ``query_terms``), in ``filters.sort`` order (ties: newest first), and how many pass in
        all. Keys are first brought to ``now``."""
        self.refresh(now)
        f = filters
        picked = [
            key
            for key in self._groups
            if (f.state is None or key[0] == f.state) and (f.method is None or key[1] == f.method)
        ]
        groups = [self._groups[key] for key in picked]
        matches = None if terms is None else self._words.matching(terms)
        chosen = self._chosen(f, matches)
        whole = f.state is None and f.method is None
        walked = len(self._states) if whole else sum(len(g) for g in groups)
        if chosen is not None and not whole:
            chosen = set().union(*(chosen & self._groups[key].members for key in picked))
        total = walked if chosen is None else len(chosen)
        stop = offset + limit
        if limit == 0 or offset >= total:
            return [], total
        states = self._states
        if chosen is None:
            order = self._order(f.sort, groups, whole)
            return [states[_ordinal_of(k)] for k in itertools.islice(order, offset, stop)], total
        if len(chosen) ** 2 > _DIRECT * stop * max(1, walked):
            # Many: walk the sort order keeping members, through the groups that hold some (a
            # seller of English lots walks no Dutch clock). A set still correlated with the
            # order would make the walk long, so it has a budget, past which the set is sorted
            # directly.
            live = [g for g in groups if not g.members.isdisjoint(chosen)]
            if len(live) < len(groups):
                groups, whole = live, False
                walked = sum(len(g) for g in live)
            budget = 4 * stop * walked // len(chosen) + _WALK_SLACK
            found = _walk(self._order(f.sort, groups, whole), chosen, stop, budget)
            if found is not None:
                return [states[o] for o in found[offset:]], total
        i = SORTS.index(f.sort)
        keys = self._keys
        ranked = heapq.nsmallest(stop, (keys[o][i] for o in chosen))  # type: ignore[index]
        return [states[_ordinal_of(k)] for k in ranked[offset:]], total

    def _order(self, sort: str, groups: list[_Group], whole: bool) -> Iterator[Any]:
        """Every key of ``groups`` in ``sort`` order (the house-wide list when ``whole``)."""
        if whole:
            if sort == "newest":
                return (_MASK - o for o in range(len(self._states) - 1, -1, -1))
            return iter(self._all[sort])
        lists = [g.lists[sort] for g in groups if len(g)]
        if len(lists) == 1:
            return iter(lists[0])
        return heapq.merge(*lists)

    def _chosen(self, f: Filters, matches: Set[int] | None) -> Set[int] | None:
        """The ordinals the set filters (seller, bidder, a search) leave, or None (all); the
        answer may be one of the index's own sets: read it, never change it."""
        sets: list[Set[int]] = []
        if matches is not None:
            sets.append(matches)
        if f.seller is not None:
            sets.append(self._by_seller.get(f.seller, set()))
        if f.bidder is not None:
            sets.append(self._by_bidder.get(f.bidder, set()))
        if not sets:
            return None
        sets.sort(key=len)
        chosen = sets[0] if len(sets) == 1 else set(sets[0]).intersection(*sets[1:])
        if f.bidder is not None and f.viewer != f.bidder:
            # Who bid in a sealed auction is secret until it closes: shown to that bidder only.
            states = self._states
            chosen = {
                o
                for o in chosen
                if states[o].method not in _SEALED or states[o].outcome is not None
            }
        return chosen


def _walk(order: Iterator[Any], members: Set[int], wanted: int, budget: int) -> list[int] | None:
    """The first ``wanted`` ordinals of ``order`` (keys) in ``members`` (fewer when the order
    ends first), or None when that takes more than ``budget`` keys."""
    found: list[int] = []
    for steps, k in enumerate(order):
        if steps == budget:
            return None
        o = _ordinal_of(k)
        if o in members:
            found.append(o)
            if len(found) == wanted:
                break
    return found


def _keys_of(state: AuctionState, o: int, now: float) -> tuple[tuple[str, str], tuple[Any, ...]]:
    """An auction's (state, method) group and its sort keys at ``now``, in the order of SORTS:
    newest, ending soonest (auctions with a known close first, closed ones and those past their
    close last), listed price lowest and highest first (those closed without a sale last),
    most bids first."""
    tie = _MASK - o
    price = listed_price(state, now)
    # Closed without a sale (cancelled, no bids, reserve not met...): no price, last either way.
    unsold = state.outcome is not None and state.final_price is None
    if state.outcome is not None:
        ending = math.inf
    else:
        due = close_due_at(state)
        ending = math.inf if due is None or due <= now else due
    keys = (
        tie,
        (ending, tie),
        ((_UNSOLD if unsold else price) << _BITS) + tie,
        ((_UNSOLD if unsold else -price) << _BITS) + tie,
        (-len(state.bids) << _BITS) + tie,
    )
    return _GROUPS[phase_at(state, now), state.method], keys
