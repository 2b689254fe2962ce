"""The simulator's vectorised traders behave like agents.traders: on the same schedules, turn
order and matching, both give the same allocative efficiency and Smith's alpha (within the
sampling error of the two runs; their random draws differ)."""

from __future__ import annotations

import numpy as np
import pytest
from market_reference import run_day, traders_for

from auctionhouse.sim.market import SCHEDULES, MarketConfig, simulate

DAYS = 2


def reference(
    schedule: str, kind: str, rule: str, markets: int, steps: int
) -> tuple[list[float], list[float]]:
    """Per market-day efficiency, and the last day's alpha per market, of the scalar traders."""
    sched = SCHEDULES[schedule]
    p0, _, best = sched.equilibrium()
    effs, alphas = [], []
    for seed in range(markets):
        rng = np.random.default_rng(1000 + seed)
        traders = traders_for(sched, [kind], rng)
        for day in range(DAYS):
            result = run_day(traders, steps, rng, gs=rule == "gs")
            effs.append(result.surplus / best)
            if day == DAYS - 1 and result.prices:
                dev = np.array(result.prices, dtype=float) - p0
                alphas.append(100 * float(np.sqrt(np.mean(dev**2))) / p0)
    return effs, alphas


def close(a: list[float] | np.ndarray, b: list[float] | np.ndarray, slack: float) -> bool:
    """Whether two samples' means differ by less than 4 standard errors (plus ``slack``)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    se = np.sqrt(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size)
    return bool(abs(x.mean() - y.mean()) <= 4 * se + slack)


@pytest.mark.parametrize(
    ("schedule", "kind", "rule", "markets", "steps"),
    [
        ("symmetric", "zic", "lob", 10, 300),
        ("symmetric", "zic", "gs", 10, 300),
        ("symmetric", "zip", "lob", 10, 300),
        ("flat-supply", "zip", "gs", 8, 300),
        # shavers creep one tick a turn from the worst price: they need longer days
        ("symmetric", "shvr", "lob", 5, 900),
        ("symmetric", "snpr", "lob", 8, 300),
    ],
)
def test_kernels_agree_with_the_agent_traders(
    schedule: str, kind: str, rule: str, markets: int, steps: int
) -> None:
    effs, alphas = reference(schedule, kind, rule, markets, steps)
    sim = simulate(
        MarketConfig(
            schedule=schedule, traders=kind, rule=rule, markets=300, days=DAYS, steps=steps, seed=3
        )
    )
    assert close(effs, sim.efficiency.ravel(), slack=0.01), (np.mean(effs), sim.efficiency.mean())
    sim_alpha = sim.alpha[:, -1]
    sim_alpha = sim_alpha[~np.isnan(sim_alpha)]
    assert len(alphas) >= markets // 2 and sim_alpha.size >= 150  # both markets traded
    assert close(alphas, sim_alpha, slack=1.0), (np.mean(alphas), sim_alpha.mean())
