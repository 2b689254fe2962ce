"""Durability: a writer killed with SIGKILL loses no acknowledged batch and leaves no half batch."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from auctionhouse.ledger import HouseKey, Ledger, SQLiteStore, audit_database

WORKER = Path(__file__).with_name("ledger_crash_worker.py")
BATCH = 3000
KILLS = 6


def run_until_killed(db: Path, acks_wanted: int, inside: bool) -> list[int]:
    """Start the worker, read ``acks_wanted`` acks, then SIGKILL it: at once (it is preparing
    the next batch), or with ``inside`` when it next reports an open transaction."""
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(db), str(BATCH)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    acked = []
    for line in proc.stdout:
        if line.startswith("mid"):
            if inside and len(acked) >= acks_wanted:
                break
            continue
        acked.append(int(line))
        if not inside and len(acked) >= acks_wanted:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    return acked


def test_sigkill_mid_append_loses_nothing_acknowledged_and_leaves_no_partial_batch(
    tmp_path: Path,
) -> None:
    db = tmp_path / "crash.db"
    rng = random.Random(20261121)
    acked: list[int] = []
    for kill in range(KILLS):
        acked += run_until_killed(db, rng.randint(1, 4), inside=kill % 2 == 1)
        report = audit_database(db)  # read-only, straight after the kill (WAL not checkpointed)
        assert report.ok, report.findings[:5]
        with Ledger(SQLiteStore(db), HouseKey.load(f"{db}.key")) as ledger:
            sizes = Counter(int(e.at) for e in ledger.events())
        assert set(acked) <= set(sizes), "an acknowledged batch was lost"
        assert set(sizes.values()) == {BATCH}, "a batch is only partly there"
        assert sorted(sizes) == list(range(len(sizes))), "batches are missing in between"
    assert len(acked) >= KILLS
