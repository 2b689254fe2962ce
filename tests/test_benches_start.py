"""Every bench starts as the README says (``python bench/NAME.py``), outside pytest: what it
imports is on its own path (bench_web.py once imported a test helper only pytest could find)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHES = sorted((ROOT / "bench").glob("bench_*.py"))


def test_every_bench_starts_outside_pytest(tmp_path: Path) -> None:
    assert len(BENCHES) >= 10
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    procs = {
        bench.name: subprocess.Popen(
            [sys.executable, str(bench), "--help"],
            cwd=tmp_path,  # not the repository: nothing of tests/ is on the path by accident
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for bench in BENCHES
    }
    failed = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        if proc.returncode != 0 or "usage" not in out.lower():
            failed[name] = err[-600:] or out[-600:]
    assert not failed, failed


def test_no_bench_picks_its_port_by_binding_port_0() -> None:
    """A port picked with bind(0) and closed comes from the ephemeral range and may be taken by
    any socket before the server binds it: benches take tests/free_ports.py's reserved ports."""
    racy = [
        bench.name
        for bench in BENCHES
        if '.bind(("127.0.0.1", 0))' in bench.read_text() or "def free_port" in bench.read_text()
    ]
    assert not racy, racy
