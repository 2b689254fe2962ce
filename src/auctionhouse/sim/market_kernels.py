"""Vectorised double-auction traders: the behaviours of ``auctionhouse.agents.traders`` (ZIC, ZIU,
ZIP, GVWY, SHVR, SNPR) over many markets at once, for :mod:`auctionhouse.sim.market`.

The simulator may import only the rules core, so these are re-implementations, not imports; the
scalar classes in ``agents/traders.py`` are the reference and
``tests/sim/test_sim_market_agree.py`` checks that both give the same market outcomes (efficiency,
Smith's alpha) on the same schedules. The random draws differ (one uniform per quote here, the
``Generator.integers`` of each trader there), so the agreement is statistical.

Shapes: ``quote`` works on the one trader chosen in each of ``M`` markets (arrays of ``(M,)``);
``zip_respond`` on every ZIP trader of every market (``(M, Z)``). Prices are floats holding
integers (minor units); ``nan`` means "no order".

Sources: Gode and Sunder (1993) for ZIC/ZIU; Cliff (1997, HPL-97-91, section 4) for ZIP; the
Bristol Stock Exchange (Cliff 2018) for GVWY, SHVR and SNPR. See ``agents/traders.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

KINDS = ("zic", "ziu", "zip", "gvwy", "shvr", "snpr")
ZIC, ZIU, ZIP, GVWY, SHVR, SNPR = range(len(KINDS))

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class TraderParams:
    """The market's price bounds and the strategies' parameters (the defaults of
    ``agents/traders.py``): ZIP's first margin, learning rate and momentum are drawn per trader
    from the given ranges; ``zip_ca`` (minor units) and ``zip_cr`` perturb its targets; SNPR
    lurks until ``snpr_lurk`` of the day is left."""

    min_price: int = 1
    max_price: int = 400
    tick: int = 1
    zip_margin: tuple[float, float] = (0.05, 0.35)
    zip_beta: tuple[float, float] = (0.1, 0.5)
    zip_momentum: tuple[float, float] = (0.0, 0.1)
    zip_ca: float = 5.0
    zip_cr: float = 0.05
    snpr_lurk: float = 0.2
    snpr_growth: float = 3.0


def quote(
    kind: IntArray,
    buyer: BoolArray,
    limit: FloatArray,
    best_bid: FloatArray,
    best_ask: FloatArray,
    fraction_left: float,
    zip_margin: FloatArray,
    uniform: FloatArray,
    tp: TraderParams,
    kinds: list[int] | None = None,
) -> FloatArray:
    """The price of the chosen trader's order in each market (``nan``: no order).

    ``kind`` codes index :data:`KINDS`; ``uniform`` is one U[0, 1) draw per market (ZIC/ZIU);
    ``zip_margin`` is each chosen trader's ZIP margin (ignored for other kinds); ``kinds``: the
    codes that may occur in ``kind`` (default: found in it), so only their formulas run. Every
    kind but ZIU is clamped to its limit; all to ``[min_price, max_price]``.
    """
    lo_p, hi_p = float(tp.min_price), float(tp.max_price)

    def zic() -> FloatArray:
        low = np.where(buyer, lo_p, limit)
        high = np.where(buyer, limit, hi_p)
        return np.asarray(low + np.floor(uniform * (high - low + 1.0)))

    def ziu() -> FloatArray:
        return np.asarray(lo_p + np.floor(uniform * (hi_p - lo_p + 1.0)))

    def zip_price() -> FloatArray:
        return np.asarray(np.floor(limit * (1.0 + zip_margin) + 0.5))

    def shaved(ticks: float) -> FloatArray:
        own = np.where(buyer, best_bid, best_ask)
        better = own + np.where(buyer, 1.0, -1.0) * tp.tick * ticks
        return np.asarray(np.where(np.isnan(own), np.where(buyer, lo_p, hi_p), better))

    def snpr() -> FloatArray:
        if fraction_left > tp.snpr_lurk:
            return np.full_like(limit, np.nan)
        return shaved(np.floor(1.0 / (0.01 + fraction_left / (tp.snpr_growth * tp.snpr_lurk))))

    formulas = {
        ZIC: zic,
        ZIU: ziu,
        ZIP: zip_price,
        GVWY: lambda: limit,
        SHVR: lambda: shaved(1.0),
        SNPR: snpr,
    }
    present = [k for k in formulas if (kind == k).any()] if kinds is None else kinds
    if len(present) == 1:
        price = formulas[present[0]]()
    else:
        price = np.select([kind == k for k in present], [formulas[k]() for k in present])
    constrained = kind != ZIU
    low = np.where(constrained & ~buyer, np.maximum(lo_p, limit), lo_p)
    high = np.where(constrained & buyer, np.minimum(hi_p, limit), hi_p)
    out = np.minimum(np.maximum(price, low), high)
    return np.asarray(np.where(low > high, np.nan, out), dtype=np.float64)


def zip_respond(
    margin: FloatArray,
    change: FloatArray,
    beta: FloatArray,
    momentum: FloatArray,
    limit: FloatArray,
    buyers: int,
    active: BoolArray,
    event: BoolArray,
    price: FloatArray,
    traded: BoolArray,
    resting_buy: BoolArray,
    shout_buy: BoolArray,
    rng: np.random.Generator,
    tp: TraderParams,
) -> None:
    """Cliff's (1997) ZIP update, in place, for every ZIP trader of every market with an event.

    ``margin, change, beta, momentum, limit, active``: ``(M, Z)``, the first ``buyers`` columns
    buyers and the rest sellers; per market ``(M,)``: ``event`` (an order placed or a trade),
    ``price`` (the trade's price, else the shout's), ``traded``, ``resting_buy`` (the accepted
    shout was a bid) and ``shout_buy`` (the unaccepted shout was a bid). The rules, targets and
    Widrow-Hoff update with momentum are those of ``agents.traders.ZIP`` (Cliff's section 4.2
    and eqs. 10-14); only the traders that move draw their target's perturbations.
    """
    p = limit * (1.0 + margin)
    q = price[:, None]
    ge, le = p >= q, p <= q
    tr = (event & traded)[:, None]
    shout = (event & ~traded)[:, None]
    rb, sb = resting_buy[:, None], shout_buy[:, None]
    k = buyers
    up = np.empty_like(ge)
    down = np.empty_like(ge)
    # buyers: raise the margin (price down) after a trade at or below p; lower it (price up)
    # after an offer accepted above p, or a bid not accepted at or above p.
    down[:, :k] = tr & ge[:, :k]
    up[:, :k] = active[:, :k] & ((tr & ~rb & ~ge[:, :k]) | (shout & sb & le[:, :k]))
    # sellers: raise the margin (price up) after a trade at or above p; lower it after a bid
    # accepted below p, or an offer not accepted at or below p.
    up[:, k:] = tr & le[:, k:]
    down[:, k:] = active[:, k:] & ((tr & rb & ~le[:, k:]) | (shout & ~sb & ge[:, k:]))
    moved = up | down
    rows, cols = np.nonzero(moved)
    if rows.size == 0:
        return
    pm, qm, lm = p[rows, cols], price[rows], limit[rows, cols]
    r = rng.uniform(0.0, tp.zip_cr, size=rows.size)
    a = rng.uniform(0.0, tp.zip_ca, size=rows.size)
    target = np.where(up[rows, cols], qm * (1.0 + r) + a, qm * (1.0 - r) - a)
    gamma = momentum[rows, cols]
    step = gamma * change[rows, cols] + (1.0 - gamma) * beta[rows, cols] * (target - pm)
    new_margin = (pm + step) / lm - 1.0
    is_buyer = cols < k
    new_margin = np.where(is_buyer, np.clip(new_margin, -1.0, 0.0), np.maximum(new_margin, 0.0))
    change[rows, cols] = step
    margin[rows, cols] = new_margin
