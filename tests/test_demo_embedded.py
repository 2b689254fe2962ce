"""`auctionhouse demo`: agents list and bid over the network on a house on an SQLite file;
the results table and the audit of the ledger are printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from auctionhouse.ledger import audit_database


@pytest.mark.e2e
def test_demo_runs_every_method_with_agents_and_verifies_its_ledger(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    proc = subprocess.run(
        [sys.executable, "-m", "auctionhouse", "demo", "--db", str(db), "--duration", "3"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for method in ("english", "dutch", "fpsb", "vickrey"):
        assert method in out
    for strategy in ("truthful", "equilibrium", "smart", "sarl", "fuzzy-genetic"):
        assert strategy in out
    assert "results" in out and "reserve not met" in out and "sold" in out
    assert "every bidder stayed within its budget" in out
    assert "ledger verified" in out
    report = audit_database(db)
    assert report.ok and report.auctions == 8


def test_cli_errors_are_one_line_with_a_code(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "plain-file"
    not_a_dir.write_text("x")
    for args in (["--db", str(not_a_dir / "demo.db")], ["--duration", "0"]):
        proc = subprocess.run(
            [sys.executable, "-m", "auctionhouse", "demo", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2
        assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1
        assert "Traceback" not in proc.stderr
