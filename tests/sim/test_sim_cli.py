"""The simulate / evolve / experiment verbs, driven in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from auctionhouse import cli
from auctionhouse.commands import sim as sim_commands
from auctionhouse.sim.fuzzy import decide
from auctionhouse.sim.strategy_file import load_strategy

runner = CliRunner()


def app() -> typer.Typer:
    application = typer.Typer()
    sim_commands.register(application)
    return application


def run_json(*args: str) -> dict[str, object]:
    result = runner.invoke(app(), [*args, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert isinstance(doc, dict)
    return doc


def test_simulate_json_has_the_documented_keys() -> None:
    doc = run_json("simulate", "--method", "fpsb", "--bidders", "5", "--auctions", "50000")
    for key in [
        "model",
        "method",
        "values",
        "bidders",
        "auctions",
        "strategy",
        "mean_revenue",
        "theory_revenue",
        "efficiency",
        "mean_winner_payoff",
        "sold_fraction",
        "auctions_per_second",
    ]:
        assert key in doc
    assert doc["theory_revenue"] == pytest.approx(4 / 6)
    assert doc["mean_revenue"] == pytest.approx(4 / 6, rel=0.02)


def test_simulate_cv_naive_has_null_theory() -> None:
    doc = run_json("simulate", "--values", "cv", "--strategy", "naive", "--auctions", "1000")
    assert doc["theory_revenue"] is None


def test_simulate_prints_a_table_by_default() -> None:
    result = runner.invoke(app(), ["simulate", "--auctions", "1000", "--bidders", "4"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    # the settings first, then the results, apart, with numbers people read
    settings, results = (
        lines.index(next(x for x in lines if "setting" in x)),
        lines.index(next(x for x in lines if "│ result" in x)),
    )
    assert settings < results
    assert any("auctions" in x and "1,000" in x for x in lines[settings:results])
    after = "\n".join(lines[results:])
    assert "mean revenue" in after and "revenue in theory" in after and "0.6000" in after
    assert "100.00%" in after and "auctions/s" in after
    assert "mean_revenue" not in result.stdout and "e+06" not in result.stdout


def test_long_runs_print_progress_lines_when_not_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sim_commands, "PROGRESS_MIN_AUCTIONS", 10_000)
    result = runner.invoke(app(), ["simulate", "--auctions", "40000", "--json"])
    assert result.exit_code == 0
    json.loads(result.stdout)  # stdout stays the JSON answer
    progress = [x for x in result.stderr.splitlines() if "of 40,000 auctions" in x]
    assert progress and progress[-1].strip().startswith("100%")
    assert len(progress) <= sim_commands.PROGRESS_STEPS


def test_evolve_says_where_it_wrote_its_files(tmp_path: Path) -> None:
    plot, saved = tmp_path / "fit.png", tmp_path / "best.json"
    args = ["evolve", "--generations", "3", "--population", "10", "--auctions", "10"]
    result = runner.invoke(app(), [*args, "--plot", str(plot), "--save", str(saved)])
    assert result.exit_code == 0
    assert f"wrote the fitness plot to {plot.resolve()}" in result.stdout
    assert f"saved the fittest strategy to {saved.resolve()}" in result.stdout
    quiet = runner.invoke(app(), [*args, "--plot", str(plot), "--json"])
    json.loads(quiet.stdout)
    assert f"wrote the fitness plot to {plot.resolve()}" in quiet.stderr


def test_plot_legends_name_every_line(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from auctionhouse.sim.experiment import plot_history

    history = [{"best": 3.0, "mean": 2.0, "worst": 1.0}, {"best": 4.0, "mean": 3.0, "worst": 1.0}]
    drawn = []
    real_savefig = plt.Figure.savefig

    def keep(fig: object, *a: object, **k: object) -> None:
        drawn.append(fig)
        real_savefig(fig, *a, **k)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plt.Figure, "savefig", keep)
        plot_history({"fpsb-pv": history, "dutch-pv": history}, tmp_path / "p.png", "t")
    [fig] = drawn
    [ax] = fig.axes  # type: ignore[attr-defined]
    lines = ax.get_lines()
    legend = {t.get_text() for t in ax.get_legend().get_texts()}
    assert len(lines) == 4 and legend == {
        f"{k} {w}" for k in ("fpsb-pv", "dutch-pv") for w in ("mean", "best")
    }


def test_evolve_json_and_saved_strategy(tmp_path: Path) -> None:
    saved = tmp_path / "bidder.json"
    plot = tmp_path / "fitness.png"
    doc = run_json(
        "evolve", "--method", "vickrey", "--values", "cv", "--generations", "10",
        "--seed", "3", "--save", str(saved), "--plot", str(plot),
    )  # fmt: skip
    best = doc["best"]
    assert isinstance(best, dict)
    assert set(best["chromosomes"]) == {"bid", "scale_down"}
    assert all(len(g) == 18 and g.isdigit() for g in best["chromosomes"].values())
    assert {"fitness", "win_rate", "mean_payoff"} <= set(best)
    history = doc["history"]
    assert isinstance(history, list) and len(history) == 10
    assert set(history[0]) == {"best", "mean", "worst"}
    assert isinstance(doc["seconds"], float)
    assert plot.stat().st_size > 1000
    strategy = load_strategy(saved)
    assert strategy.role == "bidder" and strategy.values == "cv"
    assert {k: "".join(map(str, v)) for k, v in strategy.chromosomes.items()} == best["chromosomes"]
    amounts = decide(strategy, v=150, r=40, s=15)
    assert 150 - 20 - 1.5 * 15 <= amounts["amount"] <= 150 + 20 - 0.5 * 15


def test_evolve_same_seed_same_output() -> None:
    args = ("evolve", "--scenario", "seller", "--method", "dutch", "--generations", "5")
    a, b = run_json(*args), run_json(*args)
    a.pop("seconds"), b.pop("seconds")
    assert a == b


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["simulate", "--method", "candle"], "--method"),
        (["simulate", "--bidders", "0"], "bidders"),
        (["simulate", "--reserve", "2"], "reserve"),
        (["evolve", "--population", "7"], "population"),
        (["evolve", "--sets", "3,x"], "--sets"),
        (["evolve", "--scenario", "auctioneer"], "--scenario"),
    ],
)
def test_bad_options_exit_2_with_one_error_line(
    argv: list[str],
    needle: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["auctionhouse.commands.sim"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: invalid_request:") and needle in err[0]


def test_load_strategy_rejects_bad_files(tmp_path: Path) -> None:
    from auctionhouse.errors import InvalidRequest

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"kind": "fuzzy-genetic", "role": "bidder", "method": "fpsb"}))
    with pytest.raises(InvalidRequest, match="values"):
        load_strategy(bad)
    bad.write_text("{")
    with pytest.raises(InvalidRequest, match="not JSON"):
        load_strategy(bad)


def test_experiment_thesis_writes_report_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "report"
    args = ["experiment", "thesis", "--out", str(out), "--repeats", "2", "--quick", "--jobs", "1"]
    result = runner.invoke(app(), args)
    assert result.exit_code == 0, result.output
    text = (out / "report.md").read_text()
    for heading in (
        "Table 8.4",
        "Table 8.5",
        "Table 8.6",
        "Figure 8.5",
        "Figure 8.6",
        "Figure 8.7",
        "Figure 8.9",
        "Table 8.7",
        "Tables 8.1-8.2",
        "The thesis' own slips",
    ):
        assert heading in text
    assert "233-343-322" in text  # the thesis' FPSB-PV chromosome beside ours
    assert "L9195-9209" in text and "mobile-agent benchmark" in text
    assert "`text` rule" in text and "`code` rule" in text
    assert "Quick run" in text  # a smoke test says it is not comparable
    for png in ("fig8_5", "fig8_6", "fig8_7", "fig8_8", "fig8_9", "fig8_10"):
        assert (out / f"{png}.png").stat().st_size > 1000
    assert "[" in result.output and "cells" in result.output  # progress lines


def test_experiment_thesis_rejects_bad_options(tmp_path: Path) -> None:
    from auctionhouse.errors import InvalidRequest

    for bad in (["--rules", "java"], ["--repeats", "0"], ["--jobs", "0"]):
        result = runner.invoke(app(), ["experiment", "thesis", "--out", str(tmp_path), *bad])
        assert isinstance(result.exception, InvalidRequest)
    assert not (tmp_path / "report.md").exists()


def test_evolve_with_the_code_rule_saves_a_code_strategy(tmp_path: Path) -> None:
    path = tmp_path / "code.json"
    doc = run_json(
        "evolve", "--decision", "code", "--generations", "3", "--seed", "2", "--save", str(path)
    )
    assert doc["decision"] == "code"
    strategy = load_strategy(path)
    assert strategy.decision == "code"
    assert decide(strategy, 150, 40)["amount"] <= 191  # the v=150, r=40 cell's top (hand: 191)
    result = runner.invoke(app(), ["evolve", "--decision", "java"])
    assert result.exception is not None and "decision" in str(result.exception)
