"""The textbook model: n risk-neutral bidders, i.i.d. values, equilibrium or given strategies.

Values
    ``pv``: private values i.i.d. with CDF ``F(v) = v**a`` on ``[0, 1]`` (``a = 1`` is U[0, 1], the
    default; ``distribution="power"`` with ``shape=a`` gives the others).
    ``cv``: a common value ``V ~ U[0, 1]``; bidder ``i`` sees the signal ``x_i = V + U[-e, e]``.

Strategies (``bid(value or signal)``)
    ``truthful``: bid your value (your signal in CV).
    ``naive``: bid your signal (CV; the same as truthful in PV). Falls for the winner's curse.
    Others: any function added with :func:`register_strategy`.
    ``equilibrium``: PV, truthful in English and Vickrey; in FPSB and Dutch the symmetric
    equilibrium ``b(v) = v - int_R^v F(x)^(n-1) dx / F(v)^(n-1)``, which for U[0, 1] without
    reserve is ``(n-1)/n * v``. CV: the signal minus a scale-down that removes the winner's curse,
    ``x - e*(n-2)/n`` in English and Vickrey (the interior second-price equilibrium for uniform
    noise) and ``x - e`` in FPSB and Dutch (the lowest value consistent with the signal).

English rule
    ``clock`` (default): winner = highest maximum, price = first clock step at or above the second
    maximum (at least the reserve, at most the winner's maximum). ``proxy``: the house's proxy
    bidding (:func:`auctionhouse.sim.kernels.english_proxy`), bidders bidding once in order.

Theory
    For PV with equilibrium strategies (and continuous clocks), revenue equivalence gives every
    method the same expected revenue, ``n * int_R^1 (v - (1-F)/f) f F^(n-1) dv``; for U[0, 1]
    without reserve that is ``(n-1)/(n+1)``. Other cases report no theory (``None``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from auctionhouse.sim import kernels

METHODS = ("english", "dutch", "fpsb", "vickrey")
VALUES = ("pv", "cv")
BUILT_IN_STRATEGIES = ("equilibrium", "truthful", "naive")
ENGLISH_RULES = ("clock", "proxy")
DISTRIBUTIONS = ("uniform", "power")
CHUNK = 1 << 16

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TextbookConfig:
    """One textbook experiment. Validated by :func:`validate`."""

    method: str = "vickrey"
    values: str = "pv"
    bidders: int = 10
    auctions: int = 100_000
    strategy: str = "equilibrium"
    reserve: float = 0.0
    increment: float = 0.0
    distribution: str = "uniform"
    shape: float = 1.0
    noise: float = 0.1
    english: str = "clock"
    seed: int = 0

    @property
    def power(self) -> float:
        return 1.0 if self.distribution == "uniform" else self.shape


def validate(cfg: TextbookConfig) -> None:
    """Raise ``ValueError`` naming the first bad field."""
    checks = [
        (cfg.method in METHODS, f"method must be one of {', '.join(METHODS)}"),
        (cfg.values in VALUES, "values must be pv or cv"),
        (cfg.strategy in STRATEGIES, f"strategy must be one of {', '.join(STRATEGIES)}"),
        (cfg.distribution in DISTRIBUTIONS, "distribution must be uniform or power"),
        (cfg.english in ENGLISH_RULES, "english must be clock or proxy"),
        (cfg.bidders >= 1, "bidders must be at least 1"),
        (cfg.auctions >= 1, "auctions must be at least 1"),
        (0.0 <= cfg.reserve <= 1.0, "reserve must lie in [0, 1]"),
        (0.0 <= cfg.increment < 1.0, "increment must lie in [0, 1)"),
        (cfg.shape > 0, "shape must be positive"),
        (cfg.noise >= 0, "noise must be non-negative"),
        (cfg.values == "pv" or cfg.distribution == "uniform", "cv supports only uniform values"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def theory_revenue(cfg: TextbookConfig) -> float | None:
    """Expected revenue by revenue equivalence (Myerson); ``None`` where theory gives none here."""
    if cfg.values != "pv" or cfg.strategy not in ("equilibrium", "truthful"):
        return None
    if cfg.strategy == "truthful" and cfg.method in ("fpsb", "dutch"):
        return None
    if cfg.method in ("english", "dutch") and cfg.increment > 0:
        return None
    n, a, r = cfg.bidders, cfg.power, cfg.reserve
    # n * int_R^1 ((a+1) v^a - 1) v^(a(n-1)) dv, in closed form.
    top = (a + 1) / (a * n + 1) * (1 - r ** (a * n + 1))
    low = (1 - r ** (a * (n - 1) + 1)) / (a * (n - 1) + 1)
    return float(n * (top - low))


def equilibrium_first_price(v: FloatArray, n: int, a: float, reserve: float) -> FloatArray:
    """``v - (v^(k+1) - R^(k+1)) / ((k+1) v^k)`` with ``k = a(n-1)``; truthful below the reserve."""
    k = a * (n - 1)
    if reserve <= 0:
        return np.asarray(v * (k / (k + 1)), dtype=np.float64)
    safe = np.maximum(v, reserve)
    shade = (safe ** (k + 1) - reserve ** (k + 1)) / ((k + 1) * safe**k)
    return np.asarray(np.where(v >= reserve, v - shade, v), dtype=np.float64)


def bids_for(cfg: TextbookConfig, seen: FloatArray) -> FloatArray:
    """Each bidder's maximum given what it sees (its value in PV, its signal in CV)."""
    return STRATEGIES[cfg.strategy](cfg, seen)


