"""``auctionhouse simulate``, ``auctionhouse evolve`` and ``auctionhouse experiment thesis``.

NumPy, matplotlib and the simulator load inside the verbs, so ``auctionhouse --help`` stays fast.
Bad options raise :class:`~auctionhouse.errors.InvalidRequest` (one ``error:`` line, exit 2).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from auctionhouse.errors import InvalidRequest

PROGRESS_MIN_AUCTIONS = 2_000_000


def _choice(option: str, value: str, allowed: tuple[str, ...]) -> str:
    low = value.lower()
    if low not in allowed:
        raise InvalidRequest(f"--{option} must be one of {', '.join(allowed)}, not {value!r}")
    return low


def _checked(build: Callable[[], Any], validate: Callable[[Any], None]) -> Any:
    """Build and validate a config, turning its ``ValueError`` into ``InvalidRequest``."""
    try:
        cfg = build()
        validate(cfg)
    except ValueError as exc:
        raise InvalidRequest(f"invalid option: {exc}") from None
    return cfg


PROGRESS_STEPS = 10  # progress lines of a long run whose stdout is not a terminal


@contextmanager
def _progress(
    total: int, label: str, enabled: bool, bar: bool = True
) -> Iterator[Callable[[int], None] | None]:
    """For a long run (``enabled``): a Rich progress bar when stdout is a terminal (and
    ``bar``), else a line on stderr at every tenth of the way (a log, a pipe, CI)."""
    if not enabled:
        yield None
        return
    if not sys.stdout.isatty():
        shown = [0]

        def line(done: int) -> None:
            step = done * PROGRESS_STEPS // max(1, total)
            if step > shown[0]:
                shown[0] = step
                print(
                    f"{done / max(1, total):4.0%} ({done:,} of {total:,} {label})",
                    file=sys.stderr,
                    flush=True,
                )

        yield line
        return
    if not bar:
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda done: progress.update(task, completed=done)


def _print_table(
    title: str, rows: list[tuple[str, str]], settings: list[tuple[str, str]] | None = None
) -> None:
    """A two-column table; ``settings`` (what was asked) come first, set apart from ``rows``
    (what came out)."""
    from rich.console import Console
    from rich.table import Table

    from auctionhouse.client.text import safe_text

    table = Table(title=safe_text(title, markup=True))
    table.add_column("setting" if settings else "quantity")
    table.add_column("value", justify="right")
    for key, value in settings or []:
        table.add_row(safe_text(key, markup=True), safe_text(value, markup=True))
    if settings:
        table.add_section()
        table.add_row("[bold]result[/bold]", "")
    for key, value in rows:
        table.add_row(safe_text(key, markup=True), safe_text(value, markup=True))
    Console().print(table)


# How ``simulate`` shows each field: its words and its number format.
_SETTINGS = (
    "model",
    "method",
    "values",
    "bidders",
    "auctions",
    "strategy",
    "reserve",
    "increment",
    "distribution",
    "seed",
)
_WORDS = {
    "mean_revenue": "mean revenue",
    "theory_revenue": "revenue in theory",
    "efficiency": "efficient (highest value won)",
    "mean_winner_payoff": "mean payoff of a winner",
    "sold_fraction": "sold",
    "seconds": "time",
    "auctions_per_second": "speed",
}


def _readable(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key in ("efficiency", "sold_fraction"):
        return f"{value:.2%}"
    if key == "seconds":
        return f"{value:.2f} s"
    if key == "auctions_per_second":
        return f"{value:,.0f} auctions/s"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.6g}"
    return str(value)


def register(app: typer.Typer) -> None:
    """Add ``simulate``, ``evolve`` and ``experiment`` to the ``auctionhouse`` command."""
    app.command("simulate")(simulate)
    app.command("evolve")(evolve)
    experiment = typer.Typer(
        help="Rerun published studies with the simulator.", no_args_is_help=True
    )
    experiment.command("thesis")(experiment_thesis)
    experiment.command("markets")(experiment_markets)
    app.add_typer(experiment, name="experiment")


def simulate(
    model: str = typer.Option("textbook", help="Simulator model: textbook or market."),
    method: str = typer.Option("vickrey", help="english, dutch, fpsb or vickrey."),
    values: str = typer.Option("pv", help="pv (private values) or cv (common value)."),
    bidders: int = typer.Option(10, help="Bidders per auction."),
    auctions: int = typer.Option(1_000_000, help="Auctions to simulate."),
    strategy: str = typer.Option("equilibrium", help="equilibrium, truthful, naive or registered."),
    reserve: float = typer.Option(0.0, help="Reserve price in [0, 1]."),
    increment: float = typer.Option(0.0, help="English/Dutch clock step (0 = continuous)."),
    distribution: str = typer.Option("uniform", help="PV values: uniform or power (F = v^shape)."),
    shape: float = typer.Option(1.0, help="Exponent of the power distribution."),
    noise: float = typer.Option(0.1, help="CV signal noise e: signals V + U[-e, e]."),
    english: str = typer.Option("clock", help="English rule: clock or proxy (house proxy bids)."),
    seed: int = typer.Option(0, help="Random seed."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    schedule: str = typer.Option(
        "symmetric", help="Market: symmetric, flat-supply, gs-style or a JSON schedule file."
    ),
    traders: str = typer.Option("zic", help="Market: zic, ziu, zip, gvwy, shvr, snpr (a,b,...)."),
    rule: str = typer.Option("lob", help="Market: lob (BSE's book) or gs (Gode-Sunder rules)."),
    markets: int = typer.Option(100, help="Market: independent markets run at once."),
    days: int = typer.Option(10, help="Market: trading days per market."),
    steps: int = typer.Option(0, help="Market: turns per day (0: 25 per unit)."),
    plot: str | None = typer.Option(None, help="Market: write a PNG of prices, alpha, efficiency."),
) -> None:
    """Monte-Carlo auctions with equilibrium or given strategies, beside the theory; or
    (``--model market``) continuous double auctions of ZIC/ZIP/... traders."""
    if _choice("model", model, ("textbook", "market")) == "market":
        _simulate_market(schedule, traders, rule, markets, days, steps, seed, plot, as_json)
        return
    from auctionhouse.sim import textbook

    cfg = _checked(
        lambda: textbook.TextbookConfig(
            method=_choice("method", method, textbook.METHODS),
            values=_choice("values", values, textbook.VALUES),
            bidders=bidders,
            auctions=auctions,
            strategy=_choice("strategy", strategy, tuple(textbook.STRATEGIES)),
            reserve=reserve,
            increment=increment,
            distribution=_choice("distribution", distribution, textbook.DISTRIBUTIONS),
            shape=shape,
            noise=noise,
            english=_choice("english", english, textbook.ENGLISH_RULES),
            seed=seed,
        ),
        textbook.validate,
    )
    long_run = auctions >= PROGRESS_MIN_AUCTIONS
    with _progress(auctions, "auctions", long_run, bar=not as_json) as tick:
        result = textbook.simulate(cfg, progress=tick)
    out = result.to_dict()
    if as_json:
        print(json.dumps(out))
        return
    title = f"textbook {cfg.method.upper()}-{cfg.values.upper()}, {cfg.bidders} bidders"
    settings = [(k, _readable(k, out[k])) for k in _SETTINGS if k in out]
    results = [(_WORDS.get(k, k), _readable(k, v)) for k, v in out.items() if k not in _SETTINGS]
    _print_table(title, results, settings)


def _simulate_market(
    schedule: str,
    traders: str,
    rule: str,
    markets: int,
    days: int,
    steps: int,
    seed: int,
    plot: str | None,
    as_json: bool,
) -> None:
    from auctionhouse.sim import market

    custom = None
    if schedule not in market.SCHEDULES:
        if not schedule.endswith(".json"):
            raise InvalidRequest(
                f"--schedule must be one of {', '.join(market.SCHEDULES)} or a .json file"
            )
        try:
            custom = market.load_schedule(schedule)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
    cfg = _checked(
        lambda: market.MarketConfig(
            schedule=schedule,
            traders=traders,
            rule=_choice("rule", rule, market.RULES),
            markets=markets,
            days=days,
            steps=steps,
            seed=seed,
            custom=custom,
        ),
        market.validate,
    )
    result = market.simulate(cfg)
    if plot:
        from auctionhouse.sim.market_report import plot_market

        plot_market(result, plot)
    out = result.to_dict()
    if as_json:
        print(json.dumps(out))
        return
    rows = [(k, _fmt(v)) for k, v in out.items() if not isinstance(v, list | dict)]
    rows += [(f"{k} (day 1 .. {days})", _series(v)) for k, v in out.items() if isinstance(v, list)]
    rows += [(f"profit/trader/day {k}", _fmt(v)) for k, v in out["profit_per_trader_day"].items()]
    _print_table(f"market: {out['traders']} on {out['schedule']} ({cfg.rule})", rows)


def _series(values: list[Any]) -> str:
    shown = [_fmt(v) for v in values[:3]]
    if len(values) > 4:
        shown.append("...")
    if len(values) > 3:
        shown.append(_fmt(values[-1]))
    return ", ".join(shown)


def _parse_sets(text: str) -> tuple[int, int, int]:
    try:
        parts = tuple(int(p) for p in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or min(parts) < 1:
        raise InvalidRequest(f"--sets must be three positive integers like 3,3,2, not {text!r}")
    return (parts[0], parts[1], parts[2])


def evolve(
    model: str = typer.Option("thesis", help="Simulator model: thesis."),
    scenario: str = typer.Option("bidder", help="bidder (scenario 1) or seller (scenario 2)."),
    method: str = typer.Option("fpsb", help="english, dutch, fpsb or vickrey."),
    values: str = typer.Option("pv", help="pv or cv."),
    opponents: int = typer.Option(10, help="Fixed bidders in each auction."),
    population: int = typer.Option(100, help="Evolving agents (even)."),
    generations: int = typer.Option(100, help="Generations."),
    auctions: int = typer.Option(100, help="Auctions each agent plays per generation."),
    crossover: float = typer.Option(0.9, help="Crossover probability."),
    mutation: float = typer.Option(0.01, help="Mutation probability per gene."),
    alleles: int = typer.Option(5, help="Values a gene can take (0..alleles-1)."),
    sets: str = typer.Option("3,3,2", help="Fuzzy sets for v, r and s."),
    private_value: float | None = typer.Option(None, help="Own value (bidder 200, seller 100)."),
    decision: str = typer.Option(
        "text", help="Decision rule: text (the thesis' formula) or code (its appendix H)."
    ),
    seed: int = typer.Option(0, help="Random seed."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    members: bool = typer.Option(False, "--members", help="With --json: every member's result."),
    plot: str | None = typer.Option(None, help="Write a fitness-per-generation PNG here."),
    save: str | None = typer.Option(None, help="Save the fittest strategy as a JSON file here."),
) -> None:
    """Evolve a bidding or selling strategy with the thesis' fuzzy-genetic algorithm."""
    _choice("model", model, ("thesis",))
    from auctionhouse.sim import evolve as evolution
    from auctionhouse.sim import thesis

    cfg = _checked(
        lambda: thesis.ThesisConfig(
            scenario=_choice("scenario", scenario, thesis.SCENARIOS),
            method=_choice("method", method, thesis.METHODS),
            values=_choice("values", values, ("pv", "cv")),
            opponents=opponents,
            population=population,
            generations=generations,
            auctions=auctions,
            crossover=crossover,
            mutation=mutation,
            alleles=alleles,
            sets=_parse_sets(sets),
            private_value=private_value,
            seed=seed,
            decision=_choice("decision", decision, thesis.DECISIONS),
        ),
        thesis.validate,
    )
    long_run = population * generations * auctions >= 10_000_000
    with _progress(generations, "generations", long_run, bar=not as_json) as tick:
        result = evolution.evolve(cfg, progress=tick)
    # Where files went: on stdout, or on stderr when stdout is the JSON answer.
    told = sys.stderr if as_json else sys.stdout
    if plot:
        from auctionhouse.sim.experiment import plot_history

        plot_history(
            {f"{cfg.method}-{cfg.values}": result.history}, plot, f"{cfg.scenario} fitness"
        )
        print(f"wrote the fitness plot to {Path(plot).resolve()}", file=told)
    if save:
        from auctionhouse.sim.strategy_file import save_strategy

        save_strategy(result.strategy(), save, fitness=result.best.fitness, seed=cfg.seed)
        print(f"saved the fittest strategy to {Path(save).resolve()}", file=told)
    if as_json:
        print(json.dumps(result.to_dict(with_members=members)))
        return
    last = result.history[-1]
    rows = [(f"chromosome {k}", v) for k, v in result.best.chromosomes.items()]
    rows += [
        ("best fitness", _fmt(result.best.fitness)),
        ("win rate" if cfg.scenario == "bidder" else "sold rate", _fmt(result.best.win_rate)),
        ("mean payoff", _fmt(result.best.mean_payoff)),
        (
            "last generation best/mean/worst",
            f"{last['best']:.0f} / {last['mean']:.0f} / {last['worst']:.0f}",
        ),
        ("seconds", f"{result.seconds:.3f}"),
    ]
    _print_table(f"evolved {cfg.scenario}, {cfg.method.upper()}-{cfg.values.upper()}", rows)


