"""Start-up verification of the shared house (decision 0010 on PostgreSQL): an instance never
joins a house whose ledger or account rows were changed behind its back.

The house of tests/house/test_house_startup_checks.py (closed, open, sealed and periodic
records) is built once on SQLite and copied into a fresh PostgreSQL database per test with
``migrate_house``; the test changes a row with SQL, as an attacker with database access would,
and a new instance (in process, or a real ``serve``) must refuse to start with
``tamper_detected`` naming the auction and seq, or the account."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

import pg_cluster
from auctionhouse.errors import HouseKeyMissing, LedgerError, TamperDetected
from auctionhouse.house import FakeClock
from auctionhouse.house.shared import SharedAuctionHouse, migrate_house
from auctionhouse.ledger import audit_database
from serve_process import clean_env

from .test_house_startup_checks import AUDIT_ONLY, CFG, COLUMN_TAMPERING, build


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pristine") / "house.db"
    build(path)
    return path


@pytest.fixture
def house_db(pristine: Path, tmp_path: Path) -> tuple[str, Path]:
    """A PostgreSQL copy of the pristine house, and its key file."""
    url = pg_cluster.new_database()
    migrate_house(pristine, url)
    key = tmp_path / "house.key"
    shutil.copy(f"{pristine}.key", key)
    return url, key


def sql(url: str, statement: str, params: tuple[object, ...] = ()) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement, params)


def open_house(url: str, key: Path) -> SharedAuctionHouse:
    return SharedAuctionHouse.open_shared(
        url, key_path=key, config=CFG, clock=FakeClock(1_000_200.0)
    )


def refused(url: str, key: Path) -> str:
    with pytest.raises(TamperDetected) as caught:
        open_house(url, key)
    assert caught.value.code == "tamper_detected"
    assert "\n" not in caught.value.message
    return caught.value.message


def test_an_intact_copy_opens_and_keeps_writing(house_db: tuple[str, Path]) -> None:
    house = open_house(*house_db)
    try:
        assert house.problems == []
        assert house.state("4").seq == 81
    finally:
        house.ledger.close()
        house.accounts.close()


def test_an_edited_bid_amount_is_refused_naming_auction_and_seq(
    house_db: tuple[str, Path],
) -> None:
    url, key = house_db
    sql(
        url,
        "UPDATE ledger_events SET body = convert_to(replace(convert_from(body, 'UTF8'),"
        " '\"amount\":15', '\"amount\":999'), 'UTF8') WHERE auction_id = '2' AND seq = 4",
    )
    message = refused(url, key)
    assert "auction 2 seq 4" in message


def test_a_deleted_event_is_refused(house_db: tuple[str, Path]) -> None:
    url, key = house_db
    sql(url, "DELETE FROM ledger_events WHERE auction_id = '4' AND seq = 40")
    assert "auction 4" in refused(url, key)


def test_a_deleted_close_seal_is_refused(house_db: tuple[str, Path]) -> None:
    url, key = house_db
    sql(url, "DELETE FROM ledger_seals WHERE auction_id = '1'")
    message = refused(url, key)
    assert "auction 1 seq 8" in message
    assert "seal" in message


def test_a_bad_signature_on_the_newest_signed_record_is_refused(
    house_db: tuple[str, Path],
) -> None:
    url, key = house_db
    sql(
        url,
        "UPDATE ledger_checkpoints SET signature = %s"
        " WHERE number = (SELECT MAX(number) FROM ledger_checkpoints)",
        ("00" * 64,),
    )
    assert "signature" in refused(url, key)


def test_an_account_raised_to_admin_by_sql_is_refused(house_db: tuple[str, Path]) -> None:
    url, key = house_db
    sql(url, "UPDATE accounts SET role = 'admin' WHERE id = 'ann'")
    assert "account 'ann'" in refused(url, key)


def test_an_account_inserted_by_sql_is_refused(house_db: tuple[str, Path]) -> None:
    url, key = house_db
    sql(
        url,
        "INSERT INTO accounts (id, password_hash, role, public_key, created_at)"
        " SELECT 'mallory', password_hash, 'admin', NULL, created_at FROM accounts"
        " WHERE id = 'ann'",
    )
    assert "account 'mallory'" in refused(url, key)


def test_account_changes_made_by_instances_stay_sealed(house_db: tuple[str, Path]) -> None:
    """A strike, a new key, a password change and a new account, made by a running instance
    (each a row and its seal in one transaction), pass the next instance's start-up."""
    url, key = house_db
    house = open_house(url, key)
    try:
        house.accounts.add_strike("ann")
        house.register_key("bob", "ab" * 32)
        house.change_password("cat", "correct horse", "new horse battery")
        house.create_account("dora", "correct horse")
    finally:
        house.ledger.close()
        house.accounts.close()
    again = open_house(url, key)
    try:
        assert again.accounts.get("ann").strikes == 1
        assert again.accounts.get("bob").public_key == "ab" * 32
    finally:
        again.ledger.close()
        again.accounts.close()


def test_a_missing_key_is_never_replaced(house_db: tuple[str, Path]) -> None:
    url, key = house_db
    key.unlink()
    with pytest.raises(HouseKeyMissing):
        open_house(url, key)
    assert not key.exists()


def test_serve_refuses_a_tampered_database_in_one_line(house_db: tuple[str, Path]) -> None:
    """The CLI: a real ``serve`` exits 2 before binding, one ``error: tamper_detected`` line."""
    url, key = house_db
    sql(url, "UPDATE accounts SET role = 'admin' WHERE id = 'bob'")
    done = subprocess.run(
        [sys.executable, "-m", "auctionhouse", "serve", "--db", url, "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env({"AUCTIONHOUSE_KEY_FILE": str(key)}),
        check=False,
    )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert lines[0].startswith("error: tamper_detected:")
    assert "account 'bob'" in lines[0]
    assert "listening on" not in done.stdout


@pytest.mark.parametrize("case", sorted(COLUMN_TAMPERING))
def test_every_stored_column_of_the_ledger_is_covered(
    house_db: tuple[str, Path], case: str
) -> None:
    url, key = house_db
    for statement in COLUMN_TAMPERING[case]:
        sql(url, statement)
    with pytest.raises(LedgerError) as caught:  # tamper_detected, or a key or format refused
        open_house(url, key)
    assert "\n" not in caught.value.message
    assert not audit_database(url).ok


@pytest.mark.parametrize("case", sorted(AUDIT_ONLY))
def test_a_column_the_start_may_pass_is_named_by_the_audit(
    house_db: tuple[str, Path], case: str
) -> None:
    url, key = house_db
    for statement in AUDIT_ONLY[case]:
        sql(url, statement)
    house = open_house(url, key)
    house.ledger.close()
    house.accounts.close()
    assert not audit_database(url).ok
