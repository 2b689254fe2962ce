"""The thesis' fuzzy state and decision mapping (THESIS-MODEL.md "Fuzzy state", "Chromosomes").

Everything here is a pure function of NumPy arrays (or plain floats), so the evolution kernels and
a live agent share one definition:

* :func:`memberships` turns an input (expected valuation ``v``, valuation range ``r`` or expected
  scale-down ``s``) into the memberships of ``p`` evenly spread triangular sets;
* :func:`state_weights` multiplies them into one weight per fuzzy state, flat index
  ``i*p2*p3 + j*p3 + l``;
* :func:`decision_level` is ``t = sum_k F[k] * C[k]`` for a chromosome ``C``;
* :func:`bid_amount`, :func:`scale_down_amount` and :func:`seller_price` map ``t`` to money.

:class:`FuzzyStrategy` bundles one evolved set of chromosomes with the fuzzy partition it was
evolved under; :func:`decide` is the one call an agent makes: ``(strategy, v, r, s) -> amounts``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

Role = Literal["bidder", "seller"]

DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "v": (100.0, 200.0),
    "r": (0.0, 50.0),
    "s": (10.0, 20.0),
}


def memberships(x: npt.ArrayLike, lo: float, hi: float, p: int) -> FloatArray:
    """Memberships of ``x`` in ``p`` triangular sets spread evenly over ``[lo, hi]``.

    Returns shape ``x.shape + (p,)``; every row sums to 1. With ``p == 1`` the single set always has
    membership 1 (the input is ignored, as the thesis does for ``s`` in PV auctions).
    """
    xs = np.asarray(x, dtype=np.float64)
    out = np.zeros((*xs.shape, p), dtype=np.float64)
    if p == 1:
        out[..., 0] = 1.0
        return out
    if hi <= lo:
        raise ValueError(f"fuzzy range must have lo < hi, got [{lo}, {hi}]")
    d = (hi - lo) / (p - 1)
    pos = np.clip((xs - lo) / d, 0.0, p - 1)
    i = np.minimum(np.floor(pos).astype(np.int64), p - 2)
    upper = pos - i  # membership of set i+1
    np.put_along_axis(out, i[..., None], (1.0 - upper)[..., None], axis=-1)
    np.put_along_axis(out, (i + 1)[..., None], upper[..., None], axis=-1)
    return out


def state_weights(mu_v: FloatArray, mu_r: FloatArray, mu_s: FloatArray) -> FloatArray:
    """``F[i, j, l] = muV[i] * muR[j] * muS[l]``, flattened to ``(..., p1*p2*p3)``."""
    f = mu_v[..., :, None, None] * mu_r[..., None, :, None] * mu_s[..., None, None, :]
    return f.reshape(*f.shape[:-3], -1)


@dataclass(frozen=True)
class FuzzyPartition:
    """How many sets partition each input, and over which ranges (thesis defaults 3/3/2)."""

    sets: tuple[int, int, int] = (3, 3, 2)
    ranges: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_RANGES))
    common_value: bool = False

    @property
    def effective_sets(self) -> tuple[int, int, int]:
        """PV auctions ignore the scale-down input: its partition collapses to one set."""
        p1, p2, p3 = self.sets
        return (p1, p2, p3 if self.common_value else 1)

    @property
    def states(self) -> int:
        p1, p2, p3 = self.effective_sets
        return p1 * p2 * p3

    def weights(self, v: npt.ArrayLike, r: npt.ArrayLike, s: npt.ArrayLike) -> FloatArray:
        """State weights ``F`` for auction states ``(v, r, s)``; shape ``(..., states)``."""
        p1, p2, p3 = self.effective_sets
        rv, rr, rs = self.ranges["v"], self.ranges["r"], self.ranges["s"]
        return state_weights(
            memberships(v, rv[0], rv[1], p1),
            memberships(r, rr[0], rr[1], p2),
            memberships(s, rs[0], rs[1], p3),
        )


def decision_level(weights: FloatArray, chromosome: npt.ArrayLike) -> FloatArray:
    """``t = sum_k F[k] * C[k]``; ``chromosome`` may be ``(states,)`` or ``(members, states)``.

    With a population the result has shape ``weights.shape[:-1] + (members,)``.
    """
    c = np.asarray(chromosome, dtype=np.float64)
    if c.ndim == 1 or c.shape[-1] <= 24:
        return np.asarray(weights @ c.T, dtype=np.float64)
    # Larger products make OpenBLAS start its threads, which spin and burn several times the
    # CPU on a shared machine (measured 3.7 ms vs 0.4 ms for 100 x 100 x 100); einsum stays in
    # one thread.
    return np.asarray(np.einsum("...s,ms->...m", weights, c), dtype=np.float64)


def bid_amount(v: npt.ArrayLike, r: npt.ArrayLike, t: npt.ArrayLike, top: int) -> FloatArray:
    """Bid ``v - r/2 + t*r/n`` (``n = top``, the largest allele), unrounded."""
    va, ra = np.asarray(v, dtype=np.float64), np.asarray(r, dtype=np.float64)
    return np.asarray(va - ra / 2 + np.asarray(t) * ra / top, dtype=np.float64)


def scale_down_amount(s: npt.ArrayLike, t: npt.ArrayLike, top: int) -> FloatArray:
    """Scale-down ``s/2 + t*s/n``, unrounded."""
    sa = np.asarray(s, dtype=np.float64)
    return np.asarray(sa / 2 + np.asarray(t) * sa / top, dtype=np.float64)


def price_bounds(
    v: npt.ArrayLike, r: npt.ArrayLike, s: npt.ArrayLike, common_value: bool
) -> tuple[FloatArray, FloatArray]:
    """``[minVal, maxVal]`` of bidder maxima: ``v -+ r/2``, shifted by the scale-down in CV."""
    va, ra = np.asarray(v, dtype=np.float64), np.asarray(r, dtype=np.float64)
    lo, hi = va - ra / 2, va + ra / 2
    if common_value:
        sa = np.asarray(s, dtype=np.float64)
        lo, hi = lo - 1.5 * sa, hi - 0.5 * sa
    return lo, hi


def seller_price(
    v: npt.ArrayLike, r: npt.ArrayLike, s: npt.ArrayLike, t: npt.ArrayLike, top: int, cv: bool
) -> FloatArray:
    """Reserve or starting price ``minVal + t*(maxVal - minVal)/n``, unrounded."""
    lo, hi = price_bounds(v, r, s, cv)
    return np.asarray(lo + np.asarray(t) * (hi - lo) / top, dtype=np.float64)


def round_money(x: npt.ArrayLike) -> IntArray:
    """Round to the nearest integer, halves away from zero (as a person would, 90.5 -> 91)."""
    xa = np.asarray(x, dtype=np.float64)
    return np.asarray(np.sign(xa) * np.floor(np.abs(xa) + 0.5), dtype=np.int64)


@dataclass(frozen=True)
class FuzzyStrategy:
    """One evolved strategy: chromosomes (digit lists) plus the partition they index.

    Bidder chromosomes: ``bid`` (and ``scale_down`` in CV). Seller: ``reserve`` (and ``starting``
    for English and Dutch). ``decision`` is the rule it was evolved under (``text`` or ``code``,
    docs/simulator.md); an agent must decide by the same rule.
    """

    role: Role
    method: str
    values: Literal["pv", "cv"]
    alleles: int
    partition: FuzzyPartition
    chromosomes: dict[str, tuple[int, ...]]
    decision: Literal["text", "code"] = "text"

    @property
    def top(self) -> int:
        return self.alleles - 1


def decide(strategy: FuzzyStrategy, v: float, r: float, s: float = 0.0) -> dict[str, int]:
    """What an agent following ``strategy`` does in an auction with state ``(v, r, s)``.

    Bidder: ``{"bid": b, "scale_down": d, "amount": b - d}`` (``amount`` is what it submits; its
    maximum in a clock auction). Seller: ``{"reserve": ..., "starting": ...}`` (``starting`` only
    when the strategy has that chromosome). Amounts are rounded to whole units (``text``) or
    truncated toward zero as Java's ``(int)`` does (``code``, :func:`_decide_code`).
    """
    if strategy.decision == "code":
        return _decide_code(strategy, v, r, s)
    cv = strategy.values == "cv"
    s_eff = s if cv else 0.0
    weights = strategy.partition.weights(v, r, s_eff)
    level = {
        name: float(decision_level(weights, genes)) for name, genes in strategy.chromosomes.items()
    }
    if strategy.role == "bidder":
        bid = float(bid_amount(v, r, level["bid"], strategy.top))
        down = float(scale_down_amount(s_eff, level["scale_down"], strategy.top)) if cv else 0.0
        return {
            "bid": int(round_money(bid)),
            "scale_down": int(round_money(down)),
            "amount": int(round_money(bid - down)),
        }
    out: dict[str, int] = {}
    for name in ("reserve", "starting"):
        if name in level:
            price = seller_price(v, r, s_eff, level[name], strategy.top, cv)
            out[name] = int(round_money(price))
    return out


def _decide_code(strategy: FuzzyStrategy, v: float, r: float, s: float) -> dict[str, int]:
    """:func:`decide` under appendix H's rule (``DecFV2``/``DecFV3``/``DecFV3SD``)."""
    from auctionhouse.sim import appendix_h

    part, cv = strategy.partition, strategy.values == "cv"
    rg = appendix_h.CodeRanges.of(part.ranges)
    sets = part.sets
    state = appendix_h.code_state(
        appendix_h.java_memberships(np.array([[v]]), rg.a, rg.b, sets[0]),
        appendix_h.java_memberships(np.array([[r]]), rg.c, rg.d, sets[1]),
        appendix_h.java_memberships(np.array([[s]]), rg.e, rg.f, sets[2]) if cv else None,
    )

    def one(name: str) -> int:
        genes = np.array([strategy.chromosomes[name]])
        if name == "scale_down":
            return int(appendix_h.scale_down(state, genes, rg, sets[2], strategy.top)[0, 0])
        return int(appendix_h.price(state, genes, rg, sets, cv, strategy.top)[0, 0])

    if strategy.role == "bidder":
        bid = one("bid")
        down = one("scale_down") if cv else 0
        return {"bid": bid, "scale_down": down, "amount": bid - down}
    return {name: one(name) for name in ("reserve", "starting") if name in strategy.chromosomes}
