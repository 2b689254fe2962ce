"""``auctionhouse audit``: exit 0 intact, 1 tampered (naming auction and seq), 2 bad input."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from ledger_helpers import T0, english

from auctionhouse.cli import main
from auctionhouse.ledger import HouseKey, Ledger, SQLiteStore


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "house.db"
    with Ledger(SQLiteStore(path), HouseKey.load_or_create(f"{path}.key")) as ledger:
        ledger.append(english("lamp", 4, close=True) + english("vase", 3))
        ledger.checkpoint(T0 + 50)
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
        raise SystemExit(0)
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 0), out, err


def test_an_intact_ledger_exits_0(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["audit", "--db", str(db)], capsys)
    assert code == 0
    assert "intact" in out and "2 auctions" in out


def test_tampering_exits_1_and_names_auction_and_seq(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM ledger_events WHERE auction_id = 'vase' AND seq IN (2, 3)")
    conn.commit()
    conn.close()
    code, out, _ = run(["audit", "--db", str(db)], capsys)
    assert code == 1
    assert "TAMPERED vase: seq 2-3" in out and "lamp" not in out
    code, out, _ = run(["audit", "--db", str(db), "vase", "--json"], capsys)
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    assert {(f["auction_id"], f["seq"], f["kind"]) for f in report["findings"]} == {
        ("vase", 2, "deleted"),
        ("vase", 3, "deleted"),
    }
    code, out, _ = run(["audit", "--db", str(db), "lamp"], capsys)
    assert code == 0


@pytest.mark.parametrize(
    ("args", "code_word"),
    [
        (["--db", "{tmp}/missing.db"], "not_found"),
        (["--db", "{tmp}/house.db.key"], "invalid_request"),
        (["--db", "{tmp}/house.db", "no-such-auction"], "not_found"),
        (["--db", "{tmp}/house.db", "--key", "{tmp}/house.db"], "invalid_request"),
        (["--db", "{tmp}/house.db", "--key", "{tmp}/nokey"], "not_found"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    db: Path, capsys: pytest.CaptureFixture[str], args: list[str], code_word: str
) -> None:
    argv = ["audit", *(a.format(tmp=db.parent) for a in args)]
    code, out, err = run(argv, capsys)
    assert code == 2
    assert err.startswith(f"error: {code_word}: ") and err.count("\n") == 1
    assert "Traceback" not in out + err
