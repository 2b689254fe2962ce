"""A real ``auctionhouse serve`` refuses a tampered or broken ledger in one line (issue 10,
fault 8), and ``serve --read-only`` serves it for inspection, refusing writes with a code."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import http_helpers
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig
from serve_process import ServeProcess, clean_env, free_port

pytestmark = pytest.mark.e2e

CFG = HouseConfig.for_tests(account_rate=1e9, account_burst=1e9)
EXIT_DEADLINE = 60.0


def build(path: Path) -> None:
    house = AuctionHouse.open(path, config=CFG, clock=FakeClock(4_000_000_000.0))
    for name in ("seller", "ann", "bob"):
        house.create_account(name, "correct horse")
    house.create_auction("seller", "lamp", "english", {"duration": 10_000})
    for i in range(4):
        house.place_bid(("ann", "bob")[i % 2], "1", 10 * (i + 1))
    house.close()


def edit_amount(path: Path, seq: int, amount: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    (body,) = conn.execute(
        "SELECT body FROM ledger_events WHERE auction_id = '1' AND seq = ?", (seq,)
    ).fetchone()
    data = json.loads(body)
    data["amount"] = amount
    new = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    conn.execute("UPDATE ledger_events SET body = ? WHERE auction_id = '1' AND seq = ?", (new, seq))
    conn.close()


def serve_refused(db: Path) -> str:
    """Run ``serve`` on ``db``; it must exit non-zero on its own. Returns all it printed."""
    port = str(free_port())
    proc = subprocess.run(
        [sys.executable, "-m", "auctionhouse", "serve", "--db", str(db), "--port", port],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=EXIT_DEADLINE,
        check=False,
    )
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == ""
    return proc.stderr


def one_line(output: str) -> str:
    lines = output.splitlines()
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "house.db"
    build(path)
    return path


def test_serve_refuses_an_edited_bid_in_one_line(db: Path) -> None:
    edit_amount(db, 3, 999)
    line = one_line(serve_refused(db))
    assert line.startswith("error: tamper_detected: ")
    assert "auction 1 seq 3" in line
    assert "--read-only" in line


def test_serve_refuses_a_damaged_file_in_one_line(db: Path) -> None:
    data = bytearray(db.read_bytes())
    at = data.index(b'"item_name":"lamp"')
    page = at - at % 4096
    data[page : page + 4096] = bytes(4096)
    db.write_bytes(bytes(data))
    line = one_line(serve_refused(db))
    assert line.startswith("error: ")


def test_serve_never_replaces_a_missing_key(db: Path) -> None:
    key = Path(f"{db}.key")
    key.unlink()
    line = one_line(serve_refused(db))
    assert line.startswith("error: house_key_missing: ")
    assert "restore the key file" in line
    assert not key.exists()


def test_read_only_serves_a_tampered_ledger_and_refuses_bids(db: Path, tmp_path: Path) -> None:
    edit_amount(db, 3, 999)
    before = db.read_bytes()
    server = ServeProcess(db, tmp_path / "serve.log", env={"AUCTIONHOUSE_READ_ONLY": "1"})
    server.start()
    try:
        api = f"{server.url}/api/v1"
        view = http_helpers.get(f"{api}/auctions/1", timeout=10).json()
        assert view["id"] == "1"
        login = http_helpers.post(
            f"{api}/sessions", json={"name": "ann", "password": "correct horse"}, timeout=10
        )
        assert login.status_code == 201, login.text
        token = login.json()["token"]
        bid = http_helpers.post(
            f"{api}/auctions/1/bids",
            json={"amount": 1_000},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert bid.status_code == 503
        assert bid.json()["error"]["code"] == "read_only"
        made = http_helpers.post(
            f"{api}/accounts", json={"name": "dora", "password": "correct horse"}, timeout=10
        )
        assert made.json()["error"]["code"] == "read_only"
    finally:
        server.stop()
    assert server.proc is not None and server.proc.returncode == 0
    log = (tmp_path / "serve.log").read_text()
    assert "read-only: serving" in log
    assert "auction 1 seq 3" in log
    assert db.read_bytes() == before
