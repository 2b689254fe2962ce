"""The market model: continuous double auctions (CDAs) of many traders, vectorised over markets.

Each of ``markets`` independent markets has the same buyers and sellers: buyer ``i`` holds units
with values ``demand[i]`` (traded in that order), seller ``j`` units with costs ``supply[j]``
(integer minor units). A *trading day* (Smith 1962's period) has ``steps`` turns; on each turn one
trader, drawn uniformly, may place a one-unit order (its strategy's price; see
``market_kernels``), which replaces its resting order. Matching (``rule``):

- ``lob``: a limit order book with one order per trader: an order that meets the best opposite
  order (price-time priority) trades at the resting order's price; otherwise it rests. This is
  the Bristol Stock Exchange's market and the house's CDA.
- ``gs``: Gode and Sunder's (1993) rules: a new bid (ask) must beat the best bid (ask) or is
  ignored, a trade is at the resting order's price, and a trade cancels every resting order.

At each day's start every trader gets its units back and the book is empty; ZIP traders keep
their margins from day to day.

Measures (per market and day, reported as mean and standard deviation over markets):

- allocative efficiency: realised surplus (sum of buyer value minus seller cost over the day's
  trades) over the competitive equilibrium's surplus (Smith 1962; Gode and Sunder 1993);
- Smith's alpha: ``100 * sqrt(mean((p - P0)^2)) / P0`` over the day's trade prices ``p``, ``P0``
  the competitive equilibrium price (Smith 1962, "An experimental study of competitive market
  behavior", JPE 70(2); Cliff 1997 uses it to show ZIP converging);
- profit per trader type, beside what those traders would earn trading at ``P0``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from auctionhouse.sim import market_kernels as mk

RULES = ("lob", "gs")
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Schedule:
    """Buyers' unit values (``demand``) and sellers' unit costs (``supply``), one tuple of units
    per trader, minor units; ``max_price`` bounds every order (ZIC sellers ask up to it)."""

    demand: tuple[tuple[int, ...], ...]
    supply: tuple[tuple[int, ...], ...]
    max_price: int

    def equilibrium(self) -> tuple[float, int, int]:
        """``(P0, Q0, surplus)``: the competitive equilibrium price (the middle of the range of
        prices that clear the market), quantity and total surplus (the most any allocation can
        realise). Raises ``ValueError`` when no unit can trade at a gain (efficiency would be
        undefined)."""
        d = sorted((v for units in self.demand for v in units), reverse=True)
        s = sorted(c for units in self.supply for c in units)
        q = 0
        while q < min(len(d), len(s)) and d[q] >= s[q]:
            q += 1
        surplus = sum(d[k] - s[k] for k in range(q))
        if surplus == 0:
            raise ValueError("the schedules have no gains from trade (no value above a cost)")
        low = max(s[q - 1], d[q] if q < len(d) else s[q - 1])
        high = min(d[q - 1], s[q] if q < len(s) else d[q - 1])
        return (low + high) / 2, q, surplus


def _one_unit_each(limits: range) -> tuple[tuple[int, ...], ...]:
    return tuple((v,) for v in limits)


def _gs_style() -> Schedule:
    # 6 buyers and 6 sellers with 4 units each, dealt round-robin from one demand and one supply
    # staircase, so that each trader's units fall (buyers) or rise (sellers) as in Gode and
    # Sunder's markets; 10 of the 24 units on each side are extramarginal.
    values = [195 - 6 * k for k in range(24)]
    costs = [35 + 6 * k for k in range(24)]
    demand = tuple(tuple(values[i::6]) for i in range(6))
    supply = tuple(tuple(costs[i::6]) for i in range(6))
    return Schedule(demand, supply, max_price=200)


SCHEDULES: dict[str, Schedule] = {
    # Smith (1962) / Cliff (1997): 11 buyers and 11 sellers, one unit each, limits 0.75 to
    # 3.25 dollars in steps of 0.25 (here cents): P0 = 200, Q0 = 6.
    "symmetric": Schedule(
        _one_unit_each(range(325, 74, -25)), _one_unit_each(range(75, 326, 25)), 400
    ),
    # Cliff (1997)'s case against ZIC: every seller's cost is P0 (a flat supply curve), so ZIC
    # prices sit well above P0 while ZIP's converge to it.
    "flat-supply": Schedule(_one_unit_each(range(325, 74, -25)), ((200,),) * 11, 400),
    "gs-style": _gs_style(),
}


@dataclass(frozen=True)
class MarketConfig:
    """One market experiment. ``traders``: kinds (``agents.traders`` names) dealt in turn to the
    buyers and then to the sellers (``"zic"``, ``"zip,zic"``); ``steps``: turns per trading day
    (0: 25 per unit on the market). Validated by :func:`validate`."""

    schedule: str = "symmetric"
    traders: str = "zic"
    rule: str = "lob"
    markets: int = 100
    days: int = 10
    steps: int = 0
    seed: int = 0
    custom: Schedule | None = None
    params: mk.TraderParams | None = None
    trace_markets: int = 1

    def get_schedule(self) -> Schedule:
        if self.custom is not None:
            return self.custom
        return SCHEDULES[self.schedule]

    def kinds(self) -> tuple[str, ...]:
        return tuple(k.strip().lower() for k in self.traders.split(",") if k.strip())

    def turns(self) -> int:
        if self.steps:
            return self.steps
        sched = self.get_schedule()
        units = sum(len(u) for u in sched.demand) + sum(len(u) for u in sched.supply)
        return 25 * units

    def trader_params(self) -> mk.TraderParams:
        return self.params or mk.TraderParams(max_price=self.get_schedule().max_price)


def validate(cfg: MarketConfig) -> None:
    """Raise ``ValueError`` naming the first bad field."""
    if cfg.custom is None and cfg.schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)} or a JSON file")
    sched = cfg.get_schedule()
    kinds = cfg.kinds()
    limits = [v for units in sched.demand + sched.supply for v in units]
    tp = cfg.trader_params()
    checks = [
        (
            bool(kinds) and all(k in mk.KINDS for k in kinds),
            f"traders must be a comma list of {', '.join(mk.KINDS)}, not {cfg.traders!r}",
        ),
        (cfg.rule in RULES, "rule must be lob or gs"),
        (cfg.markets >= 1, "markets must be at least 1"),
        (cfg.days >= 1, "days must be at least 1"),
        (cfg.steps >= 0, "steps must not be negative"),
        (bool(sched.demand) and bool(sched.supply), "the schedule needs buyers and sellers"),
        (all(len(u) >= 1 for u in sched.demand + sched.supply), "every trader needs a unit"),
        (all(isinstance(v, int) and v >= 1 for v in limits), "limits must be integers >= 1"),
        (tp.min_price >= 1 and tp.max_price >= max(limits), "max_price must cover every limit"),
        (0 <= cfg.trace_markets <= cfg.markets, "trace_markets must lie in [0, markets]"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
    sched.equilibrium()


@dataclass
class MarketResult:
    """What :func:`simulate` measured. Per-day lists hold the mean over markets (``nan`` where
    no market traded that day); ``trace`` is ``(day, turn, price)`` of each trade in the first
    ``trace_markets`` markets."""

    config: MarketConfig
    equilibrium_price: float
    equilibrium_quantity: int
    max_surplus: int
    efficiency: FloatArray  # (markets, days)
    alpha: FloatArray  # (markets, days), nan without trades
    mean_price: FloatArray  # (markets, days)
    trades: FloatArray  # (markets, days)
    losses: FloatArray  # (markets, days): trades at a loss to the buyer or the seller
    profit_by_kind: dict[str, float]
    equilibrium_profit_by_kind: dict[str, float]
    seconds: float
    trace: list[list[tuple[int, int, int]]] = field(default_factory=list)

    @property
    def days_per_second(self) -> float:
        return self.efficiency.size / self.seconds if self.seconds > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        cfg = self.config
        eff, alpha = self.efficiency, self.alpha
        return {
            "model": "market",
            "schedule": cfg.schedule if cfg.custom is None else "custom",
            "traders": ",".join(cfg.kinds()),
            "rule": cfg.rule,
            "markets": cfg.markets,
            "days": cfg.days,
            "steps": cfg.turns(),
            "seed": cfg.seed,
            "equilibrium_price": self.equilibrium_price,
            "equilibrium_quantity": self.equilibrium_quantity,
            "max_surplus": self.max_surplus,
            "efficiency": float(eff.mean()),
            "efficiency_sd": float(eff.std()),
            "efficiency_by_day": _rounded(eff.mean(axis=0)),
            "alpha_by_day": _rounded(_nanmean(alpha)),
            "alpha_sd_by_day": _rounded(_nanstd(alpha)),
            "mean_price_by_day": _rounded(_nanmean(self.mean_price)),
            "trades_by_day": _rounded(self.trades.mean(axis=0)),
            "loss_trades_per_day": round(float(self.losses.mean()), 4),
            "profit_per_trader_day": {k: round(v, 3) for k, v in self.profit_by_kind.items()},
            "equilibrium_profit_per_trader_day": {
                k: round(v, 3) for k, v in self.equilibrium_profit_by_kind.items()
            },
            "seconds": round(self.seconds, 4),
            "days_per_second": round(self.days_per_second, 1),
        }


def _nanmean(a: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore"):
        counts = (~np.isnan(a)).sum(axis=0)
        return np.where(counts > 0, np.nansum(a, axis=0) / np.maximum(counts, 1), np.nan)


def _nanstd(a: FloatArray) -> FloatArray:
    mean = _nanmean(a)
    return np.sqrt(_nanmean((a - mean) ** 2))


def _rounded(a: FloatArray) -> list[float | None]:
    return [None if np.isnan(x) else round(float(x), 4) for x in a]


def load_schedule(path: str | Path) -> Schedule:
    """A schedule from a JSON file ``{"demand": [[v, ...], ...], "supply": [[c, ...], ...],
    "max_price": N}`` (``max_price`` defaults to twice the highest limit). Raises ``ValueError``
    for an unreadable or malformed file."""
    try:
        doc = json.loads(Path(path).read_text())
        demand = tuple(tuple(int(v) for v in units) for units in doc["demand"])
        supply = tuple(tuple(int(c) for c in units) for units in doc["supply"])
        top = max(v for units in demand + supply for v in units)
        return Schedule(demand, supply, int(doc.get("max_price", 2 * top)))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"schedule file {str(path)!r}: {exc}") from None


def simulate(cfg: MarketConfig) -> MarketResult:
    """Run ``cfg.markets`` markets for ``cfg.days`` trading days; the same seed gives the same
    result. Raises ``ValueError`` for a bad config (see :func:`validate`)."""
    validate(cfg)
    began = time.perf_counter()
    sched, tp, kinds = cfg.get_schedule(), cfg.trader_params(), cfg.kinds()
    p0, q0, best = sched.equilibrium()
    rng = np.random.default_rng(cfg.seed)
    M, D, T = cfg.markets, cfg.days, cfg.turns()
    nb, ns = len(sched.demand), len(sched.supply)
    N = nb + ns
    units_of = [list(u) for u in sched.demand + sched.supply]
    U = max(len(u) for u in units_of)
    lim_tab = np.array([u + [u[-1]] * (U - len(u)) for u in units_of], dtype=np.float64)
    n_units = np.array([len(u) for u in units_of])
    buyer = np.arange(N) < nb
    kind_names = [kinds[i % len(kinds)] for i in range(nb)] + [
        kinds[j % len(kinds)] for j in range(ns)
    ]
    kind = np.array([mk.KINDS.index(k) for k in kind_names])
    present = sorted({int(k) for k in kind})
    zcols = np.flatnonzero(kind == mk.ZIP)
    Z = len(zcols)
    zbuyer = buyer[zcols]
    size = rng.uniform(*tp.zip_margin, size=(M, Z))
    margin_z = np.where(zbuyer, -size, size)
    beta_z = rng.uniform(*tp.zip_beta, size=(M, Z))
    mom_z = rng.uniform(*tp.zip_momentum, size=(M, Z))
    change_z = np.zeros((M, Z))
    zbuyers = int(zbuyer.sum())  # buyers come first, so ZIP buyers are the first columns
    zlim_one = np.broadcast_to(lim_tab[zcols, 0], (M, Z))
    zpos = np.full(N, -1)
    zpos[zcols] = np.arange(Z)

    efficiency = np.zeros((M, D))
    alpha = np.full((M, D), np.nan)
    mean_price = np.full((M, D), np.nan)
    trades = np.zeros((M, D))
    losses = np.zeros((M, D))
    profit = np.zeros((M, N))
    trace: list[list[tuple[int, int, int]]] = [[] for _ in range(cfg.trace_markets)]
    rows = np.arange(M)
    gs = cfg.rule == "gs"
    for day in range(D):
        unit = np.zeros((M, N), dtype=np.int64)
        quote = np.full((M, N), np.nan)
        # price-time priority key of each resting order (inf: none): the best bid is the
        # highest price, then the earliest; the best ask the lowest, then the earliest.
        # (one contiguous array per side, so the argmin of each turn reads memory in order)
        bid_key = np.full((M, nb), np.inf)
        ask_key = np.full((M, ns), np.inf)
        surplus = np.zeros(M)
        sqdev = np.zeros(M)
        psum = np.zeros(M)
        count = np.zeros(M)
        lost = np.zeros(M)
        for step in range(T):
            ib = np.argmin(bid_key, axis=1)
            ia = np.argmin(ask_key, axis=1)
            best_bid, best_ask = quote[rows, ib], quote[rows, nb + ia]
            who = rng.integers(0, N, size=M)
            uniform = rng.random(M)
            b = buyer[who]
            uw = unit[rows, who]
            active = uw < n_units[who]
            lim = lim_tab[who, np.minimum(uw, n_units[who] - 1)]
            zi = zpos[who]
            wm = margin_z[rows, np.maximum(zi, 0)] if Z else np.zeros(M)
            left = 1.0 - step / T
            price = mk.quote(kind[who], b, lim, best_bid, best_ask, left, wm, uniform, tp, present)
            valid = active & ~np.isnan(price)
            opposite = np.where(b, best_ask, best_bid)
            with np.errstate(invalid="ignore"):
                cross = valid & np.where(b, price >= opposite, price <= opposite)
                enter = valid & ~cross
                if gs:
                    own = np.where(b, best_bid, best_ask)
                    better = np.where(b, price > own, price < own)
                    enter &= np.isnan(own) | better
            if cross.any():
                m = rows[cross]
                w, bm = who[cross], b[cross]
                cp = np.where(bm, nb + ia[cross], ib[cross])
                tprice = opposite[cross]
                buyer_i, seller_i = np.where(bm, w, cp), np.where(bm, cp, w)
                value = lim_tab[buyer_i, unit[m, buyer_i]]
                cost = lim_tab[seller_i, unit[m, seller_i]]
                surplus[m] += value - cost
                profit[m, buyer_i] += value - tprice
                profit[m, seller_i] += tprice - cost
                sqdev[m] += (tprice - p0) ** 2
                psum[m] += tprice
                lost[m] += (tprice > value) | (tprice < cost)
                count[m] += 1
                unit[m, w] += 1
                unit[m, cp] += 1
                quote[m, w] = quote[m, cp] = np.nan
                bid_key[m, buyer_i] = np.inf
                ask_key[m, seller_i - nb] = np.inf
                if gs:
                    quote[m] = np.nan
                    bid_key[m] = np.inf
                    ask_key[m] = np.inf
                for t in range(cfg.trace_markets):
                    if cross[t]:
                        trace[t].append((day, step, int(opposite[t])))
            if enter.any():
                m = rows[enter]
                w, pe = who[enter], price[enter]
                quote[m, w] = pe
                be = b[enter]
                bid_key[m[be], w[be]] = step - pe[be] * (T + 1)
                ask_key[m[~be], w[~be] - nb] = step + pe[~be] * (T + 1)
            if Z:
                event = cross | enter
                if event.any():
                    zunit = unit[:, zcols]
                    zlim = (
                        lim_tab[zcols[None, :], np.minimum(zunit, n_units[zcols] - 1)]
                        if U > 1
                        else zlim_one
                    )
                    mk.zip_respond(
                        margin_z,
                        change_z,
                        beta_z,
                        mom_z,
                        zlim,
                        zbuyers,
                        zunit < n_units[zcols],
                        event,
                        np.where(cross, opposite, price),
                        cross,
                        cross & ~b,
                        b,
                        rng,
                        tp,
                    )
        efficiency[:, day] = surplus / best
        with np.errstate(invalid="ignore", divide="ignore"):
            alpha[:, day] = np.where(count > 0, 100 * np.sqrt(sqdev / count) / p0, np.nan)
            mean_price[:, day] = np.where(count > 0, psum / count, np.nan)
        trades[:, day] = count
        losses[:, day] = lost
    by_kind, eq_by_kind = _profits(profit, kind_names, lim_tab, n_units, buyer, p0, M * D)
    return MarketResult(
        config=cfg,
        equilibrium_price=p0,
        equilibrium_quantity=q0,
        max_surplus=best,
        efficiency=efficiency,
        alpha=alpha,
        mean_price=mean_price,
        trades=trades,
        losses=losses,
        profit_by_kind=by_kind,
        equilibrium_profit_by_kind=eq_by_kind,
        seconds=time.perf_counter() - began,
        trace=trace,
    )


def _profits(
    profit: FloatArray,
    kind_names: list[str],
    lim_tab: FloatArray,
    n_units: npt.NDArray[np.int64],
    buyer: npt.NDArray[np.bool_],
    p0: float,
    market_days: int,
) -> tuple[dict[str, float], dict[str, float]]:
    """Mean profit per trader and day of each kind, and what each would earn at ``P0``."""
    by_kind: dict[str, float] = {}
    eq_by_kind: dict[str, float] = {}
    for name in dict.fromkeys(kind_names):
        cols = [i for i, k in enumerate(kind_names) if k == name]
        by_kind[name] = float(profit[:, cols].sum()) / (market_days * len(cols))
        at_p0 = 0.0
        for i in cols:
            units = lim_tab[i, : n_units[i]]
            gains = units - p0 if buyer[i] else p0 - units
            at_p0 += float(np.maximum(gains, 0.0).sum())
        eq_by_kind[name] = at_p0 / len(cols)
    return by_kind, eq_by_kind
