"""``auctionhouse simulate --model market`` and ``auctionhouse experiment markets``, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from auctionhouse.commands import sim as sim_commands

runner = CliRunner()


def app() -> typer.Typer:
    application = typer.Typer()
    sim_commands.register(application)
    return application


def test_market_json_and_plot(tmp_path: Path) -> None:
    png = tmp_path / "market.png"
    args = ["simulate", "--model", "market", "--traders", "zip,zic", "--markets", "10"]
    args += ["--days", "3", "--steps", "200", "--seed", "3", "--plot", str(png), "--json"]
    result = runner.invoke(app(), args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["model"] == "market" and doc["traders"] == "zip,zic" and doc["seed"] == 3
    assert len(doc["alpha_by_day"]) == 3 and doc["equilibrium_price"] == 200
    assert set(doc["profit_per_trader_day"]) == {"zip", "zic"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_market_table_and_a_schedule_file(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"demand": [[150], [120]], "supply": [[80], [130]]}))
    args = ["simulate", "--model", "market", "--schedule", str(path), "--markets", "5"]
    result = runner.invoke(app(), [*args, "--days", "2", "--traders", "gvwy"])
    assert result.exit_code == 0, result.output
    assert "market: gvwy on custom" in result.output
    assert "alpha_by_day" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--traders", "zic,robot"], "traders must be a comma list"),
        (["--rule", "nyse"], "--rule must be one of lob, gs"),
        (["--markets", "0"], "markets must be at least 1"),
        (["--schedule", "sideways"], "--schedule must be one of"),
        (["--schedule", "/nonexistent/s.json"], "schedule file"),
        (["--model", "stocks"], "--model must be one of textbook, market"),
    ],
)
def test_bad_market_options_are_one_error_line(args: list[str], message: str) -> None:
    result = runner.invoke(app(), ["simulate", "--model", "market", *args])
    assert result.exit_code != 0
    assert message in str(result.exception) or message in result.output


def test_experiment_markets_writes_a_report(tmp_path: Path) -> None:
    args = ["experiment", "markets", "--out", str(tmp_path), "--seeds", "2"]
    result = runner.invoke(app(), [*args, "--markets", "4", "--days", "2", "--steps", "60"])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "report.md").read_text()
    assert "Gode and Sunder (1993)" in report and "Cliff (1997)" in report
    assert "| gs-style | gs |" in report
    assert (tmp_path / "cliff-symmetric-alpha.png").exists()