def experiment_thesis(
    out: str = typer.Option("thesis-report", help="Directory for report.md and the PNG plots."),
    seed: int = typer.Option(1, help="Base random seed (cell seeds: seed + 1000*i)."),
    repeats: int = typer.Option(5, help="Seeded evolutions per cell (at least 5 for a spread)."),
    rules: str = typer.Option("text,code", help="Decision rules to run: text, code or both."),
    jobs: int = typer.Option(2, help="Worker processes for the evolutions."),
    quick: bool = typer.Option(
        False, "--quick", help="Population 10, 5 generations: a smoke test, not comparable."
    ),
) -> None:
    """Rerun every chapter 8 simulator result of the thesis under both decision rules and write a
    Markdown report (beside the thesis' figures, with line numbers) and PNG plots."""
    if repeats < 1:
        raise InvalidRequest("--repeats must be at least 1")
    if jobs < 1:
        raise InvalidRequest("--jobs must be at least 1")
    chosen = tuple(r.strip().lower() for r in rules.split(",") if r.strip())
    if not chosen or any(r not in ("text", "code") for r in chosen):
        raise InvalidRequest(f"--rules must be text, code or text,code, not {rules!r}")
    from auctionhouse.sim.experiment import run_thesis_experiment

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    path = run_thesis_experiment(
        out, seed=seed, repeats=repeats, rules=chosen, quick=quick, jobs=jobs, progress=progress
    )
    print(f"wrote {path}")


def experiment_markets(
    out: str = typer.Option("markets-report", help="Directory for report.md and the PNG plots."),
    seed: int = typer.Option(1, help="Base random seed (run seeds: seed + 1000*i)."),
    seeds: int = typer.Option(5, help="Seeded runs per cell (the spread is across them)."),
    markets: int = typer.Option(100, help="Markets per run."),
    days: int = typer.Option(10, help="Trading days per market."),
    steps: int = typer.Option(0, help="Turns per trading day (0: 25 per unit)."),
) -> None:
    """Rerun Gode and Sunder (1993) and Cliff (1997) with the market model and write a Markdown
    report (beside the published figures) and PNG plots."""
    if min(seeds, markets, days) < 1 or steps < 0:
        raise InvalidRequest("--seeds, --markets and --days must be at least 1, --steps 0 or more")
    from auctionhouse.sim.market_report import run_market_experiment

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    path = run_market_experiment(
        out, seed=seed, seeds=seeds, markets=markets, days=days, steps=steps, progress=progress
    )
    print(f"wrote {path}")
