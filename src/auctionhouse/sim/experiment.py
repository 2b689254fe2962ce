"""``auctionhouse experiment thesis``: the thesis' chapter 8 studies, rerun, beside its numbers.

Studies (seed 004, section 8.2.2-8.2.3): table 8.4 (crossover x mutation), table 8.5 (fuzzy
partitions), table 8.6 and figure 8.8 (bidders, four methods x PV/CV), figure 8.9 (1/5/10/20
opponents), table 8.7 and figure 8.10 (sellers). Each cell averages ``repeats`` seeded evolutions.
The report is ``report.md`` in the output directory with PNG plots beside it.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from auctionhouse.sim.evolve import EvolutionResult, evolve
from auctionhouse.sim.thesis import ThesisConfig

METHODS = ("fpsb", "vickrey", "english", "dutch")

# The thesis' numbers, transcribed from the seed text (line numbers in THESIS-MODEL.md's source).
THESIS_TABLE_8_4 = {  # (crossover, mutation) -> (fitness at gen 100, max mean fitness, its gen)
    (0.7, 0.0025): (4043, 4108, 87),
    (0.8, 0.0025): (4072, 4100, 98),
    (0.9, 0.0025): (4121, 4122, 94),
    (0.7, 0.01): (4033, 4072, 96),
    (0.8, 0.01): (4101, 4101, 100),
    (0.9, 0.01): (4063, 4131, 93),
    (0.7, 0.04): (3939, 3973, 96),
    (0.8, 0.04): (3961, 3995, 92),
    (0.9, 0.04): (3878, 4006, 71),
}
THESIS_TABLE_8_5 = {  # (sets for v, sets for r) -> mean fitness after 100 generations
    (3, 3): 3702, (6, 3): 4150, (10, 3): 4217,
    (3, 5): 3720, (6, 5): 4108, (10, 5): 4250,
    (3, 10): 3653, (6, 10): 3911, (10, 10): 3842,
}  # fmt: skip
THESIS_TABLE_8_6 = {  # (method, values) -> evolved chromosomes of the fittest bidder
    ("fpsb", "pv"): {"bid": "233343322"},
    ("vickrey", "pv"): {"bid": "444444434"},
    ("english", "pv"): {"bid": "334444443"},
    ("dutch", "pv"): {"bid": "233334322"},
    ("fpsb", "cv"): {"bid": "341212231412444312", "scale_down": "231442413201001113"},
    ("vickrey", "cv"): {"bid": "443300444423343433", "scale_down": "004021000013002004"},
    ("english", "cv"): {"bid": "443411444413444412", "scale_down": "000144012012000030"},
    ("dutch", "cv"): {"bid": "102002234204344403", "scale_down": "434112102120203031"},
}
THESIS_WIN_RATES = {
    "pv": "FPSB/Dutch ~70%, Vickrey/English >90%",
    "cv": "FPSB/Dutch 10-15%, Vickrey/English >50%",
}
THESIS_FIGURE_8_9 = {1: "223332222", 5: "324343333", 10: "433343343", 20: "333434344"}
THESIS_TABLE_8_7 = {  # (method, values) -> evolved seller chromosomes
    ("fpsb", "pv"): {"reserve": "100001201"},
    ("vickrey", "pv"): {"reserve": "000001230"},
    ("english", "pv"): {"reserve": "001010000", "starting": "101012221"},
    ("dutch", "pv"): {"reserve": "100001011", "starting": "343133342"},
    ("fpsb", "cv"): {"reserve": "343303443402444422"},
    ("vickrey", "cv"): {"reserve": "433404444414444424"},
    ("english", "cv"): {"reserve": "444400221411344303", "starting": "443101444402434414"},
    ("dutch", "cv"): {"reserve": "442203432411441313", "starting": "323143023224211243"},
}


def plot_history(
    histories: dict[str, list[dict[str, float]]], path: str | Path, title: str
) -> None:
    """Mean fitness per generation, one line per label (and the best as a thin line)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, history in histories.items():
        gens = np.arange(1, len(history) + 1)
        (line,) = ax.plot(gens, [h["mean"] for h in history], label=f"{label} mean")
        ax.plot(gens, [h["best"] for h in history], color=line.get_color(), lw=0.6, alpha=0.5)
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness (credit + payoffs)")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_bars(
    groups: dict[str, dict[str, float]], path: str | Path, title: str, ylabel: str
) -> None:
    """Grouped bars: ``groups[group][label] = height``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    labels = list(next(iter(groups.values())))
    width = 0.8 / len(groups)
    for i, (group, bars) in enumerate(groups.items()):
        x = np.arange(len(labels)) + i * width
        ax.bar(x, [bars[k] for k in labels], width, label=group)
    ax.set_xticks(np.arange(len(labels)) + width * (len(groups) - 1) / 2, labels)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


class Cell:
    """``repeats`` evolutions of one configuration, summarised."""

    def __init__(self, cfg: ThesisConfig, repeats: int) -> None:
        self.runs: list[EvolutionResult] = [
            evolve(replace(cfg, seed=cfg.seed + 1000 * i)) for i in range(repeats)
        ]
        means = np.array([[h["mean"] for h in r.history] for r in self.runs]).mean(axis=0)
        self.history = [
            {
                k: float(np.mean([r.history[g][k] for r in self.runs]))
                for k in ("best", "mean", "worst")
            }
            for g in range(len(means))
        ]
        self.final = float(means[-1])
        self.peak_generation = int(np.argmax(means)) + 1
        self.peak = float(means.max())
        self.best = max(self.runs, key=lambda r: r.best.fitness).best
        self.win_rate = float(np.mean([r.best.win_rate for r in self.runs]))
        self.mean_payoff = float(np.mean([r.best.mean_payoff for r in self.runs]))
        self.mean_gene = float(np.mean([r.population[:, 0, :].mean() for r in self.runs]))


def _dash(genes: str, group: int) -> str:
    return "-".join(genes[i : i + group] for i in range(0, len(genes), group))


def _mean_gene(genes: str) -> float:
    return sum(int(g) for g in genes) / len(genes)


def _chromosome_cell(chromosomes: dict[str, str], group: int) -> str:
    return "<br>".join(f"{k}: {_dash(v, group)}" for k, v in chromosomes.items())


def _table_head(title: str, columns: list[str]) -> list[str]:
    """A Markdown section heading and the head of its table."""
    return [title, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def run_thesis_experiment(out: str | Path, seed: int = 1, repeats: int = 3) -> Path:
    """Run every study, write ``report.md`` and the plots into ``out``; return the report path."""
    began = time.perf_counter()
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    base = ThesisConfig(seed=seed)
    lines: list[str] = [
        "# The thesis' chapter 8, rerun",
        "",
        "Generated by `auctionhouse experiment thesis` (model: docs/simulator.md and",
        "THESIS-MODEL.md). Every cell averages "
        f"{repeats} evolutions (base seed {seed}); fitness is the",
        "population's mean fitness (credit 1000 + payoffs of 100 auctions). The thesis' numbers",
        "are beside ours for comparison, not as targets (docs/simulator.md says why they differ).",
        "",
    ]
    lines += _table_8_4(base, repeats)
    lines += _table_8_5(base, repeats)
    lines += _bidders(base, repeats, outdir)
    lines += _opponents(base, repeats, outdir)
    lines += _sellers(base, repeats, outdir)
    lines += ["", f"Total time: {time.perf_counter() - began:.1f} s.", ""]
    path = outdir / "report.md"
    path.write_text("\n".join(lines))
    return path


def _table_8_4(base: ThesisConfig, repeats: int) -> list[str]:
    lines = _table_head(
        "## Table 8.4: crossover and mutation probabilities (FPSB-PV, sets 6/5)",
        [
            "crossover",
            "mutation",
            "ours: gen 100",
            "ours: max (gen)",
            "thesis: gen 100",
            "thesis: max (gen)",
        ],
    )
    for (pc, pm), (t_final, t_peak, t_gen) in THESIS_TABLE_8_4.items():
        cell = Cell(replace(base, crossover=pc, mutation=pm, sets=(6, 5, 2)), repeats)
        lines.append(
            f"| {pc} | {pm} | {cell.final:.0f} | {cell.peak:.0f} ({cell.peak_generation}) "
            f"| {t_final} | {t_peak} ({t_gen}) |"
        )
    return [*lines, ""]


def _table_8_5(base: ThesisConfig, repeats: int) -> list[str]:
    lines = _table_head(
        "## Table 8.5: fuzzy partitions (FPSB-PV, mean fitness after 100 generations)",
        [
            "sets for v",
            "sets for r",
            "ours",
            "thesis",
        ],
    )
    for (pv, pr), thesis_value in THESIS_TABLE_8_5.items():
        cell = Cell(replace(base, sets=(pv, pr, 2)), repeats)
        lines.append(f"| {pv} | {pr} | {cell.final:.0f} | {thesis_value} |")
    return [*lines, ""]


def _bidders(base: ThesisConfig, repeats: int, outdir: Path) -> list[str]:
    lines = _table_head(
        "## Table 8.6 and figure 8.8: evolved bidders, four methods x PV/CV (10 opponents)",
        [
            "method",
            "values",
            "ours: fitness",
            "ours: win rate",
            "ours: fittest chromosomes",
            "ours: mean bid gene",
            "thesis: chromosomes",
            "thesis: mean bid gene",
        ],
    )
    histories: dict[str, list[dict[str, float]]] = {}
    for values in ("pv", "cv"):
        for method in METHODS:
            cell = Cell(replace(base, method=method, values=values), repeats)
            histories[f"{method}-{values}"] = cell.history
            group = 3 if values == "pv" else 6
            theirs = THESIS_TABLE_8_6[(method, values)]
            lines.append(
                f"| {method} | {values} | {cell.final:.0f} | {cell.win_rate:.0%} "
                f"| {_chromosome_cell(cell.best.chromosomes, group)} | {cell.mean_gene:.2f} "
                f"| {_chromosome_cell(theirs, group)} | {_mean_gene(theirs['bid']):.2f} |"
            )
    plot_history(histories, outdir / "bidder_fitness.png", "Bidders: mean fitness per generation")
    lines += [
        "",
        f"Thesis win rates: PV {THESIS_WIN_RATES['pv']}; CV {THESIS_WIN_RATES['cv']}.",
        "",
        "![bidder fitness](bidder_fitness.png)",
        "",
    ]
    return lines


def _opponents(base: ThesisConfig, repeats: int, outdir: Path) -> list[str]:
    lines = _table_head(
        "## Figure 8.9: FPSB-PV bidders against 1, 5, 10 and 20 opponents",
        [
            "opponents",
            "ours: fitness",
            "ours: fittest bid chromosome",
            "ours: mean bid gene",
            "thesis: chromosome",
            "thesis: mean bid gene",
        ],
    )
    histories: dict[str, list[dict[str, float]]] = {}
    for n, theirs in THESIS_FIGURE_8_9.items():
        cell = Cell(replace(base, opponents=n), repeats)
        histories[f"{n} opponents"] = cell.history
        lines.append(
            f"| {n} | {cell.final:.0f} | {_dash(cell.best.chromosomes['bid'], 3)} "
            f"| {cell.mean_gene:.2f} | {_dash(theirs, 3)} | {_mean_gene(theirs):.2f} |"
        )
    plot_history(histories, outdir / "opponents_fitness.png", "FPSB-PV bidders by opponents")
    return [*lines, "", "![opponents](opponents_fitness.png)", ""]


def _sellers(base: ThesisConfig, repeats: int, outdir: Path) -> list[str]:
    lines = _table_head(
        "## Table 8.7 and figure 8.10: evolved sellers, four methods x PV/CV (10 bidders)",
        [
            "method",
            "values",
            "ours: fitness",
            "ours: sold",
            "ours: mean payoff",
            "ours: fittest chromosomes",
            "thesis: chromosomes",
        ],
    )
    histories: dict[str, list[dict[str, float]]] = {}
    revenue: dict[str, dict[str, float]] = {"PV": {}, "CV": {}}
    for values in ("pv", "cv"):
        for method in METHODS:
            cell = Cell(replace(base, scenario="seller", method=method, values=values), repeats)
            histories[f"{method}-{values}"] = cell.history
            revenue[values.upper()][method] = cell.mean_payoff
            group = 3 if values == "pv" else 6
            lines.append(
                f"| {method} | {values} | {cell.final:.0f} | {cell.win_rate:.0%} "
                f"| {cell.mean_payoff:.1f} | {_chromosome_cell(cell.best.chromosomes, group)} "
                f"| {_chromosome_cell(THESIS_TABLE_8_7[(method, values)], group)} |"
            )
    plot_history(histories, outdir / "seller_fitness.png", "Sellers: mean fitness per generation")
    plot_bars(
        revenue,
        outdir / "seller_revenue.png",
        "Evolved sellers: mean payoff (price - value) per auction",
        "payoff per auction",
    )
    lines += [
        "",
        "Thesis (figure 8.10): PV profits similar for FPSB, English and Dutch, marginally less",
        "for Vickrey; CV profits much lower, Vickrey sellers make none; PV reserves low, CV",
        "reserves high.",
        "",
        "![seller fitness](seller_fitness.png)",
        "",
        "![seller revenue](seller_revenue.png)",
        "",
    ]
    return lines
