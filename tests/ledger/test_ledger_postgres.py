"""The PostgreSQL ledger beyond the store contract: durability settings, the writer lock,
``audit --db postgresql://...`` and ``auctionhouse migrate`` (SQLite -> PostgreSQL).

A real PostgreSQL 15 server, started by the tests (tests/pg_cluster.py)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import psycopg
import pytest
from ledger_helpers import T0, bid, english

import pg_cluster
from auctionhouse.cli import main
from auctionhouse.errors import SequenceConflict
from auctionhouse.house import AuctionHouse, HouseConfig
from auctionhouse.house.clock import FakeClock
from auctionhouse.house.shared import SharedAuctionHouse
from auctionhouse.ledger import HouseKey, Ledger, audit_store
from auctionhouse.ledger.postgres import PostgresStore


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
        raise SystemExit(0)
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 0), out, err


def test_appends_commit_with_fsync_and_synchronous_commit_on() -> None:
    store = PostgresStore(pg_cluster.new_database())
    assert store.durability() == {"synchronous_commit": "on", "fsync": "on"}
    store.close()


def test_a_second_writer_gives_a_conflict_then_the_ledger_catches_up() -> None:
    url = pg_cluster.new_database()
    key = HouseKey.generate()
    first, second = Ledger(PostgresStore(url), key), Ledger(PostgresStore(url), key)
    first.append([bid("a", 1, 10)])
    with pytest.raises(SequenceConflict):
        second.append([bid("a", 1, 11)])
    second.append([bid("a", 2, 12)])
    assert audit_store(second.store, key.public_hex).ok
    first.close()
    second.close()


def test_the_writer_lock_makes_other_writers_wait_until_commit() -> None:
    url = pg_cluster.new_database()
    one, two = PostgresStore(url), PostgresStore(url)
    inside = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def holder() -> None:
        with one.locked():
            one.append([("a", 1, b"x", b"h" * 32)])
            inside.set()
            release.wait(10)
            order.append("first commits")

    thread = threading.Thread(target=holder)
    thread.start()
    assert inside.wait(10)
    waiter = threading.Thread(target=lambda: (two.locked().__enter__(), order.append("second")))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and order == []  # it waits for the lock, not for a timeout
    release.set()
    thread.join(10)
    waiter.join(10)
    assert order == ["first commits", "second"]
    one.close()
    two.close()


@pytest.fixture
def sqlite_house(tmp_path: Path) -> Path:
    """An embedded house with accounts, a closed and an open auction, on its SQLite file."""
    db = tmp_path / "house.db"
    clock = FakeClock(T0)
    house = AuctionHouse.open(db, config=HouseConfig.for_tests(), clock=clock)
    for name in ("seller", "ann", "bob"):
        house.create_account(name, "password123")
    house.login("ann", "password123")
    sold = house.create_auction("seller", "lamp", "english", {"duration": 60})["id"]
    house.create_auction("seller", "vase", "english", {"duration": 600})
    for i, who in enumerate(["ann", "bob", "ann"]):
        house.place_bid(who, sold, 10 + 5 * i)
    clock.advance(120)
    house.tick()
    house.close()
    return db


def test_migrate_copies_ledger_and_accounts_and_both_audits_pass(
    sqlite_house: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = pg_cluster.new_database()
    code, out, err = run(["migrate", str(sqlite_house), url], capsys)
    assert code == 0, err
    assert "3 accounts and 1 sessions" in out
    assert out.count("intact") == 2
    key = f"{sqlite_house}.key"
    code, out, _ = run(["audit", "--db", url, "--key", key, "--json"], capsys)
    assert code == 0 and json.loads(out)["events"] == 6
    shared = SharedAuctionHouse.open_shared(url, key_path=key, config=HouseConfig.for_tests())
    try:
        assert shared.view("1")["result"]["winner"] == "ann"
        assert shared.state("2").outcome is None
        assert shared.login("bob", "password123")  # the accounts came along
    finally:
        shared.close()
    # tampering in PostgreSQL is named like tampering in a file
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM ledger_events WHERE auction_id = '1' AND seq = 3")
    code, out, _ = run(["audit", "--db", url, "--key", key], capsys)
    assert code == 1 and "TAMPERED 1: seq 3" in out


def test_migrate_refuses_a_database_that_is_not_empty(
    sqlite_house: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = pg_cluster.new_database()
    assert run(["migrate", str(sqlite_house), url], capsys)[0] == 0
    code, _, err = run(["migrate", str(sqlite_house), url], capsys)
    assert code == 2 and "not empty" in err


def test_bad_urls_and_databases_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = pg_cluster.new_database()
    code, _, err = run(["audit", "--db", empty], capsys)
    assert code == 2 and "not an auctionhouse ledger" in err
    port = pg_cluster.free_port()
    nowhere = f"postgresql://postgres:secret@127.0.0.1:{port}/x"
    code, _, err = run(["audit", "--db", nowhere], capsys)
    assert code == 2 and "cannot connect" in err and "secret" not in err
    assert err.count("\n") == 1
    code, _, err = run(["serve", "--db", nowhere, "--port", "0"], capsys)
    assert code == 2 and "cannot connect to PostgreSQL" in err and err.count("\n") == 1
    code, _, err = run(["migrate", str(tmp_path / "missing.db"), empty], capsys)
    assert code == 2 and "no such database file" in err
    code, _, err = run(["migrate", str(tmp_path / "missing.db"), str(tmp_path / "x.db")], capsys)
    assert code == 2 and "postgresql://" in err


def test_an_english_auction_written_through_postgres_audits_clean() -> None:
    url = pg_cluster.new_database()
    key = HouseKey.generate()
    with Ledger(PostgresStore(url), key) as ledger:
        ledger.append(english("lamp", 40, close=True))
        ledger.checkpoint(T0 + 5_000)
        report = audit_store(ledger.store, key.public_hex)
    assert report.ok and report.events == 42 and report.seals == 1


def test_admin_create_writes_the_admin_into_the_shared_house(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from auctionhouse.house.shared import SharedAccountStore

    url = pg_cluster.new_database()
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    monkeypatch.setenv("AUCTIONHOUSE_HOUSE_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("AUCTIONHOUSE_HOUSE_ARGON2_MEMORY_KIB", "1024")
    code, out, err = run(["admin", "create", "root", "--db", url, "--password-stdin"], capsys)
    assert code == 0, err
    assert "admin root created in postgresql://" in out
    accounts = SharedAccountStore(url)
    try:
        assert accounts.get("root").is_admin
    finally:
        accounts.close()
