"""The thesis' appendix H decision rule (the ``code`` rule), bit for bit with Java arithmetic.

Chapter 8's numbers were produced by the thesis' Java code, not by its text's formula
(THESIS-MODEL.md, "What really produced chapter 8"; line numbers into seed 004):

* ``AV``/``VR``/``SDV`` (L13124-13200) give the memberships of an integer input in ``float``
  (IEEE single) arithmetic: ``fv[i] = -val/d + (1+i+a/d)``, ``fv[i+1] = val/d - (i+a/d)``.
* ``DecFV2`` (L13002-13038, PV) and ``DecFV3`` (L13040-13083, CV) take the *dominant* fuzzy state
  (the first arg-max of ``F``, scan order ``i, j, k``, strict ``<``), build a bid interval from
  that state's cell with Java ``int`` division (truncating toward zero) and return
  ``(int)(minbid + (float)(threshold/N) * (maxbid - minbid))``, truncated toward zero, where
  ``threshold = sum_k C[k] * F[k]`` is accumulated in ``float`` in scan order.
* ``DecFV3SD`` (L13085-13115) does the same for the scale-down over ``[minsd/2, 3*maxsd/2]``.
* ``Children`` (L13406-13412): ``(int)(1 + m*rank + c)`` children per ranked pair, in ``float``.

Everything here is a pure function of NumPy arrays. ``float`` steps are done in ``np.float32``
one operation at a time, in Java's order, so the results equal the Java program's (IEEE single
arithmetic rounds each operation the same way in both). Only the ``<= 8`` fuzzy states that can
be non-zero are visited: adding ``C*0`` to a ``float`` sum changes nothing, so the sum over them in
scan order equals Java's sum over all states.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = np.float32
IntArray = npt.NDArray[np.int64]
AnyInts = npt.NDArray[np.signedinteger[Any]]  # int32 from the tables, int64 computed
F32Array = npt.NDArray[np.float32]


def java_div(n: npt.ArrayLike, d: npt.ArrayLike) -> IntArray:
    """Java ``int`` division: the quotient truncated toward zero (``-7 / 2 == -3``).

    Raises ``ZeroDivisionError`` when a divisor is 0 (Java throws ``ArithmeticException``).
    Computed as ``trunc(n / d)`` in ``float64``, exact for ``|n|, |d| < 2**26`` (an inexact
    quotient is at least ``1/|d|`` from an integer, far more than the rounding error).
    """
    na, da = np.asarray(n, dtype=np.int64), np.asarray(d, dtype=np.int64)
    if np.any(da == 0):
        raise ZeroDivisionError("Java integer division by zero")
    return np.asarray(np.trunc(na / da), dtype=np.int64)


def java_int(x: npt.ArrayLike) -> IntArray:
    """Java's ``(int)`` cast of a ``float``: truncation toward zero."""
    return np.asarray(x, dtype=np.float32).astype(np.int64)  # C's cast truncates toward zero


def java_int32(x: npt.NDArray[np.float32]) -> npt.NDArray[np.int32]:
    """:func:`java_int` into ``int32`` (Java's ``int``), for large arrays of draws."""
    return x.astype(np.int32)


def java_memberships(val: npt.ArrayLike, a: int, b: int, p: int) -> F32Array:
    """``AV``/``VR``/``SDV``: memberships of ``val`` in ``p`` sets over ``[a, b]`` (Java floats).

    Shape ``val.shape + (p,)``. Needs ``p >= 2`` (with one set Java divides by zero and leaves the
    vector empty inside the range).
    """
    if p < 2:
        raise ValueError("the code rule needs at least 2 fuzzy sets per input")
    x = np.asarray(val, dtype=F32)
    out = np.zeros((*x.shape, p), dtype=F32)
    d = F32(b - a) / F32(p - 1)
    a32 = F32(a)
    a_over_d = a32 / d
    out[..., 0] = np.where(x < a32, F32(1), out[..., 0])
    for i in range(p - 1):
        inside = (x >= a32 + F32(i) * d) & (x < a32 + F32(i + 1) * d)
        lower = (-x) / d + (F32(1 + i) + a_over_d)
        upper = x / d - (F32(i) + a_over_d)
        out[..., i] = np.where(inside, lower, out[..., i])
        out[..., i + 1] = np.where(inside, upper, out[..., i + 1])
    out[..., p - 1] = np.where(x >= F32(b), F32(1), out[..., p - 1])
    return out


