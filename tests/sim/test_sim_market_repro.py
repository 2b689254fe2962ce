"""The published double-auction results, asserted with generous bounds that the wrong
behaviour would still fail (docs/markets-sim.md has the full reruns with seeds and spread).

- Gode and Sunder (1993), Table 1: ZI-C traders reach 97-99% allocative efficiency in a CDA;
  ZI-U traders far less.
- Cliff (1997), HPL-97-91: ZIP's Smith's alpha falls over the trading days; ZIC's does not, and
  with a flat supply curve ZIC's mean price stays above the equilibrium.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from auctionhouse.sim.market import MarketConfig, simulate


def test_gode_sunder_zic_is_efficient_and_ziu_is_not() -> None:
    for rule in ("gs", "lob"):
        base = MarketConfig(schedule="gs-style", rule=rule, markets=40, days=2, steps=600, seed=4)
        zic = simulate(base).efficiency.mean()
        ziu = simulate(replace(base, traders="ziu")).efficiency.mean()
        assert 0.96 <= zic <= 1.0, (rule, zic)
        assert ziu <= 0.75 and zic - ziu >= 0.25, (rule, ziu)


def alpha_by_day(kind: str, schedule: str) -> np.ndarray:
    cfg = MarketConfig(schedule=schedule, traders=kind, markets=60, days=6, steps=300, seed=5)
    return np.nanmean(simulate(cfg).alpha, axis=0)


def test_cliff_zip_prices_converge_where_zic_prices_do_not() -> None:
    zip_alpha = alpha_by_day("zip", "symmetric")
    zic_alpha = alpha_by_day("zic", "symmetric")
    assert zip_alpha[-1] < 0.5 * zip_alpha[0] and zip_alpha[-1] < 8.0, zip_alpha
    assert zic_alpha[-1] > 0.75 * zic_alpha[0] and zic_alpha[-1] > 12.0, zic_alpha
    assert zip_alpha[-1] < 0.5 * zic_alpha[-1]


def test_cliff_flat_supply_zic_prices_stay_off_the_equilibrium() -> None:
    cfg = MarketConfig(schedule="flat-supply", markets=60, days=4, steps=300, seed=6)
    zic = simulate(cfg)
    zip_ = simulate(replace(cfg, traders="zip"))
    assert np.nanmean(zic.mean_price[:, -1]) > 210  # P0 = 200: every ZIC ask is at least 200
    assert abs(np.nanmean(zip_.mean_price[:, -1]) - 200) < 5
    assert np.nanmean(zip_.alpha[:, -1]) < 0.4 * np.nanmean(zic.alpha[:, -1])
