"""The store contract: every backend (memory, SQLite; PostgreSQL later) passes these tests.

A new backend is added in ``ledger_helpers.store_factories``; nothing here names a backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger_helpers import store_factories

from auctionhouse.errors import LedgerError, SequenceConflict
from auctionhouse.ledger import CheckpointRecord, EventRecord, SealRecord, Store

BACKENDS = sorted(store_factories(Path()))


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = store_factories(tmp_path)[request.param]()
    yield s
    s.close()


def row(auction_id: str, seq: int) -> tuple[str, int, bytes, bytes]:
    return (auction_id, seq, f'{{"a":"{auction_id}","s":{seq}}}'.encode(), bytes([seq % 256]) * 32)


def seal(auction_id: str, seq: int) -> SealRecord:
    return SealRecord(auction_id, seq, b'{"kind":"seal"}', "ab" * 64)


def test_append_keeps_global_order_and_reads_back_per_auction(store: Store) -> None:
    store.append([row("a", 1), row("b", 1), row("a", 2)])
    store.append([row("b", 2)])
    bodies = [body for _pos, body in store.page(0)]
    assert bodies == [row(*k)[2] for k in (("a", 1), ("b", 1), ("a", 2), ("b", 2))]
    records = store.records_for("a")
    assert [(r.auction_id, r.seq, r.body, r.hash) for r in records] == [row("a", 1), row("a", 2)]
    assert all(isinstance(r, EventRecord) for r in records)
    assert [r.seq for r in store.records_for("a", after_seq=1)] == [2]
    assert store.records_for("nobody") == []
    assert store.count() == 4


def test_page_resumes_after_a_position(store: Store) -> None:
    store.append([row("a", s) for s in range(1, 11)])
    first = store.page(0, limit=4)
    assert len(first) == 4
    rest = store.page(first[-1][0], limit=100)
    assert [b for _p, b in first + rest] == [row("a", s)[2] for s in range(1, 11)]
    assert store.page(rest[-1][0]) == []


def test_a_keyed_page_is_the_page_with_each_rows_auction_and_seq(store: Store) -> None:
    store.append([row("a", 1), row("b", 1), row("a", 2)])
    keyed = store.keyed_page(0, limit=2)
    assert [(p, b) for p, b, _a, _s in keyed] == store.page(0, limit=2)
    assert [(a, s) for _p, _b, a, s in keyed] == [("a", 1), ("b", 1)]
    rest = store.keyed_page(keyed[-1][0])
    assert [(a, s) for _p, _b, a, s in rest] == [("a", 2)]


def test_record_at_reads_one_position_with_its_columns(store: Store) -> None:
    store.append([row("a", 1), row("b", 1), row("a", 2)])
    positions = [pos for pos, _body in store.page(0)]
    found = store.record_at(positions[2])
    assert found is not None
    assert (found.pos, found.auction_id, found.seq) == (positions[2], "a", 2)
    assert store.record_at(positions[-1] + 1) is None
    assert store.record_at(0) is None


def test_heads_are_each_auctions_last_seq_and_hash(store: Store) -> None:
    assert store.heads() == {}
    store.append([row("a", 1), row("a", 2), row("b", 1)])
    assert store.heads() == {"a": (2, row("a", 2)[3]), "b": (1, row("b", 1)[3])}


def test_a_taken_seq_refuses_the_whole_batch(store: Store) -> None:
    store.append([row("a", 1)])
    with pytest.raises(SequenceConflict):
        store.append([row("b", 1), row("a", 1)])
    assert store.count() == 1
    assert store.records_for("b") == []


def test_a_second_seal_refuses_the_whole_batch(store: Store) -> None:
    store.append([row("a", 1)], [seal("a", 1)])
    assert [s.auction_id for s in store.seals()] == ["a"]
    assert store.seal("a") == seal("a", 1) and store.seal("b") is None
    assert store.sealed_auctions() == {"a"}
    with pytest.raises(SequenceConflict):
        store.append([row("a", 2)], [seal("a", 2)])
    assert store.count() == 1
    assert store.seals() == [seal("a", 1)]


def test_checkpoints_are_kept_in_order_and_unique(store: Store) -> None:
    assert store.last_checkpoint() is None
    one = CheckpointRecord(1, 5.0, b'{"n":1}', "00")
    two = CheckpointRecord(2, 6.0, b'{"n":2}', "11")
    store.add_checkpoint(one)
    store.add_checkpoint(two)
    assert list(store.checkpoints()) == [one, two]
    assert store.last_checkpoint() == two
    with pytest.raises(SequenceConflict):
        store.add_checkpoint(CheckpointRecord(2, 7.0, b"{}", "22"))
    assert list(store.checkpoints()) == [one, two]


def test_a_record_appended_with_events_shares_their_transaction(store: Store) -> None:
    one = CheckpointRecord(1, 5.0, b'{"n":1}', "00")
    store.append([row("a", 1)], (), one)
    assert list(store.checkpoints()) == [one] and store.count() == 1
    with pytest.raises(SequenceConflict):  # a taken number refuses the events too
        store.append([row("a", 2)], (), CheckpointRecord(1, 6.0, b"{}", "11"))
    with pytest.raises(SequenceConflict):  # a taken seq refuses the record too
        store.append([row("a", 1)], (), CheckpointRecord(2, 6.0, b"{}", "11"))
    assert list(store.checkpoints()) == [one] and store.count() == 1


def test_meta_is_kept(store: Store) -> None:
    assert store.get_meta("public_key") is None
    store.set_meta("public_key", "abc")
    store.set_meta("public_key", "def")
    assert store.get_meta("public_key") == "def"


def test_all_records_streams_by_auction_then_seq(store: Store) -> None:
    store.append([row("b", 1), row("a", 1), row("b", 2), row("a", 2)])
    got = [(r.auction_id, r.seq) for r in store.all_records()]
    assert got == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]


def test_a_closed_store_refuses_work(store: Store) -> None:
    store.close()
    with pytest.raises(LedgerError):
        store.append([row("a", 1)])
    with pytest.raises(LedgerError):
        store.page(0)
