"""Start-up verification: a house never serves a tampered or broken ledger (issue 10, fault 8).

Each test builds a real house file, changes it the way an attacker or a failing disk would (SQL
on the SQLite file, raw byte edits of its pages), and opens the house again: it must refuse with
one ``TamperDetected`` line naming the auction and seq (or the account, or the signed record),
while ``read_only=True`` serves the same file for inspection and writes nothing.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from hashlib import sha256
from pathlib import Path

import pytest

from auctionhouse.errors import (
    AuctionhouseError,
    HouseKeyMissing,
    ReadOnly,
    TamperDetected,
)
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig
from auctionhouse.ledger import audit_database

CFG = HouseConfig.for_tests(account_rate=1e9, account_burst=1e9)
BIDDERS = ("ann", "bob", "cat")


def build(path: Path) -> None:
    """Auction 1: english, 6 bids, closed and sealed. Auction 2: english, 4 bids, open.
    Auction 3: vickrey, 2 sealed bids, open. Auction 4: english, 80 bids, open (the events
    then fill several SQLite pages). Several batches and a checkpoint."""
    clock = FakeClock(1_000_000.0)
    house = AuctionHouse.open(path, config=CFG, clock=clock)
    house.create_account("seller", "correct horse")
    for name in BIDDERS:
        house.create_account(name, "correct horse")
    house.create_auction("seller", "lamp", "english", {"duration": 100})
    house.create_auction("seller", "vase", "english", {"duration": 10_000})
    house.create_auction("seller", "coin", "vickrey", {"duration": 10_000})
    for i in range(6):
        house.place_bid(BIDDERS[i % 3], "1", 10 * (i + 1))
    house.ledger.checkpoint(clock.now())  # a periodic checkpoint in the middle of the chain
    for i in range(4):
        house.place_bid(BIDDERS[i % 2], "2", 5 * (i + 1))
    house.place_bid("ann", "3", 40)
    house.place_bid("bob", "3", 45)
    house.create_auction("seller", "rug", "english", {"duration": 10_000})
    with house.batch():
        for i in range(80):
            house.place_bid(BIDDERS[i % 2], "4", i + 1)
    clock.advance(101)
    house.tick()
    house.close()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pristine") / "house.db"
    build(path)
    assert audit_database(path).ok
    return path


@pytest.fixture
def db(pristine: Path, tmp_path: Path) -> Path:
    path = tmp_path / "house.db"
    shutil.copy(pristine, path)
    shutil.copy(f"{pristine}.key", f"{path}.key")
    return path


def sql(path: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for statement, params in statements:
            conn.execute(statement, params)
    finally:
        conn.close()


def row(path: Path, auction: str, seq: int) -> tuple[bytes, bytes]:
    conn = sqlite3.connect(path)
    try:
        body, digest = conn.execute(
            "SELECT body, hash FROM ledger_events WHERE auction_id = ? AND seq = ?",
            (auction, seq),
        ).fetchone()
    finally:
        conn.close()
    return bytes(body), bytes(digest)


def open_house(path: Path, *, read_only: bool = False) -> AuctionHouse:
    """The house at a time before auctions 2 and 3 close."""
    return AuctionHouse.open(path, config=CFG, clock=FakeClock(1_000_200.0), read_only=read_only)


def refused(path: Path) -> str:
    with pytest.raises(TamperDetected) as caught:
        open_house(path)
    message = caught.value.message
    assert "\n" not in message
    return message


def rechain(path: Path, auction: str) -> None:
    """What a tamperer who knows the algorithm does: recompute every hash of the chain."""
    conn = sqlite3.connect(path, isolation_level=None)
    prev = bytes(32)
    rows = conn.execute(
        "SELECT pos, body FROM ledger_events WHERE auction_id = ? ORDER BY seq", (auction,)
    ).fetchall()
    for pos, body in rows:
        prev = sha256(prev + bytes(body)).digest()
        conn.execute("UPDATE ledger_events SET hash = ? WHERE pos = ?", (prev, pos))
    conn.close()


def edit_amount(path: Path, auction: str, seq: int, amount: int) -> None:
    body, _ = row(path, auction, seq)
    data = json.loads(body)
    data["amount"] = amount
    new = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    sql(
        path,
        (
            "UPDATE ledger_events SET body = ? WHERE auction_id = ? AND seq = ?",
            (new, auction, seq),
        ),
    )


def test_an_intact_ledger_opens_and_keeps_writing(db: Path) -> None:
    house = open_house(db)
    assert house.problems == []
    house.place_bid("bob", "2", 100)
    house.close()
    assert audit_database(db).ok


def test_an_edited_bid_amount_is_refused_naming_auction_and_seq(db: Path) -> None:
    edit_amount(db, "2", 3, 999)
    message = refused(db)
    assert "auction 2 seq 3" in message
    assert "edited" in message


def test_an_edited_amount_with_the_chain_recomputed_is_refused(db: Path) -> None:
    edit_amount(db, "2", 3, 999)
    rechain(db, "2")
    message = refused(db)
    assert "auction 2" in message


def _delete_middle(p: Path) -> None:
    sql(p, ("DELETE FROM ledger_events WHERE auction_id = '2' AND seq = 3", ()))


def _delete_last(p: Path) -> None:
    sql(p, ("DELETE FROM ledger_events WHERE auction_id = '2' AND seq = 5", ()))


def _swap(p: Path) -> None:
    (b2, _h2), (b3, _h3) = row(p, "2", 2), row(p, "2", 3)
    sql(
        p,
        ("UPDATE ledger_events SET body = ? WHERE auction_id = '2' AND seq = 2", (b3,)),
        ("UPDATE ledger_events SET body = ? WHERE auction_id = '2' AND seq = 3", (b2,)),
    )


def _append_forged(p: Path) -> None:
    body, digest = row(p, "2", 5)
    data = json.loads(body)
    data.update(seq=6, amount=500, price=500)
    new = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    sql(
        p,
        (
            "INSERT INTO ledger_events (auction_id, seq, body, hash) VALUES ('2', 6, ?, ?)",
            (new, sha256(digest + new).digest()),
        ),
    )


def _bad_json(p: Path) -> None:
    sql(p, ("UPDATE ledger_events SET body = ? WHERE auction_id = '2' AND seq = 2", (b"{nope",)))


def _body_to_text(p: Path) -> None:
    sql(p, ("UPDATE ledger_events SET body = 'x' WHERE auction_id = '3' AND seq = 2", ()))


def _hash_column(p: Path) -> None:
    sql(p, ("UPDATE ledger_events SET hash = ? WHERE auction_id = '2' AND seq = 5", (b"0" * 32,)))


def _after_close(p: Path) -> None:
    body, digest = row(p, "1", 8)
    data = json.loads(body)
    data.update(seq=9)
    new = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    sql(
        p,
        (
            "INSERT INTO ledger_events (auction_id, seq, body, hash) VALUES ('1', 9, ?, ?)",
            (new, sha256(digest + new).digest()),
        ),
    )


def _two_in_one(p: Path) -> None:
    """Two events in one row's body: joined into a page's array they still parse."""
    (b2, _h2), (b3, _h3) = row(p, "2", 2), row(p, "2", 3)
    sql(
        p,
        ("UPDATE ledger_events SET body = ? WHERE auction_id = '2' AND seq = 2", (b2 + b"," + b3,)),
    )


def _split_across_rows(p: Path) -> None:
    """A value cut across two rows, the second carrying one more element: a page's array has
    as many elements as rows, neither row is an event."""
    sql(
        p,
        ("UPDATE ledger_events SET body = ? WHERE auction_id = '2' AND seq = 2", (b'{"x":[1',)),
        (
            "UPDATE ledger_events SET body = ? WHERE auction_id = '2' AND seq = 3",
            (b'2]},{"x":3}',),
        ),
    )


EVENT_TAMPERING: dict[str, tuple[Callable[[Path], None], str]] = {
    "two events in one body": (_two_in_one, "auction 2 seq 2"),
    "a value split across two rows": (_split_across_rows, "auction 2 seq 2"),
    "deleted in the middle": (_delete_middle, "auction 2 seq 3"),
    "deleted at the end": (_delete_last, "auction 2 seq 5"),
    "reordered": (_swap, "auction 2 seq"),
    "inserted with a valid link": (_append_forged, "auction 2 seq 6"),
    "not JSON": (_bad_json, "auction 2 seq 2"),
    "a body that is not bytes": (_body_to_text, "auction 3 seq 2"),
    "a stored hash changed": (_hash_column, "auction 2 seq 5"),
    "an event after the close": (_after_close, "auction 1 seq 9"),
}


@pytest.mark.parametrize("case", sorted(EVENT_TAMPERING))
def test_every_kind_of_event_tampering_is_refused(db: Path, case: str) -> None:
    tamper, place = EVENT_TAMPERING[case]
    tamper(db)
    assert place in refused(db)


@pytest.fixture
def chain_worker_used(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The chain worker (ledger/chain_worker.py) on every ledger, however small; the list
    says, per start, whether its heads were taken (they are compared with the pass's)."""
    from auctionhouse.ledger import chain_worker, verify

    monkeypatch.setattr(chain_worker, "MIN_EVENTS", 0)
    taken: list[bool] = []
    result = verify._Chains.result

    def recorded(self: verify._Chains, rows: int) -> dict[str, bytes] | None:
        heads = result(self, rows)
        taken.append(heads is not None)
        return heads

    monkeypatch.setattr(verify._Chains, "result", recorded)
    return taken


