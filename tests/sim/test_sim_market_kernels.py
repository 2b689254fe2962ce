"""The market kernels decide exactly as agents.traders does, one decision at a time: the same
price for the same view (the deterministic traders), the same range of prices (ZIC, ZIU), and,
with the target perturbations switched off (ca = cr = 0), the same ZIP margins after the same
sequence of market events."""

from __future__ import annotations

import numpy as np
import pytest

from auctionhouse.agents.traders import ZIP, BookTop, Shout, Trade, make_trader
from auctionhouse.sim import market_kernels as mk

MAX = 300


def kernel_price(
    kind: str, side: str, limit: int, top: BookTop, margin: float, u: float
) -> int | None:
    out = mk.quote(
        np.array([mk.KINDS.index(kind)]),
        np.array([side == "buy"]),
        np.array([float(limit)]),
        np.array([np.nan if top.best_bid is None else float(top.best_bid)]),
        np.array([np.nan if top.best_ask is None else float(top.best_ask)]),
        top.fraction_left,
        np.array([margin]),
        np.array([u]),
        mk.TraderParams(max_price=MAX),
    )[0]
    return None if np.isnan(out) else int(out)


def random_top(rng: np.random.Generator) -> BookTop:
    bid = None if rng.random() < 0.2 else int(rng.integers(1, MAX + 1))
    ask = None if rng.random() < 0.2 else int(rng.integers(1, MAX + 1))
    return BookTop(best_bid=bid, best_ask=ask, time_left=float(rng.uniform(0, 100)), duration=100.0)


@pytest.mark.parametrize("kind", ["gvwy", "shvr", "snpr", "zip"])
def test_deterministic_traders_quote_the_same_price(kind: str) -> None:
    rng = np.random.default_rng(5)
    for _ in range(400):
        side = "buy" if rng.random() < 0.5 else "sell"
        limit = int(rng.integers(1, MAX + 1))
        top = random_top(rng)
        params = {"side": side, "limit": limit, "max_price": MAX}
        size = float(rng.uniform(0, 1))
        if kind == "zip":
            params["margin"] = size
        trader = make_trader(kind, params, rng)
        margin = -size if side == "buy" else size
        assert trader.order(0.0, top) == kernel_price(kind, side, limit, top, margin, 0.5), (
            side,
            limit,
            top,
        )


@pytest.mark.parametrize("kind", ["zic", "ziu"])
def test_random_traders_draw_from_the_same_range(kind: str) -> None:
    rng = np.random.default_rng(6)
    for side, limit in (("buy", 7), ("sell", 292), ("buy", 150), ("sell", 150)):
        trader = make_trader(kind, {"side": side, "limit": limit, "max_price": MAX}, rng)
        drawn = {trader.order(0.0, BookTop()) for _ in range(6000)}
        n = 20_000
        kernel = mk.quote(
            np.full(n, mk.KINDS.index(kind)),
            np.full(n, side == "buy"),
            np.full(n, float(limit)),
            np.full(n, np.nan),
            np.full(n, np.nan),
            1.0,
            np.zeros(n),
            np.linspace(0.0, 1.0, n, endpoint=False),
            mk.TraderParams(max_price=MAX),
        )
        assert drawn == {int(p) for p in kernel}


def test_zip_margins_follow_the_same_events_exactly() -> None:
    rng = np.random.default_rng(7)
    sides = ["buy"] * 5 + ["sell"] * 5
    limits = [int(x) for x in rng.integers(50, 250, size=10)]
    sizes = [float(x) for x in rng.uniform(0.05, 0.35, size=10)]
    betas = [float(x) for x in rng.uniform(0.1, 0.5, size=10)]
    gammas = [float(x) for x in rng.uniform(0.0, 0.1, size=10)]
    agents: list[ZIP] = []
    for i in range(10):
        t = make_trader(
            "zip",
            {
                "side": sides[i],
                "limit": limits[i],
                "units": 1,
                "margin": sizes[i],
                "beta": betas[i],
                "momentum": gammas[i],
                "ca": 0.0,
                "cr": 0.0,
            },
        )
        assert isinstance(t, ZIP)
        agents.append(t)
    agents[2].filled(0.0, 100)  # inactive traders learn only from the raising rules
    agents[7].filled(0.0, 100)
    margin = np.array([[t.margin for t in agents]])
    change = np.zeros((1, 10))
    beta = np.array([betas])
    gamma = np.array([gammas])
    limit = np.array([limits], dtype=float)
    active = np.array([[t.active for t in agents]])
    tp = mk.TraderParams(zip_ca=0.0, zip_cr=0.0)
    for _ in range(300):
        price = int(rng.integers(20, 300))
        traded = bool(rng.random() < 0.4)
        side = "buy" if rng.random() < 0.5 else "sell"  # the resting side, or the shout's
        for t in agents:
            if traded:
                t.respond(0.0, BookTop(), Trade(price, 1, resting=side))  # type: ignore[arg-type]
            else:
                t.respond(0.0, BookTop(shout=Shout(side, price)), None)  # type: ignore[arg-type]
        mk.zip_respond(
            margin,
            change,
            beta,
            gamma,
            limit,
            5,
            active,
            np.array([True]),
            np.array([float(price)]),
            np.array([traded]),
            np.array([traded and side == "buy"]),
            np.array([not traded and side == "buy"]),
            rng,
            tp,
        )
        np.testing.assert_allclose(margin[0], [t.margin for t in agents], rtol=0, atol=1e-12)
    assert not np.allclose(margin[0], [(-s if i < 5 else s) for i, s in enumerate(sizes)])
