"""The thesis' auction environment (THESIS-MODEL.md), vectorized over auctions and members.

A *round* is ``A`` auctions drawn afresh: per auction an expected valuation ``v``, a range ``r`` and
(CV) an expected scale-down ``s``; each fixed bidder's valuation ``~ U[v - r/2, v + r/2]`` and, in
CV, its scale-down ``~ U[s/2, 3s/2]``; it bids valuation - scale-down, rounded to a whole unit.
:func:`play_round` then plays that round against every member of an evolving population at once,
giving arrays of shape ``(A, members)``. Every member of a generation meets the same round (common
random numbers: fitness differences come from strategies, not from luck of the draw).

Readings this module fixes (the thesis text and code disagree; docs/simulator.md says why):

* The evolving bidder registers first, so it wins ties (the thesis' fitness table: wins for B >= H).
* Scenario 1's fixed seller has reserve 0 and opens the English clock one DELTABID below the lowest
  possible maximum ``v - r/2 (- 3s/2 in CV)``, the Dutch clock at the highest possible maximum
  ``v + r/2`` rounded up, so every bidder is in at the first ask and the item is always sold.
* A sale needs price >= reserve; in Vickrey the price is the second-highest bid (so a reserve
  filters sales but never raises the price, as in the thesis' seller fitness table).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from auctionhouse.sim import kernels
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
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ThesisConfig:
    """Every parameter of a thesis run; defaults are the thesis' chapter 8 defaults."""

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

    @property
    def common_value(self) -> bool:
        return self.values == "cv"

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


@dataclass(frozen=True)
class Round:
    """One round of auctions: states ``(A,)`` and the fixed bidders' bids ``(fixed, A)``."""

    v: FloatArray
    r: FloatArray
    s: FloatArray
    fixed_bids: npt.NDArray[np.int64]


def draw_round(cfg: ThesisConfig, rng: np.random.Generator) -> Round:
    """Draw ``cfg.auctions`` auction states and the fixed bidders' bids."""
    a = cfg.auctions
    v = rng.uniform(*cfg.ranges["v"], size=a)
    r = rng.uniform(*cfg.ranges["r"], size=a)
    s = rng.uniform(*cfg.ranges["s"], size=a) if cfg.common_value else np.zeros(a)
    valuation = v - r / 2 + r * rng.random((cfg.opponents, a))
    if cfg.common_value:
        valuation = valuation - s / 2 - s * rng.random((cfg.opponents, a))
    return Round(v, r, s, round_money(valuation))


@dataclass(frozen=True)
class RoundResult:
    """Per auction and member (``(A, members)``): payoff and whether the member won / sold."""

    payoff: FloatArray
    success: npt.NDArray[np.bool_]
    price: FloatArray


def decisions(cfg: ThesisConfig, rnd: Round, population: npt.NDArray[np.int8]) -> list[FloatArray]:
    """Decision levels ``t`` of every chromosome, each ``(A, members)``."""
    weights = cfg.partition.weights(rnd.v, rnd.r, rnd.s)
    return [decision_level(weights, population[:, k, :]) for k in range(population.shape[1])]


def play_round(cfg: ThesisConfig, rnd: Round, population: npt.NDArray[np.int8]) -> RoundResult:
    """Play one round against every member of ``population`` (``(members, chromosomes, genes)``)."""
    levels = decisions(cfg, rnd, population)
    value = rnd.v[:, None] if cfg.common_value else cfg.own_value
    if cfg.scenario == "bidder":
        return _bidder_round(cfg, rnd, levels, value)
    return _seller_round(cfg, rnd, levels, value)


def _bidder_round(
    cfg: ThesisConfig, rnd: Round, levels: list[FloatArray], value: float | FloatArray
) -> RoundResult:
    v, r, s = rnd.v[:, None], rnd.r[:, None], rnd.s[:, None]
    top = cfg.alleles - 1
    amount = bid_amount(v, r, levels[0], top)
    if cfg.common_value:
        amount = amount - scale_down_amount(s, levels[1], top)
    bid = round_money(amount).astype(np.float64)  # (A, members), registrant 0
    if cfg.opponents:
        h1, h2, _ = kernels.top_two(rnd.fixed_bids)
        h1, h2 = h1[:, None], h2[:, None]
    else:
        h1 = h2 = np.full((cfg.auctions, 1), -np.inf)
    m1 = np.maximum(bid, h1)
    m2 = np.where(bid >= h1, h1, np.maximum(bid, h2))
    if cfg.method in ("fpsb", "vickrey"):
        sold = m1 >= 0
        win = sold & (bid >= h1)
        price = bid if cfg.method == "fpsb" else np.where(np.isfinite(h1), h1, 0.0)
    elif cfg.method == "english":
        lo, _ = price_bounds(v, r, s, cfg.common_value)
        start = np.floor(lo) - cfg.delta_bid
        price, sold = kernels.english_thesis(m1, m2, start, 0.0, cfg.delta_bid)
        win = sold & (bid > price)
    else:
        start = np.ceil(v + r / 2)
        price, sold = kernels.dutch_clock(m1, start, 0.0, cfg.delta_bid)
        win = sold & (bid >= price)
    price = np.broadcast_to(price, win.shape)
    payoff = np.where(win, value - price, 0.0)
    return RoundResult(payoff, win, np.asarray(price, dtype=np.float64))


def _seller_round(
    cfg: ThesisConfig, rnd: Round, levels: list[FloatArray], value: float | FloatArray
) -> RoundResult:
    v, r, s = rnd.v[:, None], rnd.r[:, None], rnd.s[:, None]
    top = cfg.alleles - 1
    reserve = round_money(seller_price(v, r, s, levels[0], top, cfg.common_value)).astype(
        np.float64
    )
    h1, h2, _ = kernels.top_two(rnd.fixed_bids)
    h1, h2 = h1[:, None], h2[:, None]
    if cfg.method == "fpsb":
        price, sold = np.broadcast_to(h1, reserve.shape), h1 >= reserve
    elif cfg.method == "vickrey":
        second = np.where(np.isfinite(h2), h2, h1)  # a lone bidder pays its own bid
        price, sold = np.broadcast_to(second, reserve.shape), second >= reserve
    else:
        start = round_money(seller_price(v, r, s, levels[1], top, cfg.common_value)).astype(
            np.float64
        )
        if cfg.method == "english":
            price, sold = kernels.english_thesis(h1, h2, start, reserve, cfg.delta_bid)
        else:
            price, sold = kernels.dutch_clock(h1, start, reserve, cfg.delta_bid)
    price = np.broadcast_to(price, reserve.shape)
    sold = np.broadcast_to(sold, reserve.shape)
    payoff = np.where(sold, price - value, 0.0)
    return RoundResult(payoff, np.asarray(sold), np.asarray(price, dtype=np.float64))