def test_an_intact_ledger_opens_with_the_chain_worker(
    db: Path, chain_worker_used: list[bool]
) -> None:
    house = open_house(db)
    assert chain_worker_used == [True]
    assert house.problems == []
    house.place_bid("bob", "2", 100)
    house.close()
    assert audit_database(db).ok


@pytest.mark.parametrize("case", sorted(EVENT_TAMPERING))
def test_event_tampering_is_refused_alike_with_the_chain_worker(
    db: Path, case: str, chain_worker_used: list[bool]
) -> None:
    tamper, place = EVENT_TAMPERING[case]
    tamper(db)
    assert place in refused(db)


def test_an_edit_the_chain_worker_hashes_is_refused_naming_auction_and_seq(
    db: Path, chain_worker_used: list[bool]
) -> None:
    edit_amount(db, "4", 40, 7)  # a body that still decodes: only the chains can tell
    message = refused(db)
    assert "auction 4 seq 40" in message
    assert chain_worker_used == [True]  # its heads differ from the signed ones: named here


@pytest.fixture
def stream_cut(monkeypatch: pytest.MonkeyPatch, chain_worker_used: list[bool]) -> list[bool]:
    """The chain worker's stream of pages breaks after its first page of 16 (a worker that
    died): the pass reads the rest of the file itself and hashes every chain in its own
    process (the worker's heads are not taken)."""
    from auctionhouse.ledger import store, verify

    for module in (store, verify):
        monkeypatch.setattr(module, "PAGE", 16)
    next_frame = verify._Chains.next_frame

    def cut(self: verify._Chains) -> tuple[int, int, int, bytearray] | None:
        frame = next_frame(self)
        self.streaming = False
        return frame

    monkeypatch.setattr(verify._Chains, "next_frame", cut)
    return chain_worker_used


