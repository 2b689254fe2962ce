"""The audit of a ledger that a live house is writing reads one moment of it.

Seen on a peer (issue 16): ``caught up, but the own ledger audit has 144 findings`` while bids
were applied. The audit read the signed records first and the events after, in separate
statements; the events committed in between (each batch with its own signed record) were read
without their record, so each looked ``inserted``. Here the writer commits at exactly that point
of the audit's reads (a read-only store whose ``checkpoints`` read lets it), deterministically.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ledger_helpers import english

import pg_cluster
from auctionhouse.ledger import HouseKey, Ledger, SQLiteStore, audit_database, audit_store
from auctionhouse.ledger.postgres import PostgresStore
from auctionhouse.ledger.store import CheckpointRecord


def writes_between_reads(base: type, write: Callable[[], None]) -> type:
    """``base`` (a store class) whose read-only copies let ``write`` commit right after the
    audit has read the signed records, before it reads the events."""

    class Racing(base):  # type: ignore[misc, valid-type]
        def checkpoints(self) -> Iterator[CheckpointRecord]:
            yield from super().checkpoints()
            write()

    return Racing


@pytest.fixture(params=["sqlite", "postgres"])
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Ledger, type]]:
    """(where, a writing ledger with a batch already in, its store class)."""
    if request.param == "sqlite":
        where = str(tmp_path / "house.db")
        key = HouseKey.load_or_create(f"{where}.key")
        store: SQLiteStore | PostgresStore = SQLiteStore(where)
    else:
        where = pg_cluster.new_database()
        key = HouseKey.load_or_create(tmp_path / "house.key")
        store = PostgresStore(where)
    ledger = Ledger(store, key)
    ledger.append(english("a1", 3))
    yield where, ledger, type(store)
    ledger.close()


def test_the_audit_of_a_ledger_being_written_reads_one_moment(
    live: tuple[str, Ledger, type], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    where, ledger, cls = live
    more = iter([english("a2", 4), english("a3", 2)])
    racing = writes_between_reads(cls, lambda: ledger.append(next(more)))
    key_path = f"{where}.key" if cls is SQLiteStore else tmp_path / "house.key"

    # Without one read transaction, what was committed between the reads looks inserted.
    loose = racing(where, readonly=True)
    try:
        report = audit_store(loose, ledger.public_hex)
    finally:
        loose.close()
    assert not report.ok
    assert {f.kind for f in report.findings} == {"inserted"}
    assert {f.auction_id for f in report.findings} == {"a2"}

    # audit_database reads one moment: the ledger as it was when its reads began.
    module = "auctionhouse.ledger.audit" if cls is SQLiteStore else "auctionhouse.ledger.postgres"
    monkeypatch.setattr(f"{module}.{cls.__name__}", racing)
    report = audit_database(where, key_path=key_path)
    assert report.ok, report.findings
    assert report.events == 4 + 5  # a1 and a2; a3 was committed after the audit's moment

    # ... and the next audit sees a3 too, intact.
    monkeypatch.undo()
    report = audit_database(where, key_path=key_path)
    assert report.ok, report.findings
    assert report.events == 4 + 5 + 3


def test_a_read_snapshot_needs_a_read_only_store(tmp_path: Path) -> None:
    from auctionhouse.errors import InvalidRequest

    store = SQLiteStore(tmp_path / "house.db")
    try:
        with pytest.raises(InvalidRequest), store.read_snapshot():
            pass
    finally:
        store.close()