def _neighbourhood(mu: F32Array) -> tuple[IntArray, F32Array, F32Array]:
    """The lowest set with a non-zero membership ``i0`` and the memberships of ``i0``, ``i0+1``
    (0 past the last set). Java sets at most two adjacent entries, so nothing else is non-zero."""
    p = mu.shape[-1]
    i0 = np.asarray(np.argmax(mu != 0, axis=-1), dtype=np.int64)
    lo = np.take_along_axis(mu, i0[..., None], axis=-1)[..., 0]
    nxt = np.minimum(i0 + 1, p - 1)
    hi = np.where(i0 + 1 < p, np.take_along_axis(mu, nxt[..., None], axis=-1)[..., 0], F32(0))
    return i0, lo, hi.astype(F32)


@dataclass(frozen=True)
class CodeState:
    """The fuzzy state of some auctions as the code sees it: the non-zero weights of ``F`` in scan
    order (``index[q]``, ``weight[q]``) and the dominant cell ``(loc_v, loc_r, loc_s)``."""

    index: list[AnyInts]
    weight: list[F32Array]
    loc_v: IntArray
    loc_r: IntArray
    loc_s: IntArray


def code_state(mu_v: F32Array, mu_r: F32Array, mu_s: F32Array | None) -> CodeState:
    """Weights ``F`` (``fv1[i]*fv2[j]`` in PV, ``fv1[i]*fv2[j]*fv3[k]`` in CV, in ``float``) of the
    states that can be non-zero, and the dominant state (first arg-max, strict ``<`` from 0)."""
    iv, v0, v1 = _neighbourhood(mu_v)
    ir, r0, r1 = _neighbourhood(mu_r)
    p1, p2 = mu_v.shape[-1], mu_r.shape[-1]
    s_mu: list[F32Array | None]
    if mu_s is None:
        i_s, s_mu, p3 = np.zeros_like(iv), [None], 1
    else:
        i_s, s0, s1 = _neighbourhood(mu_s)
        s_mu, p3 = [s0, s1], mu_s.shape[-1]
    index: list[AnyInts] = []
    weight: list[F32Array] = []
    for dv, fv in ((0, v0), (1, v1)):
        for dr, fr in ((0, r0), (1, r1)):
            for ds, fs in enumerate(s_mu):
                w = fv * fr if fs is None else (fv * fr) * fs
                i, j, k = np.minimum(iv + dv, p1 - 1), np.minimum(ir + dr, p2 - 1), i_s + ds
                k = np.minimum(k, p3 - 1)
                index.append(np.asarray(i * p2 * p3 + j * p3 + k, dtype=np.int64))
                weight.append(np.asarray(w, dtype=F32))
    stacked = np.stack(weight, axis=-1)
    best = np.argmax(stacked, axis=-1)  # first maximum: Java's strict `dom < V`
    dv_best = best // (4 if mu_s is not None else 2)
    dr_best = (best // (2 if mu_s is not None else 1)) % 2
    ds_best = best % 2 if mu_s is not None else np.zeros_like(best)
    return CodeState(
        index,
        weight,
        np.minimum(iv + dv_best, p1 - 1),
        np.minimum(ir + dr_best, p2 - 1),
        np.minimum(i_s + ds_best, p3 - 1),
    )


def threshold(state: CodeState, chromosomes: npt.NDArray[np.integer]) -> F32Array:
    """``threshold += (float)chromo[k] * V`` in scan order, for every member.

    ``chromosomes`` is ``(members, states)``; the state's arrays are ``(A, 1)`` (one draw shared
    by all members) or ``(A, members)``. Returns ``(A, members)`` ``float32``.
    """
    return thresholds(state, [chromosomes])[0]


def thresholds(state: CodeState, chromosomes: list[npt.NDArray[np.integer]]) -> list[F32Array]:
    """:func:`threshold` of several chromosomes (bid and scale-down) on one state, sharing the
    gather indices."""
    members, states = np.shape(chromosomes[0])
    offset = (np.arange(members) * states)[None, :]
    flats = [np.asarray(c, dtype=F32).ravel() for c in chromosomes]
    totals: list[F32Array | None] = [None] * len(flats)
    for idx, w in zip(state.index, state.weight, strict=True):
        where = idx + offset  # one flat gather per term: much faster than 2-D fancy indexing
        for k, flat in enumerate(flats):
            term = np.take(flat, where) * w
            prev = totals[k]
            totals[k] = term if prev is None else prev + term
    return [np.asarray(t, dtype=F32) for t in totals]


def _decide(lo: AnyInts, hi: AnyInts, thr: F32Array, top: int) -> IntArray:
    """``(int)(lo + (float)(threshold/N) * (hi - lo))``."""
    level = thr / F32(top)
    return java_int(lo.astype(F32) + level * (hi - lo).astype(F32))


@dataclass(frozen=True)
class CodeRanges:
    """The integer ranges the code passes as ``a, b`` (v), ``c, d`` (r), ``e, f`` (s)."""

    a: int
    b: int
    c: int
    d: int
    e: int
    f: int

    @classmethod
    def of(cls, ranges: dict[str, tuple[float, float]]) -> CodeRanges:
        """From a model's ranges; ``ValueError`` unless every bound is a whole number."""
        bounds = [ranges[k][i] for k in "vrs" for i in (0, 1)]
        if any(float(x) != int(x) for x in bounds):
            raise ValueError("the code rule needs whole-number ranges (Java int)")
        a, b, c, d, e, f = (int(x) for x in bounds)
        return cls(a, b, c, d, e, f)


def bid_interval(
    state: CodeState, rg: CodeRanges, sets: tuple[int, int, int], cv: bool
) -> tuple[IntArray, IntArray]:
    """``[minbid, maxbid]`` of ``DecFV2`` (PV) or ``DecFV3`` (CV) for the dominant cell."""
    p1, p2, p3 = sets
    minbid = rg.a + java_div(state.loc_v * (rg.b - rg.a), p1)
    maxbid = rg.a + java_div((state.loc_v + 1) * (rg.b - rg.a), p1)
    maxrange = rg.c + java_div((state.loc_r + 1) * (rg.d - rg.c), p2)
    if not cv:
        return minbid - java_div(maxrange, 2), maxbid + java_div(maxrange, 2)
    minsd, maxsd = _sd_cell(state, rg, p3)
    return (
        minbid - java_div(maxrange, 2) - maxsd,
        maxbid + java_div(maxrange, 2) - minsd,
    )


def _sd_cell(state: CodeState, rg: CodeRanges, p3: int) -> tuple[IntArray, IntArray]:
    minsd = rg.e + java_div(state.loc_s * (rg.f - rg.e), p3)
    maxsd = rg.e + java_div((state.loc_s + 1) * (rg.f - rg.e), p3)
    return minsd, maxsd


def scale_down_interval(state: CodeState, rg: CodeRanges, p3: int) -> tuple[IntArray, IntArray]:
    """``[minsd/2, 3*maxsd/2]`` of ``DecFV3SD`` for the dominant cell."""
    minsd, maxsd = _sd_cell(state, rg, p3)
    return java_div(minsd, 2), java_div(3 * maxsd, 2)


def price(
    state: CodeState,
    chromosomes: npt.NDArray[np.integer],
    rg: CodeRanges,
    sets: tuple[int, int, int],
    cv: bool,
    top: int,
) -> IntArray:
    """A bid, reserve or starting price: ``DecFV2`` (PV) or ``DecFV3`` (CV), ``(A, members)``."""
    lo, hi = bid_interval(state, rg, sets, cv)
    return _decide(lo, hi, threshold(state, chromosomes), top)


def scale_down(
    state: CodeState, chromosomes: npt.NDArray[np.integer], rg: CodeRanges, p3: int, top: int
) -> IntArray:
    """The scale-down of ``DecFV3SD``, ``(A, members)``."""
    lo, hi = scale_down_interval(state, rg, p3)
    return _decide(lo, hi, threshold(state, chromosomes), top)


def child_counts(members: int) -> IntArray:
    """``Children(rank, num)`` for ranks ``1..N/2``, then filled best-first until ``N`` children
    (``NewGenerations``, L13514-13530): the worst pairs get none once the population is full."""
    if members < 4 or members % 2:
        raise ValueError(f"population size must be even and at least 4, got {members}")
    c = F32(4 * members) / F32(members - 2)
    m = F32(-8.0) / F32(members - 2)
    ranks = np.arange(1, members // 2 + 1)
    raw = java_int((F32(1) + m * ranks.astype(F32)) + c)
    before = np.concatenate([[0], np.cumsum(raw)[:-1]])
    return np.asarray(np.clip(members - before, 0, raw), dtype=np.int64)


def draw_int(
    rng: np.random.Generator, lo: npt.ArrayLike, width: npt.ArrayLike, size: tuple[int, ...]
) -> IntArray:
    """``lo + (int)(width * r.nextFloat())``: the code's uniform integer in ``[lo, lo+width)``
    (``lo`` when ``width`` is 0); ``nextFloat`` is a 24-bit ``float`` in ``[0, 1)``."""
    u = rng.random(size, dtype=F32)
    base = np.asarray(lo, dtype=np.int64)
    return np.asarray(base + java_int(np.asarray(width, dtype=F32) * u), dtype=np.int64)


def _next_float_grid(u: F32Array) -> F32Array:
    """``u`` on ``nextFloat``'s grid: a multiple of ``2^-24`` below 1 (exact in ``float32``)."""
    grid = F32(1 << 24)
    return np.asarray(np.minimum(np.floor(u * grid), grid - F32(1)) / grid, dtype=F32)


def top_two_ints(bids: npt.NDArray[np.integer]) -> tuple[IntArray, IntArray]:
    """Highest and second-highest along axis 0 of integer bids (``(n, ...)``, ``n >= 1``);
    the second is the highest again when two share the top. Five whole-array passes, about
    twice as fast as a row-by-row scan for ten bidders."""
    m1 = bids.max(axis=0)
    top = bids == m1
    shared = top.sum(axis=0) >= 2
    rest = np.where(top, np.iinfo(bids.dtype).min, bids).max(axis=0)
    return np.asarray(m1, dtype=np.int64), np.asarray(np.where(shared, m1, rest), dtype=np.int64)


def top_two_draws(
    rng: np.random.Generator, lo: IntArray, width: IntArray, n: int
) -> tuple[IntArray, IntArray]:
    """Highest and second-highest of ``n`` draws ``lo + (int)(width * U)`` (``-1`` stands for
    "no second bidder" when ``n == 1``), sampled exactly through the uniform order statistics
    ``U(1) = B1^(1/n)``, ``U(2) = U(1) * B2^(1/(n-1))``: the map is non-decreasing in ``U``, so the
    top two draws are the map of the top two ``U``s. Two draws per auction instead of ``n``."""
    shape = np.shape(lo)
    u1 = rng.random(shape, dtype=F32) ** F32(1.0 / n)  # float32: the grid below is 2^-24 anyway
    # nextFloat's grid: multiples of 2^-24 below 1
    w = np.asarray(width, dtype=F32)
    first = lo + java_int(w * _next_float_grid(u1))
    if n == 1:
        return np.asarray(first, dtype=np.int64), np.full(shape, -1, dtype=np.int64)
    u2 = u1 * rng.random(shape, dtype=F32) ** F32(1.0 / (n - 1))
    second = lo + java_int(w * _next_float_grid(u2))
    return np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)


@dataclass(frozen=True)
class CodeTable:
    """Every integer auction state ``(v, r[, s])`` of the ranges, decided once: the simulator's
    draws are integers in ``[a, b)``, ``[c, d)``, ``[e, f)``, so a round looks its states up
    (:meth:`lookup`) instead of recomputing memberships. Built by the same functions, so equal.

    ``ints[combo]`` holds the term indices then ``minbid, maxbid, minsd/2, 3*maxsd/2``;
    ``weights[combo]`` the terms' weights (two gathers per round).
    """

    ranges: CodeRanges
    cv: bool
    ints: npt.NDArray[np.int32]
    weights: F32Array

    def combo(self, v: IntArray, r: IntArray, s: IntArray | None) -> IntArray:
        """Flat table index of integer states (``ValueError`` outside the drawn ranges)."""
        rg = self.ranges
        i, j = v - rg.a, r - rg.c
        if i.min() < 0 or i.max() >= rg.b - rg.a or j.min() < 0 or j.max() >= max(rg.d - rg.c, 1):
            raise ValueError("state outside the code rule's integer ranges")
        flat = i * max(rg.d - rg.c, 1) + j
        if self.cv:
            assert s is not None
            k = s - rg.e
            if k.min() < 0 or k.max() >= rg.f - rg.e:
                raise ValueError("scale-down outside the code rule's integer range")
            flat = flat * (rg.f - rg.e) + k
        return np.asarray(flat, dtype=np.int64)

    def lookup(self, combo: IntArray) -> tuple[CodeState, AnyInts, AnyInts, AnyInts, AnyInts]:
        """The state, ``[minbid, maxbid]`` and ``[minsd/2, 3*maxsd/2]`` of looked-up auctions
        (the state's dominant cell is not kept: the intervals already encode it)."""
        rows = np.take(self.ints, combo, axis=0)
        w = np.take(self.weights, combo, axis=0)
        terms = self.weights.shape[1]
        none = np.zeros(0, dtype=np.int64)
        state = CodeState(
            [rows[..., q] for q in range(terms)],
            [w[..., q] for q in range(terms)],
            none,
            none,
            none,
        )
        lo, hi, sd_lo, sd_hi = (rows[..., terms + q] for q in range(4))
        return state, lo, hi, sd_lo, sd_hi


@lru_cache(maxsize=32)
def code_table(rg: CodeRanges, sets: tuple[int, int, int], cv: bool) -> CodeTable:
    """The :class:`CodeTable` of ``rg`` and ``sets`` (``ValueError`` for an empty range)."""
    if rg.b <= rg.a or (cv and rg.f <= rg.e):
        raise ValueError("the code rule needs min < max for v (and s in CV)")
    vs = np.arange(rg.a, rg.b)
    rs = np.arange(rg.c, max(rg.d, rg.c + 1))
    ss = np.arange(rg.e, rg.f) if cv else np.zeros(1, dtype=np.int64)
    grid = [g.ravel() for g in np.meshgrid(vs, rs, ss, indexing="ij")]
    state = code_state(
        java_memberships(grid[0], rg.a, rg.b, sets[0]),
        java_memberships(grid[1], rg.c, rg.d, sets[1]),
        java_memberships(grid[2], rg.e, rg.f, sets[2]) if cv else None,
    )
    lo, hi = bid_interval(state, rg, sets, cv)
    sd_lo, sd_hi = scale_down_interval(state, rg, sets[2]) if cv else (lo * 0, lo * 0)
    ints = np.stack([*state.index, lo, hi, sd_lo, sd_hi], axis=1).astype(np.int32)
    return CodeTable(rg, cv, ints, np.stack(state.weight, axis=1))


def decide_levels(lo: AnyInts, hi: AnyInts, thr: F32Array, top: int) -> IntArray:
    """``(int)(lo + (float)(threshold/N) * (hi - lo))`` from precomputed thresholds."""
    return _decide(lo, hi, thr, top)


def decide_from(
    lo: AnyInts, hi: AnyInts, state: CodeState, chromosomes: npt.NDArray[np.integer], top: int
) -> IntArray:
    """``(int)(lo + (float)(threshold/N) * (hi - lo))`` for every member, ``(A, members)``."""
    return _decide(lo, hi, threshold(state, chromosomes), top)