def test_a_broken_page_stream_still_replays_and_verifies(db: Path, stream_cut: list[bool]) -> None:
    house = open_house(db)
    assert stream_cut == [False]  # hashed here after all
    assert house.problems == []
    assert len(house.events("4")) == 81
    house.close()
    edit_amount(db, "4", 40, 7)
    assert "auction 4 seq 40" in refused(db)


def test_a_missing_signed_record_is_refused(db: Path) -> None:
    sql(db, ("DELETE FROM ledger_checkpoints WHERE number = 2", ()))
    assert "signed record" in refused(db)


def test_a_bad_signature_on_the_newest_signed_record_is_refused(db: Path) -> None:
    sql(
        db,
        (
            "UPDATE ledger_checkpoints SET signature = ?"
            " WHERE number = (SELECT MAX(number) FROM ledger_checkpoints)",
            ("00" * 64,),
        ),
    )
    assert "bad signature" in refused(db)


def test_a_bad_signature_on_a_periodic_checkpoint_is_refused(db: Path) -> None:
    sql(
        db,
        (
            "UPDATE ledger_checkpoints SET signature = ? WHERE number ="
            " (SELECT MIN(number) FROM ledger_checkpoints WHERE instr(payload, ?) > 0)",
            ("00" * 64, b'"kind":"checkpoint"'),
        ),
    )
    assert "bad signature" in refused(db)


def test_an_edited_old_signed_record_breaks_the_link_after_it(db: Path) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    (payload,) = conn.execute("SELECT payload FROM ledger_checkpoints WHERE number = 3").fetchone()
    data = json.loads(payload)
    data["at"] = data["at"] + 1
    new = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    conn.execute("UPDATE ledger_checkpoints SET payload = ? WHERE number = 3", (new,))
    conn.close()
    assert "signed record 4" in refused(db)


def test_only_a_damaged_old_batch_signature_starts_and_the_audit_names_it(db: Path) -> None:
    # Its payload is intact and chained to the verified newest record: nothing it says can be
    # false, so the house starts; the audit, which checks every signature, reports it.
    sql(db, ("UPDATE ledger_checkpoints SET signature = ? WHERE number = 3", ("00" * 64,)))
    open_house(db).close()
    kinds = {(f.seq, f.kind) for f in audit_database(db).findings}
    assert (3, "bad_checkpoint") in kinds


def test_a_bad_close_seal_is_refused(db: Path) -> None:
    sql(db, ("UPDATE ledger_seals SET signature = ? WHERE auction_id = '1'", ("ab" * 64,)))
    assert "auction 1 seq 8" in refused(db)


