"""The thesis' auction environment (THESIS-MODEL.md), vectorized over auctions and members.

A *round* is ``A`` auctions drawn afresh: per auction an expected valuation ``v``, a range ``r`` and
(CV) an expected scale-down ``s``; each fixed bidder's valuation ``~ U[v - r/2, v + r/2]`` and, in
CV, its scale-down ``~ U[s/2, 3s/2]``; it bids valuation - scale-down, rounded to a whole unit.
:func:`play_round` then plays that round against every member of an evolving population at once,
giving arrays of shape ``(A, members)``.

Two decision rules (``ThesisConfig.decision``; docs/simulator.md says which reproduces what):

* ``text`` (the thesis' text, L7585-7607, and its worked example L6485-6515): a bid is
  ``v - r/2 + t*r/n`` from the auction's own ``v`` and ``r``; every member of a generation meets
  the same round (common random numbers: fitness differences come from strategies, not luck).
* ``code`` (appendix H, which produced chapter 8; :mod:`auctionhouse.sim.appendix_h`): integer
  ``v``, ``r``, ``s`` draws, the dominant fuzzy cell's interval with Java integer arithmetic,
  opponents bidding ``av - ra/2 + (int)(ra' * U)`` (no shading in PV), each member playing its own
  freshly drawn auctions, and the code's children counts.

Readings this module fixes (the thesis text and code disagree; docs/simulator.md says why):

* The evolving bidder registers first, so it wins ties (the thesis' fitness table: wins for B >= H).
* Scenario 1's fixed seller has reserve 0 and opens the English clock one DELTABID below the lowest
  bid anyone can make in that auction, the Dutch clock at (``text``: ``ceil(v + r/2)``) or one
  DELTABID above (``code``, whose bids reach 225 > v + r/2) the highest, so every bidder is in at
  the first ask, no bid is capped by the clock and the item is always sold.
* A sale needs price >= reserve; in Vickrey the price is the second-highest bid (so a reserve
  filters sales but never raises the price, as in the thesis' seller fitness table).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from auctionhouse.sim import appendix_h, kernels
from auctionhouse.sim.fuzzy import (
    DEFAULT_RANGES,
    FuzzyPartition,
    bid_amount,
    decision_level,
    price_bounds,
    round_money,
    scale_down_amount,
    seller_price,
)

METHODS = ("fpsb", "vickrey", "english", "dutch")
SCENARIOS = ("bidder", "seller")
DECISIONS = ("text", "code")
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ThesisConfig:
    """Every parameter of a thesis run; defaults are the thesis' chapter 8 defaults.

    ``decision`` picks the rule: ``text`` (the thesis' formula) or ``code`` (its appendix H).
    """

    scenario: str = "bidder"
    method: str = "fpsb"
    values: str = "pv"
    opponents: int = 10
    population: int = 100
    generations: int = 100
    auctions: int = 100
    crossover: float = 0.9
    mutation: float = 0.01
    alleles: int = 5
    sets: tuple[int, int, int] = (3, 3, 2)
    private_value: float | None = None
    credit: float = 1000.0
    ranges: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_RANGES))
    delta_bid: float = 5.0
    seed: int = 0
    decision: str = "text"

    @property
    def common_value(self) -> bool:
        return self.values == "cv"

    @property
    def code_rule(self) -> bool:
        return self.decision == "code"

    @property
    def own_value(self) -> float:
        """The evolving agent's private value (PV): bidder 200, seller 100 unless set."""
        if self.private_value is not None:
            return self.private_value
        return 200.0 if self.scenario == "bidder" else 100.0

    @property
    def partition(self) -> FuzzyPartition:
        return FuzzyPartition(self.sets, dict(self.ranges), self.common_value)

    @property
    def chromosome_names(self) -> tuple[str, ...]:
        if self.scenario == "bidder":
            return ("bid", "scale_down") if self.common_value else ("bid",)
        return ("reserve", "starting") if self.method in ("english", "dutch") else ("reserve",)


def validate(cfg: ThesisConfig) -> None:
    """Raise ``ValueError`` naming the first bad field."""
    lo_v, hi_v = cfg.ranges["v"]
    checks = [
        (cfg.scenario in SCENARIOS, "scenario must be bidder or seller"),
        (cfg.method in METHODS, f"method must be one of {', '.join(METHODS)}"),
        (cfg.values in ("pv", "cv"), "values must be pv or cv"),
        (cfg.decision in DECISIONS, "decision must be text or code"),
        (cfg.opponents >= (1 if cfg.scenario == "seller" else 0), "opponents is too small"),
        (cfg.population >= 4 and cfg.population % 2 == 0, "population must be even and >= 4"),
        (cfg.generations >= 1, "generations must be at least 1"),
        (cfg.auctions >= 1, "auctions must be at least 1"),
        (0.0 <= cfg.crossover <= 1.0, "crossover must lie in [0, 1]"),
        (0.0 <= cfg.mutation <= 1.0, "mutation must lie in [0, 1]"),
        (2 <= cfg.alleles <= 10, "alleles must lie in 2..10 (one digit per gene)"),
        (len(cfg.sets) == 3 and min(cfg.sets) >= 1, "sets must be three counts >= 1"),
        (cfg.delta_bid > 0, "delta_bid must be positive"),
        (0 <= lo_v < hi_v, "the v range must satisfy 0 <= min < max"),
        (all(lo <= hi for lo, hi in cfg.ranges.values()), "every range needs min <= max"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
    if cfg.code_rule:
        appendix_h.CodeRanges.of(cfg.ranges)  # whole numbers, or ValueError
        partitioned = "vrs" if cfg.common_value else "vr"
        for k, name in enumerate(partitioned):
            if cfg.sets[k] < 2:
                raise ValueError(f"the code rule needs at least 2 fuzzy sets for {name}")
            if cfg.ranges[name][0] >= cfg.ranges[name][1]:
                raise ValueError(f"the code rule needs min < max for the {name} range")


@dataclass(frozen=True)
class Round:
    """One round of auctions.

    ``v``, ``r``, ``s``: the auction states, ``(A,)`` (``text``: one round for every member) or
    ``(A, members)`` (``code``: each member its own auctions). ``h1``, ``h2``: the highest and
    second-highest fixed bid, ``(A, 1)`` or ``(A, members)`` (``-inf`` where there is none).
    ``fixed_bids``: every fixed bid, ``(fixed, A)`` (``text`` only; the code rule samples just the
    top two in PV).
    """

    v: FloatArray
    r: FloatArray
    s: FloatArray
    h1: FloatArray
    h2: FloatArray
    fixed_bids: IntArray | None = None

    def states(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``v, r, s`` as 2-D arrays that broadcast against ``(A, members)``."""
        if self.v.ndim == 2:
            return self.v, self.r, self.s
        return self.v[:, None], self.r[:, None], self.s[:, None]


def draw_round(cfg: ThesisConfig, rng: np.random.Generator, members: int = 1) -> Round:
    """Draw ``cfg.auctions`` auction states and the fixed bidders' bids.

    ``text``: one round shared by every member. ``code``: ``members`` independent rounds (the
    code's loop draws afresh for every member), integer draws as appendix H makes them.
    """
    if cfg.code_rule:
        return _draw_code_round(cfg, rng, members)
    a = cfg.auctions
    v = rng.uniform(*cfg.ranges["v"], size=a)
    r = rng.uniform(*cfg.ranges["r"], size=a)
    s = rng.uniform(*cfg.ranges["s"], size=a) if cfg.common_value else np.zeros(a)
    valuation = v - r / 2 + r * rng.random((cfg.opponents, a))
    if cfg.common_value:
        valuation = valuation - s / 2 - s * rng.random((cfg.opponents, a))
    bids = round_money(valuation)
    h1, h2 = _top_two(bids, (a, 1))
    return Round(v, r, s, h1, h2, bids)


def _top_two(bids: IntArray, shape: tuple[int, int]) -> tuple[FloatArray, FloatArray]:
    if bids.shape[0] == 0:
        none = np.full(shape, -np.inf)
        return none, none.copy()
    h1, h2, _ = kernels.top_two(bids)
    return h1.reshape(shape), h2.reshape(shape)


def _draw_code_round(cfg: ThesisConfig, rng: np.random.Generator, members: int) -> Round:
    """Appendix H's draws (L13604-13617): ``av = minV + (int)((maxV-minV)*U)``, ``ra`` likewise
    (``asd`` too in CV); each opponent bids ``minVal + (int)((maxVal-minVal)*U)`` with
    ``[minVal, maxVal] = [av - ra/2, av + ra/2]`` (Java ints), minus in CV a scale-down
    ``asd/2 + (int)((3*asd/2 - asd/2)*U)``."""
    rg = appendix_h.CodeRanges.of(cfg.ranges)
    shape = (cfg.auctions, members)
    av = appendix_h.draw_int(rng, rg.a, rg.b - rg.a, shape)
    ra = appendix_h.draw_int(rng, rg.c, rg.d - rg.c, shape)
    half = appendix_h.java_div(ra, 2)
    lo, width = av - half, 2 * half
    n = cfg.opponents
    asd = np.zeros(shape, dtype=np.int64)
    if cfg.common_value:
        asd = appendix_h.draw_int(rng, rg.e, rg.f - rg.e, shape)
    if n == 0:
        h1, h2 = np.full(shape, -np.inf), np.full(shape, -np.inf)
    elif cfg.common_value:
        sd_lo = appendix_h.java_div(asd, 2)
        sd_width = appendix_h.java_div(3 * asd, 2) - sd_lo
        # bid = (lo + (int)(width*U)) - (sd_lo + (int)(sd_width*U')): the per-auction part
        # (lo - sd_lo) is the same for every opponent, so rank only the drawn offsets (int32).
        u = rng.random((2, n, *shape), dtype=np.float32)
        offsets = appendix_h.java_int32(width.astype(np.float32) * u[0])
        offsets -= appendix_h.java_int32(sd_width.astype(np.float32) * u[1])
        t1, t2 = appendix_h.top_two_ints(offsets)
        h1 = (t1 + lo - sd_lo).astype(np.float64)
        h2 = (t2 + lo - sd_lo).astype(np.float64) if n > 1 else np.full(shape, -np.inf)
    else:
        t1, t2 = appendix_h.top_two_draws(rng, lo, width, n)
        h1 = t1.astype(np.float64)
        h2 = t2.astype(np.float64) if n > 1 else np.full(shape, -np.inf)
    as_float = [np.asarray(x, dtype=np.float64) for x in (av, ra, asd)]
    return Round(as_float[0], as_float[1], as_float[2], h1, h2)


@dataclass(frozen=True)
class RoundResult:
    """Per auction and member (``(A, members)``): payoff and whether the member won / sold."""

    payoff: FloatArray
    success: npt.NDArray[np.bool_]
    price: FloatArray


def decisions(cfg: ThesisConfig, rnd: Round, population: npt.NDArray[np.int8]) -> list[FloatArray]:
    """Decision levels ``t`` of every chromosome (``text`` rule), each ``(A, members)``."""
    weights = cfg.partition.weights(rnd.v, rnd.r, rnd.s)
    return [decision_level(weights, population[:, k, :]) for k in range(population.shape[1])]


@dataclass(frozen=True)
class Amounts:
    """What the evolving agent decides in every auction, ``(A, members)``: its amounts (bid minus
    scale-down; or reserve and starting price) and the lowest and highest amount anyone in that
    auction (it or a fixed bidder) could bid, where the fixed seller opens its clocks."""

    first: FloatArray
    second: FloatArray | None
    lowest: FloatArray
    highest: FloatArray


def decide_amounts(cfg: ThesisConfig, rnd: Round, population: npt.NDArray[np.int8]) -> Amounts:
    """Every member's amounts in every auction of ``rnd`` under ``cfg.decision``."""
    if cfg.code_rule:
        return _code_amounts(cfg, rnd, population)
    v, r, s = rnd.states()
    top = cfg.alleles - 1
    levels = decisions(cfg, rnd, population)
    lo, _ = price_bounds(v, r, s, cfg.common_value)
    lowest, highest = np.floor(lo), np.ceil(v + r / 2)
    if cfg.scenario == "bidder":
        amount = bid_amount(v, r, levels[0], top)
        if cfg.common_value:
            amount = amount - scale_down_amount(s, levels[1], top)
        return Amounts(round_money(amount).astype(np.float64), None, lowest, highest)
    prices = [
        round_money(seller_price(v, r, s, t, top, cfg.common_value)).astype(np.float64)
        for t in levels
    ]
    return Amounts(prices[0], prices[1] if len(prices) > 1 else None, lowest, highest)


def _code_amounts(cfg: ThesisConfig, rnd: Round, population: npt.NDArray[np.int8]) -> Amounts:
    v, r, s = (x.astype(np.int64) for x in rnd.states())
    cv, top = cfg.common_value, cfg.alleles - 1
    table = appendix_h.code_table(appendix_h.CodeRanges.of(cfg.ranges), cfg.sets, cv)
    state, lo, hi, sd_lo, sd_hi = table.lookup(table.combo(v, r, s if cv else None))
    half = appendix_h.java_div(r, 2)
    opp_lo, opp_hi = v - half, v + half
    if cv:
        opp_lo = opp_lo - appendix_h.java_div(3 * s, 2)
        opp_hi = opp_hi - appendix_h.java_div(s, 2)
    lowest = np.minimum(lo - sd_hi, opp_lo).astype(np.float64)
    highest = np.maximum(hi - sd_lo, opp_hi).astype(np.float64)
    levels = appendix_h.thresholds(state, [population[:, k, :] for k in range(population.shape[1])])
    if cfg.scenario == "bidder":
        amount = appendix_h.decide_levels(lo, hi, levels[0], top)
        if cv:
            amount = amount - appendix_h.decide_levels(sd_lo, sd_hi, levels[1], top)
        return Amounts(amount.astype(np.float64), None, lowest, highest)
    chosen = [appendix_h.decide_levels(lo, hi, level, top).astype(np.float64) for level in levels]
    return Amounts(chosen[0], chosen[1] if len(chosen) > 1 else None, lowest, highest)


def play_round(cfg: ThesisConfig, rnd: Round, population: npt.NDArray[np.int8]) -> RoundResult:
    """Play one round against every member of ``population`` (``(members, chromosomes, genes)``)."""
    amounts = decide_amounts(cfg, rnd, population)
    v = rnd.states()[0]
    value = v if cfg.common_value else cfg.own_value
    if cfg.scenario == "bidder":
        return _bidder_round(cfg, rnd, amounts, value)
    return _seller_round(cfg, rnd, amounts, value)


def _bidder_round(
    cfg: ThesisConfig, rnd: Round, amounts: Amounts, value: float | FloatArray
) -> RoundResult:
    bid = amounts.first  # (A, members), registrant 0
    h1, h2 = rnd.h1, rnd.h2
    if cfg.method in ("fpsb", "vickrey"):
        win = (bid >= h1) & (bid >= 0)  # sold: the highest bid is at least the reserve 0
        price = bid if cfg.method == "fpsb" else np.where(np.isfinite(h1), h1, 0.0)
        payoff = np.where(win, value - price, 0.0)
        return RoundResult(payoff, win, np.broadcast_to(price, win.shape))
    m1 = np.maximum(bid, h1)
    if cfg.method == "english":
        m2 = np.where(bid >= h1, h1, np.maximum(bid, h2))
        start = amounts.lowest - cfg.delta_bid
        price, sold = kernels.english_thesis(m1, m2, start, 0.0, cfg.delta_bid)
        win = sold & (bid > price)
    else:
        start = amounts.highest + (cfg.delta_bid if cfg.code_rule else 0.0)
        price, sold = kernels.dutch_clock(m1, start, 0.0, cfg.delta_bid)
        win = sold & (bid >= price)
    price = np.broadcast_to(price, win.shape)
    payoff = np.where(win, value - price, 0.0)
    return RoundResult(payoff, win, np.asarray(price, dtype=np.float64))


def _seller_round(
    cfg: ThesisConfig, rnd: Round, amounts: Amounts, value: float | FloatArray
) -> RoundResult:
    reserve = amounts.first
    h1, h2 = rnd.h1, rnd.h2
    if cfg.method == "fpsb":
        price, sold = np.broadcast_to(h1, reserve.shape), h1 >= reserve
    elif cfg.method == "vickrey":
        second = np.where(np.isfinite(h2), h2, h1)  # a lone bidder pays its own bid
        price, sold = np.broadcast_to(second, reserve.shape), second >= reserve
    else:
        start = amounts.second
        assert start is not None
        if cfg.method == "english":
            price, sold = kernels.english_thesis(h1, h2, start, reserve, cfg.delta_bid)
        else:
            price, sold = kernels.dutch_clock(h1, start, reserve, cfg.delta_bid)
    price = np.broadcast_to(price, reserve.shape)
    sold = np.broadcast_to(sold, reserve.shape)
    payoff = np.where(sold, price - value, 0.0)
    return RoundResult(payoff, np.asarray(sold), np.asarray(price, dtype=np.float64))