def _truthful(cfg: TextbookConfig, seen: FloatArray) -> FloatArray:
    return seen


def _equilibrium(cfg: TextbookConfig, seen: FloatArray) -> FloatArray:
    n, sealed_first = cfg.bidders, cfg.method in ("fpsb", "dutch")
    if cfg.values == "pv":
        return equilibrium_first_price(seen, n, cfg.power, cfg.reserve) if sealed_first else seen
    shade = cfg.noise if sealed_first else cfg.noise * max(n - 2, 0) / n
    return np.asarray(seen - shade, dtype=np.float64)


# A strategy maps what every bidder sees, ``(bidders, auctions)``, to its maxima (same shape),
# vectorized. Other packages (the agents) add theirs with register_strategy; theory_revenue is
# given only for the built-in ones.
BidFunction = Callable[[TextbookConfig, FloatArray], FloatArray]
STRATEGIES: dict[str, BidFunction] = {
    "equilibrium": _equilibrium,
    "truthful": _truthful,
    "naive": _truthful,
}


def register_strategy(name: str, bid: BidFunction) -> None:
    """Make ``bid`` available as ``TextbookConfig(strategy=name)`` / ``--strategy name``."""
    if name in BUILT_IN_STRATEGIES:
        raise ValueError(f"strategy {name!r} is built in")
    STRATEGIES[name] = bid


@dataclass
class Totals:
    """Running sums over chunks of auctions."""

    auctions: int = 0
    revenue: float = 0.0
    sold: int = 0
    efficient: int = 0
    winner_payoff: float = 0.0


def run_chunk(cfg: TextbookConfig, rng: np.random.Generator, size: int, totals: Totals) -> None:
    """Draw and run ``size`` auctions, adding to ``totals``."""
    n = cfg.bidders
    if cfg.values == "pv":
        values = rng.random((n, size))
        if cfg.power != 1.0:
            values **= 1.0 / cfg.power
        seen = values
    else:
        common = rng.random(size)
        seen = common + rng.uniform(-cfg.noise, cfg.noise, size=(n, size))
    bids = bids_for(cfg, seen)
    m1, m2, winner = kernels.top_two(bids)
    if cfg.method in ("fpsb", "vickrey"):
        price, sold = kernels.sealed_price(cfg.method, m1, m2, cfg.reserve)
    elif cfg.method == "english" and cfg.english == "proxy":
        reserve = cfg.reserve if cfg.reserve > 0 else None
        price, sold, leader = kernels.english_proxy(bids, 0.0, reserve, cfg.increment)
        winner = np.maximum(leader, 0)
    elif cfg.method == "english":
        price, sold = kernels.english_textbook(m1, m2, cfg.reserve, cfg.increment)
    else:
        price, sold = kernels.dutch_clock(m1, 1.0, cfg.reserve, cfg.increment, floor=0.0)
    winner_seen = np.take_along_axis(seen, winner[None, :], axis=0)[0]
    efficient = sold & (winner_seen >= seen.max(axis=0))
    value = winner_seen if cfg.values == "pv" else common
    totals.auctions += size
    totals.revenue += float(price[sold].sum())
    totals.sold += int(sold.sum())
    totals.efficient += int(efficient.sum())
    totals.winner_payoff += float((value - price)[sold].sum())


@dataclass(frozen=True)
class TextbookResult:
    model: str
    method: str
    values: str
    bidders: int
    auctions: int
    strategy: str
    reserve: float
    increment: float
    distribution: str
    seed: int
    mean_revenue: float
    theory_revenue: float | None
    efficiency: float
    mean_winner_payoff: float | None
    sold_fraction: float
    seconds: float
    auctions_per_second: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def simulate(
    cfg: TextbookConfig, progress: Callable[[int], None] | None = None, chunk: int = CHUNK
) -> TextbookResult:
    """Run ``cfg.auctions`` auctions in chunks; ``progress(done)`` is called after each chunk.

    ``mean_revenue`` counts an unsold auction as revenue 0; ``efficiency`` is the share of all
    auctions won by the bidder with the highest value (the highest signal in CV).
    """
    validate(cfg)
    rng = np.random.default_rng(cfg.seed)
    totals = Totals()
    began = time.perf_counter()
    while totals.auctions < cfg.auctions:
        run_chunk(cfg, rng, min(chunk, cfg.auctions - totals.auctions), totals)
        if progress is not None:
            progress(totals.auctions)
    seconds = time.perf_counter() - began
    m = totals.auctions
    return TextbookResult(
        model="textbook",
        method=cfg.method,
        values=cfg.values,
        bidders=cfg.bidders,
        auctions=m,
        strategy=cfg.strategy,
        reserve=cfg.reserve,
        increment=cfg.increment,
        distribution=cfg.distribution,
        seed=cfg.seed,
        mean_revenue=totals.revenue / m,
        theory_revenue=theory_revenue(cfg),
        efficiency=totals.efficient / m,
        mean_winner_payoff=totals.winner_payoff / totals.sold if totals.sold else None,
        sold_fraction=totals.sold / m,
        seconds=seconds,
        auctions_per_second=m / seconds if seconds > 0 else float("inf"),
    )