def test_a_deleted_close_seal_is_refused(db: Path) -> None:
    sql(db, ("DELETE FROM ledger_seals WHERE auction_id = '1'", ()))
    message = refused(db)
    assert "auction 1 seq 8" in message
    assert "seal" in message


def test_an_account_raised_to_admin_by_sql_is_refused_and_audited(db: Path) -> None:
    sql(db, ("UPDATE accounts SET role = 'admin' WHERE id = 'ann'", ()))
    assert "account 'ann'" in refused(db)
    report = audit_database(db)
    assert not report.ok
    assert [(f.kind, "'ann'" in f.message) for f in report.findings] == [("account", True)]


def test_a_swapped_password_hash_is_refused(db: Path) -> None:
    sql(
        db,
        (
            "UPDATE accounts SET password_hash ="
            " (SELECT password_hash FROM accounts WHERE id = 'bob') WHERE id = 'ann'",
            (),
        ),
    )
    assert "account 'ann'" in refused(db)


def test_an_account_inserted_by_sql_is_refused(db: Path) -> None:
    sql(
        db,
        (
            "INSERT INTO accounts (id, password_hash, role, public_key, created_at)"
            " SELECT 'mallory', password_hash, 'admin', NULL, 0 FROM accounts WHERE id = 'ann'",
            (),
        ),
    )
    assert "account 'mallory'" in refused(db)


def test_strikes_and_keys_changed_by_the_house_stay_sealed(db: Path) -> None:
    house = open_house(db)
    house.register_key("ann", "11" * 32)
    house.accounts.add_strike("bob")
    house.close()
    open_house(db).close()
    assert audit_database(db).ok


def _page_of(path: Path, needle: bytes, page_size: int = 4096) -> int:
    data = path.read_bytes()
    at = data.index(needle)
    return at - at % page_size


def zero_page_holding(path: Path, needle: bytes) -> None:
    """Overwrite the 4096-byte page that holds ``needle`` with zeros (a raw byte edit)."""
    start = _page_of(path, needle)
    assert start > 0  # never the header page
    with path.open("r+b") as f:
        f.seek(start)
        f.write(bytes(4096))


def test_a_zeroed_page_of_signed_records_is_refused_in_one_line(db: Path) -> None:
    zero_page_holding(db, b'"kind":"batch"')
    with pytest.raises(AuctionhouseError) as caught:
        open_house(db)
    assert isinstance(caught.value, TamperDetected)
    assert "\n" not in caught.value.message


def test_a_zeroed_page_of_events_is_refused_naming_the_last_good_event(db: Path) -> None:
    body, _ = row(db, "4", 60)  # its page is not the first of the table
    zero_page_holding(db, body)
    message = refused(db)
    assert "cannot be read after auction" in message
    assert "seq" in message


def test_a_missing_key_is_never_replaced(db: Path) -> None:
    key = Path(f"{db}.key")
    key.unlink()
    with pytest.raises(HouseKeyMissing) as caught:
        open_house(db)
    assert "restore the key file" in caught.value.message
    assert not key.exists()
    assert audit_database(db).ok  # the database still names its key


def test_a_first_start_creates_the_key(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    open_house(path).close()
    assert Path(f"{path}.key").is_file()


def test_read_only_serves_a_tampered_ledger_and_writes_nothing(db: Path) -> None:
    edit_amount(db, "2", 3, 999)
    sql(db, ("UPDATE accounts SET role = 'admin' WHERE id = 'ann'", ()))
    before = db.read_bytes()
    house = open_house(db, read_only=True)
    try:
        assert any("auction 2 seq 3" in p for p in house.problems)
        assert any("account 'ann'" in p for p in house.problems)
        assert house.view("1")["result"]["outcome"] == "sold"
        with pytest.raises(ReadOnly):
            house.place_bid("bob", "2", 1_000)
        with pytest.raises(ReadOnly):
            house.create_account("dora", "correct horse")
        with pytest.raises(ReadOnly):
            house.create_auction("seller", "rug", "english", {"duration": 50})
        token = house.login("ann", "correct horse")  # a session in memory only
        assert house.authenticate(token).id == "ann"
        assert house.tick() == []
    finally:
        house.close()
    assert db.read_bytes() == before


def test_read_only_without_the_key_file_checks_against_the_recorded_key(db: Path) -> None:
    Path(f"{db}.key").unlink()
    house = open_house(db, read_only=True)
    try:
        assert house.problems == []
        with pytest.raises(ReadOnly):
            house.place_bid("bob", "2", 1_000)
    finally:
        house.close()
