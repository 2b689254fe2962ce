"""Plots of the market model and ``auctionhouse experiment markets``: the published double-auction
results rerun with seeds and spread, beside the published figures.

Studies (each cell: ``seeds`` runs of ``markets`` markets for ``days`` trading days, seeds
``seed + 1000*i``; spread = standard deviation of the per-seed means):

- Gode and Sunder (1993), "Allocative efficiency of markets with zero-intelligence traders",
  JPE 101(1), Table 1: ZI-C traders reach 97-99% allocative efficiency in a CDA, ZI-U traders
  far less. Rerun under their market rules (``rule="gs"``) and BSE's book (``"lob"``).
- Cliff (1997), "Minimal-intelligence agents for bargaining behaviors in market-based
  environments", HPL-97-91: ZIP prices converge to the equilibrium, Smith's alpha falling over
  the trading days, where ZIC's do not (and, with a flat supply curve, ZIC's mean price sits
  off the equilibrium). Rerun on the symmetric and the flat-supply schedules.
- Profit per trader type when all six kinds trade in one market (a BSE-style mixed market).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from auctionhouse.sim.market import MarketConfig, MarketResult, simulate

GS_PUBLISHED = "ZI-C 97-99% in every market; ZI-U far lower (Gode and Sunder 1993, Table 1)"
CLIFF_PUBLISHED = (
    "ZIP: alpha falls over the days to a few per cent; ZIC: alpha stays high, no convergence "
    "(Cliff 1997, section 5)"
)


def plot_market(result: MarketResult, path: str | Path, title: str = "") -> None:
    """Three panels: the trade prices of the first traced market by trade (with P0 and the
    days' boundaries, as in Cliff's figures), Smith's alpha by day and allocative efficiency by
    day (mean and one standard deviation over markets)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    _draw_trace(axes[0], result)
    days = np.arange(1, result.config.days + 1)
    for ax, data, label, top in (
        (axes[1], result.alpha, "Smith's alpha (%)", np.inf),
        (axes[2], result.efficiency * 100, "allocative efficiency (%)", 100.0),
    ):
        mean, sd = _mean_sd(data)
        ax.plot(days, mean, marker="o")
        ax.fill_between(days, np.maximum(mean - sd, 0), np.minimum(mean + sd, top), alpha=0.2)
        ax.set_xlabel("trading day")
        ax.set_ylabel(label)
    fig.suptitle(title or _title(result), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _title(result: MarketResult) -> str:
    cfg = result.config
    return f"{cfg.traders} on {cfg.schedule} ({cfg.rule}), {cfg.markets} markets, seed {cfg.seed}"


def _draw_trace(ax: Any, result: MarketResult) -> None:
    trace = result.trace[0] if result.trace else []
    prices = [p for _, _, p in trace]
    ax.plot(range(1, len(prices) + 1), prices, marker=".", lw=0.8)
    ax.axhline(result.equilibrium_price, color="k", ls="--", lw=0.8)
    for i in range(1, len(trace)):
        if trace[i][0] != trace[i - 1][0]:
            ax.axvline(i + 0.5, color="grey", lw=0.5)
    ax.set_xlabel("trade (days marked)")
    ax.set_ylabel("price (P0 dashed)")


def _mean_sd(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(invalid="ignore"):
        counts = (~np.isnan(data)).sum(axis=0)
        mean = np.nansum(data, axis=0) / np.maximum(counts, 1)
        sd = np.sqrt(np.nansum((data - mean) ** 2, axis=0) / np.maximum(counts, 1))
    return np.where(counts > 0, mean, np.nan), np.where(counts > 0, sd, np.nan)


@dataclass(frozen=True)
class Cell:
    """Per-seed results of one configuration."""

    config: MarketConfig
    runs: tuple[MarketResult, ...]

    def spread(self, values: list[float], digits: int = 2) -> str:
        arr = np.asarray(values, dtype=float)
        return f"{arr.mean():.{digits}f} ± {arr.std():.{digits}f}"

    def efficiency(self) -> str:
        """Mean ± spread across seeds, and (sd) across the market-days of all runs."""
        per_seed = [100 * float(r.efficiency.mean()) for r in self.runs]
        every = np.concatenate([r.efficiency.ravel() for r in self.runs]) * 100
        return f"{self.spread(per_seed)} (sd {every.std():.1f})"

    def alpha(self, day: int) -> str:
        return self.spread([float(_mean_sd(r.alpha)[0][day]) for r in self.runs])

    def price(self, day: int) -> str:
        return self.spread([float(_mean_sd(r.mean_price)[0][day]) for r in self.runs])


def run_cell(cfg: MarketConfig, seeds: int) -> Cell:
    """``seeds`` runs of ``cfg`` with seeds ``cfg.seed + 1000*i``."""
    return Cell(cfg, tuple(simulate(replace(cfg, seed=cfg.seed + 1000 * i)) for i in range(seeds)))


def run_market_experiment(
    out: str | Path,
    seed: int = 1,
    seeds: int = 5,
    markets: int = 100,
    days: int = 10,
    steps: int = 0,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Run the studies above, write ``report.md`` and PNG plots into ``out``; return the report's
    path. ``steps``: turns per trading day (0: the model's default, 25 per unit). Raises
    ``ValueError`` for ``seeds``, ``markets`` or ``days`` below 1 or negative ``steps``."""
    if min(seeds, markets, days) < 1 or steps < 0:
        raise ValueError("seeds, markets and days must be at least 1, steps at least 0")
    began = time.perf_counter()
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda line: None)
    base = MarketConfig(markets=markets, days=days, steps=steps, seed=seed)
    lines = [
        "# Double auctions: the published results, rerun",
        "",
        f"Each cell: {seeds} seeds (seed {seed} + 1000 i) x {markets} markets x {days} trading "
        "days; a figure is the mean over seeds of each seed's mean, ± the standard deviation "
        "across seeds. Generated by `auctionhouse experiment markets`.",
        "",
        "## Gode and Sunder (1993): allocative efficiency, ZI-C and ZI-U",
        "",
        f"Published: {GS_PUBLISHED}.",
        "",
        "Efficiency: mean ± standard deviation across seeds (sd across single market-days).",
        "",
        "| schedule | rule | ZI-C efficiency % | ZI-U efficiency % | ZI-U trades at a loss/day |",
        "|---|---|---|---|---|",
    ]
    for schedule in ("gs-style", "symmetric", "flat-supply"):
        for rule in ("gs", "lob"):
            zic = run_cell(replace(base, schedule=schedule, traders="zic", rule=rule), seeds)
            ziu = run_cell(replace(base, schedule=schedule, traders="ziu", rule=rule), seeds)
            losses = ziu.spread([float(r.losses.mean()) for r in ziu.runs])
            lines.append(
                f"| {schedule} | {rule} | {zic.efficiency()} | {ziu.efficiency()} | {losses} |"
            )
            say(f"gode-sunder {schedule} {rule} done")
    lines += [
        "",
        "## Cliff (1997): ZIP converges, ZIC does not (Smith's alpha by day)",
        "",
        f"Published: {CLIFF_PUBLISHED}.",
        "",
        f"| schedule | traders | alpha day 1 | alpha day {min(days, 5)} | alpha day {days} "
        f"| mean price day {days} (P0 200) | efficiency % |",
        "|---|---|---|---|---|---|---|",
    ]
    figures = []
    for schedule in ("symmetric", "flat-supply"):
        cells = {}
        for kind in ("zip", "zic"):
            cell = run_cell(replace(base, schedule=schedule, traders=kind), seeds)
            cells[kind] = cell
            lines.append(
                f"| {schedule} | {kind} | {cell.alpha(0)} | {cell.alpha(min(days, 5) - 1)} "
                f"| {cell.alpha(days - 1)} | {cell.price(days - 1)} | {cell.efficiency()} |"
            )
            plot_market(cell.runs[0], outdir / f"cliff-{schedule}-{kind}.png")
        _plot_alpha(cells, outdir / f"cliff-{schedule}-alpha.png", schedule)
        figures.append(f"![alpha by day, {schedule}](cliff-{schedule}-alpha.png)")
        say(f"cliff {schedule} done")
    lines += [
        "",
        *figures,
        "",
        "Prices of one market (seed 1), ZIP then ZIC:",
        "",
        "![ZIP](cliff-symmetric-zip.png)",
        "![ZIC](cliff-symmetric-zic.png)",
        "",
        "## Profit per trader type in one mixed market (symmetric schedule, BSE's book)",
        "",
        "| type | profit per trader and day | at P0 | share |",
        "|---|---|---|---|",
    ]
    mixed = run_cell(replace(base, traders="zip,zic,shvr,snpr,gvwy,zip"), seeds)
    for kind in ("zip", "zic", "shvr", "snpr", "gvwy"):
        got = [r.profit_by_kind[kind] for r in mixed.runs]
        at_p0 = mixed.runs[0].equilibrium_profit_by_kind[kind]
        share = [g / at_p0 for g in got] if at_p0 else [float("nan")]
        lines.append(f"| {kind} | {mixed.spread(got)} | {at_p0:.1f} | {mixed.spread(share, 3)} |")
    lines += ["", f"Run time: {time.perf_counter() - began:.0f} s.", ""]
    path = outdir / "report.md"
    path.write_text("\n".join(lines))
    return path


def _plot_alpha(cells: dict[str, Cell], path: Path, schedule: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for kind, cell in cells.items():
        per_seed = np.array([_mean_sd(r.alpha)[0] for r in cell.runs])
        days = np.arange(1, per_seed.shape[1] + 1)
        mean, sd = per_seed.mean(axis=0), per_seed.std(axis=0)
        ax.plot(days, mean, marker="o", label=kind.upper())
        ax.fill_between(days, mean - sd, mean + sd, alpha=0.2)
    ax.set_xlabel("trading day")
    ax.set_ylabel("Smith's alpha (%)")
    ax.set_title(f"{schedule}: alpha by day (mean ± sd over seeds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
