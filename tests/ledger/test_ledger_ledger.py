"""The Ledger over every store: hash chain, sequence checks, seals, checkpoints, reads, keys."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from dataclasses import replace
from hashlib import sha256
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ledger_helpers import T0, bid, english, store_factories

from auctionhouse import auction
from auctionhouse.errors import InvalidRequest, LedgerError, NotFound, SequenceConflict
from auctionhouse.ledger import (
    GENESIS,
    HouseKey,
    Ledger,
    MemoryStore,
    SQLiteStore,
    Store,
    audit_store,
    canonical_bytes,
    decode_event,
    load_public_key,
)
from auctionhouse.ledger.encoding import (
    _decode_exact,
    decode_array,
    decode_records,
    reference_canonical_bytes,
)
from auctionhouse.ledger.keys import verify

BACKENDS = sorted(store_factories(Path()))


@pytest.fixture(scope="module")
def key() -> HouseKey:
    return HouseKey.generate()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = store_factories(tmp_path)[request.param]()
    yield s
    s.close()


@pytest.fixture
def ledger(store: Store, key: HouseKey) -> Ledger:
    return Ledger(store, key)


def test_canonical_bytes_is_sorted_compact_utf8_json() -> None:
    event = auction.BidPlaced("é-1", 2, 3.5, "zoë", 100, 100, leader="zoë")
    body = canonical_bytes(event)
    assert body == json.dumps(
        auction.event_to_dict(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    assert b" " not in body and "zoë".encode() in body


def test_canonical_bytes_refuses_non_events_and_nan() -> None:
    with pytest.raises(InvalidRequest):
        canonical_bytes({"type": "BidPlaced"})  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        canonical_bytes(auction.BidPlaced("a", 1, float("nan"), "b", 1, 1))


def test_each_hash_chains_from_the_previous_one(ledger: Ledger) -> None:
    events = english("a1", 4)
    ledger.append(events)
    digest = GENESIS
    for event in events:
        digest = sha256(digest + canonical_bytes(event)).digest()
    assert ledger.heads() == {"a1": (len(events), digest.hex())}


def test_a_batch_of_many_auctions_reads_back_in_append_order(ledger: Ledger) -> None:
    a, b = english("a", 3), english("b", 2)
    batch = [a[0], b[0], a[1], b[1], a[2], b[2], a[3]]
    ledger.append(batch)
    assert list(ledger.events()) == batch
    assert ledger.events_for("a") == a
    assert ledger.events_for("a", after_seq=2) == a[2:]
    assert ledger.events_for("none") == []
    assert set(ledger.heads()) == {"a", "b"}


@pytest.mark.parametrize("bad_seq", [1, 3, 0])
def test_a_seq_that_is_not_last_plus_one_writes_nothing(ledger: Ledger, bad_seq: int) -> None:
    ledger.append([bid("a", 1, 10)])
    heads = ledger.heads()
    with pytest.raises(SequenceConflict):
        ledger.append([bid("b", 1, 10), bid("a", bad_seq, 11)])
    assert ledger.heads() == heads
    assert [e.auction_id for e in ledger.events()] == ["a"]
    ledger.append([bid("a", 2, 11)])  # the ledger is still usable
    assert ledger.heads()["a"][0] == 2


def test_close_seals_the_head_in_the_same_batch(ledger: Ledger, key: HouseKey) -> None:
    events = english("a1", 3, close=True)
    ledger.append(events)
    seal = ledger.seal_of("a1")
    assert seal is not None
    seq, head = ledger.heads()["a1"]
    assert (seal["seq"], seal["hash"]) == (seq, head)
    [record] = ledger.store.seals()
    assert verify(key.public_hex, record.payload, record.signature)
    assert ledger.is_sealed("a1") and ledger.seal_of("other") is None
    with pytest.raises(SequenceConflict):
        ledger.append([bid("a1", seq + 1, 99)])


def test_every_append_and_checkpoint_is_a_signed_chained_record(
    ledger: Ledger, key: HouseKey
) -> None:
    ledger.append(english("a", 2) + english("b", 1))
    ledger.checkpoint(T0 + 10)
    ledger.checkpoint(T0 + 15)  # nothing moved: nothing new to sign
    ledger.append([bid("a", 4, 50)])
    ledger.checkpoint(T0 + 20)
    records = list(ledger.store.checkpoints())
    payloads = [json.loads(r.payload) for r in records]
    assert [p["kind"] for p in payloads] == ["batch", "checkpoint", "batch", "checkpoint"]
    assert [r.number for r in records] == [p["number"] for p in payloads] == [1, 2, 3, 4]
    prev = "0" * 64
    for record, payload in zip(records, payloads, strict=True):
        assert verify(key.public_hex, record.payload, record.signature)
        assert payload["prev"] == prev
        prev = sha256(record.payload).hexdigest()
    head_a = list(ledger.heads()["a"])
    assert set(payloads[0]["heads"]) == set(payloads[1]["heads"]) == {"a", "b"}
    assert payloads[2]["heads"] == payloads[3]["heads"] == {"a": head_a}
    report = audit_store(ledger.store, key.public_hex)
    assert report.ok, report.findings
    assert (report.batches, report.checkpoints) == (2, 2)


def test_events_pages_through_more_than_one_page(key: HouseKey) -> None:
    ledger = Ledger(MemoryStore(), key)
    ledger.append([bid("a", s, s) for s in range(1, 10_001)])
    it = ledger.events()
    assert next(it).seq == 1
    assert sum(1 for _ in it) == 9_999


def test_bad_input_is_refused_with_typed_errors(ledger: Ledger) -> None:
    for bad in ("events", [object()], [{"type": "BidPlaced"}]):
        with pytest.raises(InvalidRequest):
            ledger.append(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        ledger.append([auction.BidPlaced("", 1, T0, "b", 1, 1)])
    with pytest.raises(InvalidRequest):
        ledger.append([auction.BidPlaced("a", 1, "noon", "b", 1, 1)])  # type: ignore[arg-type]
    for at in (float("nan"), "noon"):
        with pytest.raises(InvalidRequest):
            ledger.checkpoint(at)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        ledger.events_for(5)  # type: ignore[arg-type]
    ledger.append([])
    assert ledger.heads() == {}


def test_reopening_a_sqlite_ledger_restores_heads_and_seals(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    key = HouseKey.load_or_create(tmp_path / "l.db.key")
    with Ledger(SQLiteStore(db), key) as ledger:
        ledger.append(english("a", 2, close=True) + english("b", 1))
        heads = ledger.heads()
    with Ledger(SQLiteStore(db), HouseKey.load_or_create(tmp_path / "l.db.key")) as again:
        assert again.heads() == heads
        assert again.is_sealed("a") and not again.is_sealed("b")
        again.append([bid("b", 3, 77)])
    with pytest.raises(LedgerError, match="another house key"):
        Ledger(SQLiteStore(db), HouseKey.generate())


def test_sqlite_store_coexists_with_other_tables(tmp_path: Path, key: HouseKey) -> None:
    import sqlite3

    db = tmp_path / "house.db"
    other = sqlite3.connect(db)
    other.execute("CREATE TABLE accounts (id TEXT PRIMARY KEY, name TEXT)")
    other.execute("INSERT INTO accounts VALUES ('u1', 'ann')")
    other.commit()
    with Ledger(SQLiteStore(db), key) as ledger:
        ledger.append(english("a", 1))
    assert other.execute("SELECT name FROM accounts").fetchall() == [("ann",)]
    assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    other.close()


def test_sqlite_store_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InvalidRequest):
        SQLiteStore(junk)
    with pytest.raises(InvalidRequest):
        SQLiteStore(tmp_path)


def test_house_key_file_is_private_and_reloads(tmp_path: Path) -> None:
    path = tmp_path / "house.key"
    key = HouseKey.load_or_create(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert HouseKey.load_or_create(path).public_hex == key.public_hex
    assert load_public_key(path) == key.public_hex
    key.save_public(tmp_path / "house.pub")
    assert load_public_key(tmp_path / "house.pub") == key.public_hex
    assert verify(key.public_hex, b"m", key.sign(b"m"))
    assert not verify(key.public_hex, b"n", key.sign(b"m"))


def test_bad_key_files_give_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        HouseKey.load(tmp_path / "missing.key")
    bad = tmp_path / "bad.key"
    for text in ("not json", '{"kind": "auctionhouse-house-key", "secret": "abcd"}', "[]"):
        bad.write_text(text)
        with pytest.raises(InvalidRequest):
            HouseKey.load(bad)
    with pytest.raises(InvalidRequest):
        HouseKey.generate().save(bad)  # never overwrites


events_strategy = st.builds(
    auction.BidPlaced,
    auction_id=st.text(min_size=1, max_size=12),
    seq=st.integers(1, 10**6),
    at=st.floats(0, 4e9, allow_nan=False),
    bidder=st.text(min_size=1, max_size=12),
    amount=st.integers(1, 10**15),
    price=st.integers(0, 10**15),
    leader=st.none() | st.text(max_size=8),
    proxy_max=st.none() | st.integers(1, 10**30),
    ts=st.none() | st.floats(allow_nan=False, allow_infinity=False),
)


@settings(max_examples=200, deadline=None)
@given(events_strategy)
def test_decode_is_the_inverse_of_canonical_bytes(event: auction.BidPlaced) -> None:
    try:
        body = canonical_bytes(event)
    except InvalidRequest:  # text with lone surrogates cannot be UTF-8
        return
    back = decode_event(body)
    assert back == event == auction.event_from_dict(json.loads(body))
    assert canonical_bytes(back) == body


def test_decode_rebuilds_every_event_type() -> None:
    events = english("x", 3, close=True)
    events += [
        auction.AuctionPaused("y", 2, T0, "admin"),
        auction.AuctionResumed("y", 3, T0, "admin", 2.5),
        auction.AuctionCancelled("y", 4, T0, "admin", "fraud"),
        auction.DeadlineExtended("y", 5, T0, T0 + 30),
        # a double-auction market's events share the ledger (auction/market_events.py)
        auction.MarketCreated("m1", 1, T0, "o", "w", "call", 100, 5, 2.5, T0 + 60),
        auction.OrderPlaced("m1", 2, T0, 1, "b", "buy", 10, 3, 7, T0, "ab" * 64),
        auction.OrderPlaced("m1", 3, T0, 2, "s", "sell", 9, 3),
        auction.CallCleared("m1", 4, T0, 1, 9, 3),
        auction.CallCleared("m1", 5, T0, 2, None, 0),
        auction.Trade("m1", 6, T0, 1, 1, 2, "b", "s", 9, 3, None),
        auction.OrderCancelled("m1", 7, T0, 3, "s", "cancel", 1, 8, T0, "cd" * 64),
        auction.MarketClosed("m1", 8, T0, "o", "done"),
    ]
    assert {type(e).__name__ for e in events} == set(auction.EVENT_TYPES) - {"AuctionCancelled"} | {
        "AuctionCancelled"
    }
    for event in events:
        assert decode_event(canonical_bytes(event)) == event
    with pytest.raises(LedgerError):
        decode_event(b'{"type": "Nope"}')
    with pytest.raises(LedgerError):
        decode_event(b"\xff")


def test_a_second_writer_gives_a_conflict_then_the_ledger_catches_up(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    key = HouseKey.load_or_create(tmp_path / "l.db.key")
    first, second = Ledger(SQLiteStore(db), key), Ledger(SQLiteStore(db), key)
    first.append([bid("a", 1, 10)])
    with pytest.raises(SequenceConflict):
        second.append([bid("a", 1, 11)])  # second's view was stale: seq 1 is taken
    second.append([bid("a", 2, 12)])  # it reloaded the heads and chains on the real head
    assert audit_store(second.store, key.public_hex).ok
    first.close()
    second.close()


any_float = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**20), 10**20)
any_int = st.integers(-(10**20), 10**20)
odd_events = st.builds(
    auction.BidPlaced,
    auction_id=st.text(min_size=1),
    seq=any_int,
    at=any_float,
    bidder=st.text(),
    amount=any_int,
    price=any_int,
    leader=st.none() | st.text(),
    proxy_max=st.none() | any_int,
    nonce=st.none() | any_int,
    ts=st.none() | any_float | st.just(float("nan")),
    signature=st.none() | st.text(),
) | st.builds(
    auction.AuctionClosed,
    auction_id=st.text(min_size=1),
    seq=any_int,
    at=any_float,
    outcome=st.text() | st.sampled_from(list(auction.Outcome)),
    winner=st.none() | st.text(),
    price=st.none() | any_int,
    bidders=any_int | st.booleans(),
)


@settings(max_examples=400, deadline=None)
@given(odd_events)
def test_the_fast_encoder_writes_exactly_the_reference_bytes(event: auction.Event) -> None:
    try:
        expected = reference_canonical_bytes(event)
    except InvalidRequest:
        with pytest.raises(InvalidRequest):
            canonical_bytes(event)
        return
    assert canonical_bytes(event) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(odd_events, min_size=1, max_size=6))
def test_a_page_decodes_to_exactly_what_each_row_decodes_to(events: list[auction.Event]) -> None:
    """A restart decodes a page of stored bodies in one call (msgspec records, issue 14):
    every event equals the exact path's (the stdlib parser and the class's constructor), field
    types too (an int past 64 bits, a float or a
    bool where an int belongs); what it cannot build is left to the exact path (None)."""
    bodies = []
    for event in events:
        try:
            bodies.append(canonical_bytes(event))
        except InvalidRequest:
            continue
    if not bodies:
        return
    joined = b"[" + b",".join(bodies) + b"]"
    page = decode_records(joined)
    if page is None:  # left to the orjson path, then the exact path for what it cannot build
        page = decode_array(joined)  # type: ignore[assignment]
    assert page is not None
    for got, body in zip(page, bodies, strict=True):
        if got is not None:
            assert repr(got) == repr(_decode_exact(body))


def test_a_page_of_every_event_type_is_decoded_as_records() -> None:
    created = english("x", 3, close=True)[0]
    assert isinstance(created, auction.AuctionCreated)
    events = [
        *english("x", 3, close=True),
        replace(created, auction_id="p", photos=("ab" * 32,)),
        auction.AuctionPaused("y", 2, T0, "admin"),
        auction.MarketCreated("m1", 1, T0, "o", "w", "call", 100, 5, 2.5, T0 + 60),
        auction.Trade("m1", 6, T0, 1, 1, 2, "b", "s", 9, 3, None),
        auction.MarketClosed("m1", 8, T0, "o", "done"),
        replace(bid("a", 1, 10), mandate="cd" * 32, mandate_doc="{}"),
    ]
    page = b"[" + b",".join(canonical_bytes(e) for e in events) + b"]"
    assert decode_records(page) == events  # none left to the slower paths
    assert decode_records(page.replace(b'"seq":1,', b'"seq":1,"extra":1,', 1)) is None
    assert decode_records(b"[" + canonical_bytes(events[0]) + b",5]") is None


def test_sqlite_appends_are_wal_and_synchronous_full(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "l.db")
    assert store.durability() == {"journal_mode": "wal", "synchronous": "FULL"}
    store.close()


def test_appends_from_many_threads_all_land_in_one_valid_chain(tmp_path: Path) -> None:
    import threading

    key = HouseKey.generate()
    ledger = Ledger(SQLiteStore(tmp_path / "l.db"), key)
    errors: list[BaseException] = []

    def writer(auction_id: str) -> None:
        try:
            for seq in range(1, 41):
                ledger.append([bid(auction_id, seq, seq)])
        except BaseException as exc:  # surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert {a: seq for a, (seq, _h) in ledger.heads().items()} == {f"t{i}": 40 for i in range(4)}
    report = audit_store(ledger.store, key.public_hex)
    assert report.ok and report.events == 160 and report.batches == 160, report.findings[:3]
    ledger.close()
