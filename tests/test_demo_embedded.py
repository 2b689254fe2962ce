"""`auctionhouse demo` runs one auction of each method on a real SQLite file and audits it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from auctionhouse.ledger import audit_database


@pytest.mark.e2e
def test_demo_runs_every_method_and_verifies_its_ledger(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    proc = subprocess.run(
        [sys.executable, "-m", "auctionhouse", "demo", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for method in ("english", "dutch", "fpsb", "vickrey"):
        assert method in out
    assert "reserve not met" in out and "ledger verified" in out
    # charlie (value 200.00) wins the English auction at alice's 150.00 + the 5.00 increment
    assert "155.00" in out
    report = audit_database(db)
    assert report.ok and report.auctions == 5


def test_cli_errors_are_one_line_with_a_code(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "plain-file"
    not_a_dir.write_text("x")
    proc = subprocess.run(
        [sys.executable, "-m", "auctionhouse", "demo", "--db", str(not_a_dir / "demo.db")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr
    assert list(not_a_dir.parent.iterdir()) == [not_a_dir]  # nothing left behind
