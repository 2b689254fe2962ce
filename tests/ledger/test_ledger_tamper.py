"""Tamper tests: write a real ledger, edit the SQLite file with sqlite3, audit names the damage."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
from collections.abc import Iterator
from hashlib import sha256
from pathlib import Path

import pytest
from ledger_helpers import T0, bid, english

from auctionhouse.errors import InvalidRequest, NotFound
from auctionhouse.ledger import (
    HouseKey,
    Ledger,
    SQLiteStore,
    audit_database,
    canonical_bytes,
    decode_event,
)

# closed-1: created + 5 bids + close = 7 events, sealed. open-1: 7 events, open-2: 4 events,
# both signed by checkpoint 1. closed-2 closes after the checkpoint. open-1 moves on after it.
CLOSED, OPEN, OPEN2, LATE = "closed-1", "open-1", "open-2", "closed-2"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "house.db"
    key = HouseKey.load_or_create(f"{path}.key")
    with Ledger(SQLiteStore(path), key) as ledger:
        ledger.append(english(CLOSED, 5, close=True) + english(OPEN, 6) + english(OPEN2, 3))
        ledger.checkpoint(T0 + 100)
        ledger.append(english(LATE, 2, close=True))
    return path


@pytest.fixture
def sql(db: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(db, isolation_level=None)
    yield conn
    conn.close()


def tampered(db: Path, **kwargs: str) -> dict[str, list[int]]:
    report = audit_database(db, **kwargs)
    assert not report.ok
    return report.tampered()


def kinds(db: Path) -> set[tuple[str | None, int | None, str]]:
    return {(f.auction_id, f.seq, f.kind) for f in audit_database(db).findings}


def body_of(sql: sqlite3.Connection, auction_id: str, seq: int) -> bytes:
    q = "SELECT body FROM ledger_events WHERE auction_id = ? AND seq = ?"
    return bytes(sql.execute(q, (auction_id, seq)).fetchone()[0])


def hash_of(sql: sqlite3.Connection, auction_id: str, seq: int) -> bytes:
    q = "SELECT hash FROM ledger_events WHERE auction_id = ? AND seq = ?"
    return bytes(sql.execute(q, (auction_id, seq)).fetchone()[0])


def insert_chained(
    sql: sqlite3.Connection, auction_id: str, seq: int, body: bytes, prev: bytes
) -> None:
    """Insert an event row whose hash chains from ``prev`` (anyone can compute sha256)."""
    sql.execute(
        "INSERT INTO ledger_events (auction_id, seq, body, hash) VALUES (?, ?, ?, ?)",
        (auction_id, seq, body, sha256(prev + body).digest()),
    )


def rechain(sql: sqlite3.Connection, auction_id: str) -> None:
    """What a tamperer who knows the algorithm does: recompute every hash of a chain."""
    prev = bytes(32)
    q = "SELECT pos, body FROM ledger_events WHERE auction_id = ? ORDER BY seq"
    for pos, body in sql.execute(q, (auction_id,)).fetchall():
        prev = sha256(prev + bytes(body)).digest()
        sql.execute("UPDATE ledger_events SET hash = ? WHERE pos = ?", (prev, pos))


def test_an_intact_ledger_passes(db: Path) -> None:
    report = audit_database(db)
    assert report.ok, report.findings
    counts = (report.auctions, report.events, report.seals, report.batches, report.checkpoints)
    assert counts == (4, 7 + 7 + 4 + 4, 2, 2, 1)
    assert report.key_source.startswith("key file")


def test_an_edited_event_is_named(db: Path, sql: sqlite3.Connection) -> None:
    event = decode_event(body_of(sql, CLOSED, 3))
    forged = canonical_bytes(dataclasses.replace(event, amount=1))  # type: ignore[type-var]
    sql.execute(
        "UPDATE ledger_events SET body = ? WHERE auction_id = ? AND seq = 3", (forged, CLOSED)
    )
    assert tampered(db) == {CLOSED: [3]}
    assert (CLOSED, 3, "edited") in kinds(db)


def test_a_rewritten_chain_is_caught_by_its_seal_and_checkpoint(
    db: Path, sql: sqlite3.Connection
) -> None:
    for auction_id in (CLOSED, OPEN):
        body = body_of(sql, auction_id, 2).replace(b'"bidder-0"', b'"mallory"')
        sql.execute(
            "UPDATE ledger_events SET body = ? WHERE auction_id = ? AND seq = 2",
            (body, auction_id),
        )
        rechain(sql, auction_id)
    found = kinds(db)
    assert (CLOSED, 7, "edited") in found  # the sealed head no longer matches
    assert (OPEN, 7, "edited") in found  # nor the head checkpoint 1 signed
    assert set(tampered(db)) == {CLOSED, OPEN}


def test_a_deleted_event_is_named(db: Path, sql: sqlite3.Connection) -> None:
    sql.execute("DELETE FROM ledger_events WHERE auction_id = ? AND seq = 4", (OPEN2,))
    assert tampered(db) == {OPEN2: [4]}  # the last one: caught by the checkpoint
    sql.execute("DELETE FROM ledger_events WHERE auction_id = ? AND seq = 3", (CLOSED,))
    assert (CLOSED, 3, "deleted") in kinds(db)
    assert tampered(db)[CLOSED] == [3]


def test_events_reordered_in_the_append_order_are_named(db: Path, sql: sqlite3.Connection) -> None:
    q = "SELECT pos FROM ledger_events WHERE auction_id = ? AND seq = ?"
    p2, p3 = (sql.execute(q, (OPEN, s)).fetchone()[0] for s in (2, 3))
    sql.execute("UPDATE ledger_events SET pos = -1 WHERE pos = ?", (p2,))
    sql.execute("UPDATE ledger_events SET pos = ? WHERE pos = ?", (p2, p3))
    sql.execute("UPDATE ledger_events SET pos = ? WHERE pos = -1", (p3,))
    assert tampered(db) == {OPEN: [2, 3]}
    assert {(OPEN, 2, "reordered"), (OPEN, 3, "reordered")} <= kinds(db)


def test_events_swapped_between_seqs_are_named(db: Path, sql: sqlite3.Connection) -> None:
    q = "SELECT body, hash FROM ledger_events WHERE auction_id = ? AND seq = ?"
    r4, r5 = (sql.execute(q, (CLOSED, s)).fetchone() for s in (4, 5))
    u = "UPDATE ledger_events SET body = ?, hash = ? WHERE auction_id = ? AND seq = ?"
    sql.execute(u, (*r5, CLOSED, 4))
    sql.execute(u, (*r4, CLOSED, 5))
    assert tampered(db) == {CLOSED: [4, 5]}
    assert (CLOSED, 4, "reordered") in kinds(db)


def test_an_event_inserted_mid_chain_is_named(db: Path, sql: sqlite3.Connection) -> None:
    # Make room at seq 2 (renumber the rows), insert a forged bid that chains correctly.
    for seq in (4, 3, 2):
        sql.execute(
            "UPDATE ledger_events SET seq = ? WHERE auction_id = ? AND seq = ?",
            (seq + 1, OPEN2, seq),
        )
    genuine = decode_event(body_of(sql, OPEN2, 3))
    forged = canonical_bytes(dataclasses.replace(genuine, bidder="mallory", amount=10**6))  # type: ignore[type-var]
    insert_chained(sql, OPEN2, 2, forged, prev=hash_of(sql, OPEN2, 1))
    assert (OPEN2, 2, "inserted") in kinds(db)
    assert OPEN2 in tampered(db) and 2 in tampered(db)[OPEN2]


def test_an_event_appended_after_the_close_is_named(db: Path, sql: sqlite3.Connection) -> None:
    head_body = body_of(sql, CLOSED, 6)
    extra = head_body.replace(b'"seq":6', b'"seq":8')
    insert_chained(sql, CLOSED, 8, extra, prev=hash_of(sql, CLOSED, 7))
    assert tampered(db) == {CLOSED: [8]}
    assert (CLOSED, 8, "inserted") in kinds(db)


def test_a_truncated_chain_is_caught_by_the_seal(db: Path, sql: sqlite3.Connection) -> None:
    sql.execute("DELETE FROM ledger_events WHERE auction_id = ? AND seq >= 6", (CLOSED,))
    assert tampered(db) == {CLOSED: [6, 7]}
    assert (CLOSED, 7, "truncated") in kinds(db)


def test_a_truncated_chain_is_caught_by_a_checkpoint(db: Path, sql: sqlite3.Connection) -> None:
    sql.execute("DELETE FROM ledger_events WHERE auction_id = ? AND seq >= 5", (OPEN,))
    sql.execute("DELETE FROM ledger_events WHERE auction_id = ?", (OPEN2,))  # all of it
    assert tampered(db) == {OPEN: [5, 6, 7], OPEN2: [1, 2, 3, 4]}
    assert (OPEN2, 1, "truncated") in kinds(db)


def test_an_edited_seal_is_named(db: Path, sql: sqlite3.Connection) -> None:
    payload = bytes(
        sql.execute("SELECT payload FROM ledger_seals WHERE auction_id = ?", (CLOSED,)).fetchone()[
            0
        ]
    )
    forged = json.loads(payload)
    forged["seq"] = 6
    sql.execute(
        "UPDATE ledger_seals SET payload = ?, seq = 6 WHERE auction_id = ?",
        (canonical_json(forged), CLOSED),
    )
    assert (CLOSED, 6, "bad_seal") in kinds(db)
    assert tampered(db) == {CLOSED: [6]}


def test_a_seal_forged_with_another_key_is_caught_by_the_key_file(
    db: Path, sql: sqlite3.Connection, tmp_path: Path
) -> None:
    # The tamperer truncates closed-1 and re-seals it with a key of their own, which they also
    # write into the database. The house key file beside the database still tells the truth.
    mallory = HouseKey.generate()
    sql.execute("DELETE FROM ledger_events WHERE auction_id = ? AND seq >= 6", (CLOSED,))
    sql.execute("DELETE FROM ledger_seals WHERE auction_id = ?", (CLOSED,))
    head = hash_of(sql, CLOSED, 5)
    payload = canonical_json(
        {"kind": "seal", "auction_id": CLOSED, "seq": 5, "hash": head.hex(), "at": T0}
    )
    sql.execute(
        "INSERT INTO ledger_seals VALUES (?, 5, ?, ?)", (CLOSED, payload, mallory.sign(payload))
    )
    sql.execute("UPDATE ledger_meta SET value = ? WHERE key = 'public_key'", (mallory.public_hex,))
    found = kinds(db)
    assert (CLOSED, 5, "bad_seal") in found and (None, None, "key_mismatch") in found
    # With --key pointing at a public key file kept elsewhere, the same verdict.
    public = tmp_path / "auditor.pub"
    HouseKey.load(f"{db}.key").save_public(public)
    assert not audit_database(db, key_path=str(public)).ok
    # Without any key file the audit can only trust the database, and says so.
    shutil.move(f"{db}.key", tmp_path / "elsewhere.key")
    report = audit_database(db)
    assert report.key_source.startswith("database (weaker")


def test_an_edited_or_missing_checkpoint_is_named(db: Path) -> None:
    key = HouseKey.load(f"{db}.key")
    with Ledger(SQLiteStore(db), key) as ledger:
        ledger.checkpoint(T0 + 200)  # record 4 (1: batch, 2: checkpoint, 3: batch)
    conn = sqlite3.connect(db, isolation_level=None)
    payload = bytes(
        conn.execute("SELECT payload FROM ledger_checkpoints WHERE number = 4").fetchone()[0]
    )
    conn.execute(
        "UPDATE ledger_checkpoints SET payload = ? WHERE number = 4",
        (payload.replace(b'"at":1200.0', b'"at":1300.0'),),
    )
    assert kinds(db) == {(None, 4, "bad_checkpoint")}
    conn.execute("UPDATE ledger_checkpoints SET payload = ? WHERE number = 4", (payload,))
    assert audit_database(db).ok
    conn.execute("DELETE FROM ledger_checkpoints WHERE number = 2")
    assert kinds(db) == {(None, 3, "bad_checkpoint")}  # its successor no longer links
    conn.close()


def test_an_event_forged_onto_an_open_auction_is_unsigned(
    db: Path, sql: sqlite3.Connection
) -> None:
    # A valid hash at the end of an open auction, after every checkpoint: only the batch
    # records (signed in each append's transaction) can tell it was never appended by the house.
    extra = body_of(sql, OPEN, 7).replace(b'"seq":7', b'"seq":8')
    insert_chained(sql, OPEN, 8, extra, prev=hash_of(sql, OPEN, 7))
    assert kinds(db) == {(OPEN, 8, "inserted")}
    # Nor can a batch record signed by someone else cover it.
    mallory = HouseKey.generate()
    last = sql.execute("SELECT number, payload FROM ledger_checkpoints ORDER BY number DESC")
    number, payload = last.fetchone()
    forged = canonical_json(
        {
            "kind": "batch",
            "number": number + 1,
            "at": T0,
            "prev": sha256(bytes(payload)).hexdigest(),
            "heads": {OPEN: [8, hash_of(sql, OPEN, 8).hex()]},
        }
    )
    sql.execute(
        "INSERT INTO ledger_checkpoints VALUES (?, ?, ?, ?)",
        (number + 1, T0, forged, mallory.sign(forged)),
    )
    assert kinds(db) == {(OPEN, 8, "inserted"), (None, number + 1, "bad_checkpoint")}


def test_a_truncated_open_auction_is_caught_by_its_batch_record(db: Path) -> None:
    with Ledger(SQLiteStore(db), HouseKey.load(f"{db}.key")) as ledger:
        ledger.append([bid(OPEN, 8, 500), bid(OPEN, 9, 600)])  # after the last checkpoint
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("DELETE FROM ledger_events WHERE auction_id = ? AND seq = 9", (OPEN,))
    conn.close()
    assert kinds(db) == {(OPEN, 9, "truncated")}


def test_a_deleted_seal_is_named(db: Path, sql: sqlite3.Connection) -> None:
    sql.execute("DELETE FROM ledger_seals WHERE auction_id = ?", (LATE,))
    assert (LATE, 4, "missing_seal") in kinds(db)


def test_the_audit_of_one_auction_names_only_it(db: Path, sql: sqlite3.Connection) -> None:
    sql.execute("DELETE FROM ledger_events WHERE auction_id = ? AND seq = 2", (OPEN,))
    sql.execute("DELETE FROM ledger_events WHERE auction_id = ? AND seq = 2", (CLOSED,))
    assert tampered(db, auction_id=OPEN) == {OPEN: [2]}
    assert audit_database(db, auction_id=LATE).ok
    with pytest.raises(NotFound):
        audit_database(db, auction_id="no-such-auction")


def test_bad_databases_are_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        audit_database(tmp_path / "missing.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 200)
    with pytest.raises(InvalidRequest):
        audit_database(junk)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE accounts (id TEXT)").connection.commit()
    with pytest.raises(InvalidRequest, match="not an auctionhouse ledger"):
        audit_database(other)


def canonical_json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_an_edit_with_its_own_hash_recomputed_is_named_at_the_next_link(
    db: Path, sql: sqlite3.Connection
) -> None:
    forged = body_of(sql, OPEN, 3).replace(b'"bidder-1"', b'"mallory"')
    sql.execute(
        "UPDATE ledger_events SET body = ?, hash = ? WHERE auction_id = ? AND seq = 3",
        (forged, sha256(hash_of(sql, OPEN, 2) + forged).digest(), OPEN),
    )
    assert tampered(db) == {OPEN: [4]}


@pytest.mark.parametrize(
    "update",
    [
        "UPDATE ledger_events SET body = x'00ff' WHERE auction_id = 'open-1' AND seq = 2",
        "UPDATE ledger_events SET hash = 'text' WHERE auction_id = 'open-1' AND seq = 2",
        "UPDATE ledger_events SET seq = 'two' WHERE auction_id = 'open-1' AND seq = 2",
        "UPDATE ledger_events SET auction_id = 'ghost' WHERE auction_id = 'open-1' AND seq = 2",
        "UPDATE ledger_events SET body = replace(body, '\"seq\":2', '\"seq\":2.5')"
        " WHERE auction_id = 'open-1' AND seq = 2",
        "UPDATE ledger_seals SET payload = 'junk', signature = 5",
        "UPDATE ledger_checkpoints SET payload = x'00', signature = NULL",
        "DROP TABLE ledger_seals",
        "UPDATE ledger_events SET body = replace(body, '\"seq\":3', '\"seq\":3000000000000')"
        " WHERE auction_id = 'open-1' AND seq = 3",
        "UPDATE ledger_seals SET auction_id = 5 WHERE auction_id = 'closed-1'",
    ],
)
def test_garbage_in_the_file_is_a_finding_never_a_crash(
    db: Path, sql: sqlite3.Connection, update: str
) -> None:
    if "NULL" in update:  # the column is NOT NULL: rebuild the table without the constraint
        sql.execute("ALTER TABLE ledger_checkpoints RENAME TO old")
        sql.execute("CREATE TABLE ledger_checkpoints AS SELECT * FROM old")
    sql.execute(update)
    report = audit_database(db)
    assert not report.ok
    assert report.tampered() or report.findings
    assert json.loads(json.dumps(report.to_dict()))["ok"] is False
