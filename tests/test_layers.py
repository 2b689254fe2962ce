"""The one-way layers of DESIGN.md section 1 hold (import-linter contracts in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    proc = subprocess.run(
        [lint, "--config", str(ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Contracts: 2 kept, 0 broken." in proc.stdout


def test_the_rules_core_imports_nothing_of_the_project_but_errors() -> None:
    core = ROOT / "src" / "auctionhouse" / "auction"
    for path in core.glob("*.py"):
        for line in path.read_text().splitlines():
            if line.startswith(("import auctionhouse", "from auctionhouse")):
                module = line.split()[1]
                assert module.startswith(("auctionhouse.auction", "auctionhouse.errors")), (
                    f"{path.name}: {line}"
                )


IMPURE = {"sqlite3", "asyncio", "socket", "threading", "time", "random", "os", "subprocess"}


def test_the_rules_core_does_no_io_and_reads_no_clock() -> None:
    core = ROOT / "src" / "auctionhouse" / "auction"
    for path in core.glob("*.py"):
        for line in path.read_text().splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] in ("import", "from"):
                assert words[1].split(".")[0] not in IMPURE, f"{path.name}: {line}"
