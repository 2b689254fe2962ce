"""Vectorized winner and price rules for the four methods, over many auctions at once.

Bidders lie along axis 0 (``maxima[i, k]`` is bidder ``i``'s maximum in auction ``k``); that layout
lets the top-two scan below walk contiguous rows. Registration order is the row order: on a tie the
lower row (the earlier registrant) wins.

Clock auctions are solved in closed form, never tick by tick:

* English (textbook, like a proxy-bidding house): the highest maximum wins; the price is the first
  clock step at or above the second-highest maximum, never below the opening price and never above
  the winner's own maximum. ``increment == 0`` is the continuous clock: price = second maximum.
* English (thesis, THESIS-MODEL.md): the ask rises from the start in steps; a bidder stays in while
  its maximum *exceeds* the ask; the auction ends at the first ask with nobody left in, or with one
  left in and the ask above the reserve. With one left, it wins at that ask; with none, the earliest
  registrant still in at the previous ask wins at that ask. A sale needs price >= reserve.
* English (house, proxy bids): :func:`english_proxy`, a scan over bidders (not auctions or ticks)
  that replays ``auction/rules.py`` for bidders who each bid once with their maximum as proxy.
* Dutch: the ask falls from the start in steps; the first bidder whose maximum reaches it wins at
  that ask (the highest step at or below the top maximum); no sale when that ask is below the
  reserve. The house's clock stops at a public floor that never depends on the secret reserve
  (``floor=``), so an accept below the reserve ends the auction unsold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def top_two(maxima: npt.NDArray[np.floating] | IntArray) -> tuple[FloatArray, FloatArray, IntArray]:
    """Highest and second-highest along axis 0, and the first row holding the highest."""
    m1 = maxima[0].astype(np.float64)
    m2 = np.full_like(m1, -np.inf)
    winner = np.zeros(m1.shape, dtype=np.int64)
    for i in range(1, maxima.shape[0]):
        row = maxima[i]
        higher = row > m1
        np.maximum(m2, np.minimum(m1, row), out=m2)
        np.maximum(m1, row, out=m1)
        winner[higher] = i
    return m1, m2, winner


def first_above(
    maxima: npt.NDArray[np.floating] | IntArray, level: FloatArray, strict: bool
) -> IntArray:
    """The first row whose maximum is above (``strict``) or at least ``level``; 0 if none."""
    hit = maxima > level if strict else maxima >= level
    return np.asarray(np.argmax(hit, axis=0), dtype=np.int64)


def sealed_price(
    method: str,
    m1: FloatArray,
    m2: FloatArray,
    reserve: float | FloatArray,
    lone_price: float = 0.0,
) -> tuple[FloatArray, BoolArray]:
    """FPSB: the winner pays its bid; Vickrey: the second bid, at least the reserve.

    A sale needs the highest bid at or above the reserve. A lone Vickrey bidder pays
    ``lone_price`` (the house: its starting price), at least the reserve.
    """
    sold = m1 >= reserve
    if method == "fpsb":
        return m1, sold
    second = np.where(np.isfinite(m2), m2, lone_price)
    return np.maximum(second, reserve), sold


def _steps_up(x: FloatArray, start: float | FloatArray, increment: float) -> FloatArray:
    """Smallest ``start + k*increment >= x`` with ``k >= 0``."""
    k = np.maximum(np.ceil((x - start) / increment), 0.0)
    return np.asarray(start + k * increment, dtype=np.float64)


def english_textbook(
    m1: FloatArray, m2: FloatArray, opening: float | FloatArray, increment: float
) -> tuple[FloatArray, BoolArray]:
    """English, textbook/proxy reading: price in ``[opening, m1]``; sold iff ``m1 >= opening``.

    ``opening`` is the larger of the starting price and the reserve.
    """
    second = np.where(np.isfinite(m2), m2, -np.inf)
    if increment > 0:
        step = _steps_up(np.maximum(second, opening), opening, increment)
    else:
        step = np.maximum(second, opening)
    return np.minimum(step, m1), m1 >= opening


def english_thesis(
    m1: FloatArray,
    m2: FloatArray,
    start: float | FloatArray,
    reserve: float | FloatArray,
    increment: float,
) -> tuple[FloatArray, BoolArray]:
    """English, the thesis' clock (module docstring). The winner is the first registrant whose
    maximum exceeds the returned price (:func:`first_above` with ``strict=True``)."""
    if increment <= 0:
        price = np.maximum(np.maximum(m2, start), reserve)
        price = np.broadcast_to(price, np.broadcast_shapes(m1.shape, np.shape(price)))
        return np.asarray(price, dtype=np.float64), np.asarray(m1 > price)
    d = increment
    k_second = np.maximum(np.ceil((m2 - start) / d), 0.0)  # first ask with <= 1 still in
    k_first = np.maximum(np.ceil((m1 - start) / d), 0.0)  # first ask with nobody in
    k_reserve = np.maximum(np.floor((reserve - start) / d) + 1.0, 0.0)  # first ask > reserve
    k_end = np.minimum(k_first, np.maximum(k_second, k_reserve))
    one_left = k_end < k_first
    k_price = np.where(one_left, k_end, k_end - 1.0)
    price = start + k_price * d
    sold = one_left | ((k_end >= 1.0) & (price >= reserve))
    return np.asarray(price, dtype=np.float64), np.asarray(sold)


def dutch_clock(
    m1: FloatArray,
    start: float | FloatArray,
    reserve: float | FloatArray,
    increment: float,
    floor: float | None = None,
) -> tuple[FloatArray, BoolArray]:
    """Dutch: price = highest clock step at or below ``m1`` (``m1`` itself when continuous), capped
    at the start; a sale needs that price at or above the (secret) ``reserve``.

    ``floor`` None (the thesis): the clock has no floor. ``floor`` given (the house,
    ``auction/rules.py``): the clock stops at that *public* floor, whatever the reserve, so a
    top bidder with ``m1 >= floor`` accepts at the larger of its step and the floor, and an accept
    below the reserve ends unsold; nobody accepts when ``m1 < floor``. The winner is the first
    registrant whose maximum reaches the price (:func:`first_above` with ``strict=False``)."""
    if increment > 0:
        k = np.maximum(np.ceil((start - m1) / increment), 0.0)
        price = start - k * increment
    else:
        price = np.minimum(m1, start)
    price = np.asarray(price, dtype=np.float64)
    if floor is None:
        return price, np.asarray(price >= reserve)
    price = np.maximum(price, floor)
    return price, np.asarray((m1 >= floor) & (price >= reserve))


Increment = float | Callable[[FloatArray], FloatArray]


def increment_steps(
    flat: float,
    bands: Sequence[tuple[float | None, float]] | None = None,
    percent: float | None = None,
) -> Callable[[FloatArray], FloatArray]:
    """The house's increment (``Rules.increment_at``) over arrays of prices: the greatest of
    ``flat``, the band of an increment table (``(below, increment)`` pairs in rising order, the
    last ``below`` None: any price above) and ``percent`` of the price rounded up to a whole
    minor unit (a hair of tolerance keeps 1.1% of 1000 at 11, as the house's exact decimals)."""
    belows = np.array([np.inf if b is None else float(b) for b, _ in bands or ()])
    steps = np.array([float(i) for _, i in bands or ()])

    def at(price: FloatArray) -> FloatArray:
        step = np.full(np.shape(price), float(flat))
        if len(steps):
            band = np.minimum(np.searchsorted(belows, price, side="right"), len(steps) - 1)
            step = np.maximum(step, steps[band])
        if percent:
            with np.errstate(invalid="ignore"):
                share = np.ceil(np.asarray(price, dtype=np.float64) * percent / 100.0 - 1e-9)
            step = np.maximum(step, np.where(np.isfinite(share), share, flat))
        return step

    return at


def english_proxy(
    maxima: npt.NDArray[np.floating] | IntArray,
    start: float,
    reserve: float | None,
    increment: Increment,
    min_amount: float = 0.0,
) -> tuple[FloatArray, BoolArray, IntArray]:
    """English with proxy bids, as the house runs it (``auction/rules.py``), when each bidder in
    registration order bids once: the least allowed amount, with its maximum as ``proxy_max``.

    A bidder can bid only if its maximum reaches the least allowed amount (the starting price for
    the first bid, else the price plus the increment). A higher maximum takes the lead at
    ``min(its max, leader's max + increment)``; otherwise the leader's proxy answers at
    ``min(leader's max, its max + increment)``. The reserve stays secret until close: a winner
    whose maximum covers it then pays at least the reserve. Vectorized over auctions; the loop
    is over bidders only. Returns ``(price, sold, winner)``; the winner is ``-1`` when nobody bid.
    ``increment`` is a flat step or the house's increment as a function of the price it is
    added to (:func:`increment_steps`: increment tables, percentages).
    """
    inc = increment if callable(increment) else increment_steps(float(increment))
    count, size = maxima.shape[0], maxima.shape[1:]
    leader = np.full(size, -1, dtype=np.int64)
    leader_max = np.full(size, -np.inf)
    price = np.zeros(size)
    opening = max(min_amount, start)
    for i in range(count):
        m = maxima[i].astype(np.float64)
        first = leader < 0
        minimum = np.where(first, opening, price + inc(price))
        bids = m >= minimum
        takes = bids & (first | (m > leader_max))
        over_leader = np.where(first, 0.0, leader_max + inc(np.where(first, 0.0, leader_max)))
        new_price = np.where(first, minimum, np.maximum(minimum, np.minimum(m, over_leader)))
        answered = np.minimum(leader_max, m + inc(m))
        price = np.where(takes, new_price, np.where(bids, answered, price))
        leader = np.where(takes, i, leader)
        leader_max = np.where(takes, m, leader_max)
    sold = leader >= 0
    if reserve is not None:
        # The house keeps the reserve secret until close: a winner whose maximum covers it
        # pays at least the reserve then.
        sold &= leader_max >= reserve
        price = np.where(sold, np.maximum(price, reserve), price)
    return price, sold, leader
