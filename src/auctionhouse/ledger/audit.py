"""The audit: re-derive every hash, check seals and checkpoints, name what was tampered with.

``audit_database(path)`` opens a ledger read-only; ``audit_store(store, public_hex)`` does the work
on any store. Each finding names an auction (``None`` for the checkpoint chain or the key) and a
seq, with a ``kind``:

- ``edited``: an event whose bytes no longer hash to its stored link, or that disagrees with its
  row, or a head that differs from its seal or a checkpoint (a rewritten chain);
- ``deleted``: a seq missing inside the chain;
- ``reordered``: events stored out of seq order (global append order or seq column);
- ``inserted``: a second event with a seq, an event after the close or past the sealed head, or
  one that no record signed by the house covers;
- ``truncated``: seqs that a seal or a signed record signed but that are gone from the end;
- ``bad_seal``, ``missing_seal``, ``bad_checkpoint``: signatures that do not verify, a closed
  auction without its seal, a signed record (batch record or checkpoint) edited, or missing from
  the chain of signed records;
- ``key_mismatch``, ``unverifiable``: the database names another key, or no key is available;
- ``mandate``: a mobile agent's bid that its owner's signed mandate does not cover (no or a
  changed mandate, a bad signature, another bidder, above the per-site cap, after return-by),
  or a bid by an owner-key account without a mandate (``ledger.mandate``).
- ``account``: an account row (role, password hash, public key, strikes) whose house seal does
  not verify: changed outside the house (``audit_database`` only; auction and seq are None).
- ``photo``: a photo an auction names (by digest, in its first event) that is missing from the
  photo directory beside the ledger (the ``ledger_photos`` table of a PostgreSQL ledger), or
  whose bytes changed (``audit_database``).
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auctionhouse.auction import AuctionCreated, BidPlaced, Event
from auctionhouse.auction.events import CLOSING_EVENTS
from auctionhouse.errors import AuctionhouseError, LedgerError, NotFound
from auctionhouse.ledger.accounts import audit_account_rows
from auctionhouse.ledger.encoding import GENESIS, canonical_bytes, decode_event, decode_json, link
from auctionhouse.ledger.keys import load_public_key, verify
from auctionhouse.ledger.ledger import META_PUBLIC_KEY, payload_digest
from auctionhouse.ledger.location import is_postgres_url
from auctionhouse.ledger.mandate import (
    ACCOUNT_PREFIX,
    Mandate,
    bid_problem,
    mandate_digest,
    parse_mandate,
)
from auctionhouse.ledger.photos import PhotoFiles, PhotoStore
from auctionhouse.ledger.sqlite import SQLiteStore
from auctionhouse.ledger.store import CheckpointRecord, EventRecord, SealRecord, Store

if TYPE_CHECKING:
    from auctionhouse.ledger.postgres import PostgresStore

KEY_FILE = "key file"
KEY_DATABASE = "database (weaker: a tamperer with the file could replace it)"
KEY_NONE = "none"


@dataclass(frozen=True, slots=True)
class Finding:
    auction_id: str | None
    seq: int | None
    kind: str
    message: str


@dataclass(slots=True)
class AuditReport:
    ok: bool
    auctions: int
    events: int
    findings: list[Finding]
    seals: int = 0
    checkpoints: int = 0
    batches: int = 0
    key_source: str = KEY_NONE
    public_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def tampered(self) -> dict[str, list[int]]:
        """Each tampered auction and its tampered seqs (sorted)."""
        out: dict[str, set[int]] = {}
        for f in self.findings:
            if f.auction_id is not None:
                seqs = out.setdefault(f.auction_id, set())
                if f.seq is not None:
                    seqs.add(f.seq)
        return {a: sorted(s) for a, s in sorted(out.items())}


def audit_database(
    db_path: str | os.PathLike[str],
    auction_id: str | None = None,
    key_path: str | os.PathLike[str] | None = None,
) -> AuditReport:
    """Audit the SQLite ledger at ``db_path``, or the PostgreSQL one at a ``postgresql://``
    URL (read-only).

    The trusted public key comes from ``key_path`` (a house key or public key file), else from
    the house key file beside the database (``<db_path>.key``; a URL has none); only when
    neither exists is the key recorded in the database used, and the report says so
    (``key_source``).
    """
    url = is_postgres_url(str(db_path))
    store: SQLiteStore | PostgresStore
    if url:
        from auctionhouse.ledger.postgres import PostgresStore  # psycopg only when needed

        store = PostgresStore(str(db_path), readonly=True)
    else:
        store = SQLiteStore(db_path, readonly=True)
    try:
        candidate = Path(key_path) if key_path is not None else Path(f"{db_path}.key")
        public: str | None
        if key_path is not None or (not url and candidate.is_file()):
            public, source = load_public_key(candidate), f"{KEY_FILE} {candidate}"
        else:
            public = store.get_meta(META_PUBLIC_KEY)
            source = KEY_DATABASE if public else KEY_NONE
        photos: PhotoStore
        if url:  # the shared house keeps its photos in the database (ledger/photos_pg.py)
            from auctionhouse.ledger.photos_pg import PostgresPhotos

            photos = PostgresPhotos(str(db_path), readonly=True, max_size=1)
        else:
            photos = PhotoFiles.beside(db_path)
        try:
            # One moment of the ledger: a live house appends while the audit reads, and
            # events committed after the signed records were read would look inserted.
            with store.read_snapshot():
                report = audit_store(
                    store, public, auction_id=auction_id, key_source=source, photos=photos
                )
        finally:
            if url:
                photos.close()  # type: ignore[union-attr]
    finally:
        store.close()
    if auction_id is None and not url:  # the shared house's accounts are not sealed
        for problem in audit_account_rows(Path(db_path), public):
            report.findings.append(Finding(None, None, "account", problem))
        report.ok = not report.findings
    return report


def audit_store(
    store: Store,
    public_hex: str | None,
    *,
    auction_id: str | None = None,
    key_source: str = KEY_FILE,
    photos: PhotoStore | None = None,
) -> AuditReport:
    """Audit any store against the trusted ``public_hex`` (None: signatures cannot be checked).
    With ``photos``, every photo an ``AuctionCreated`` names must be there with its digest."""
    findings = _Findings()
    stored_key = store.get_meta(META_PUBLIC_KEY)
    if public_hex is not None and stored_key is not None and stored_key != public_hex:
        findings.add(None, None, "key_mismatch", "the database names another house key")
    seals = {s.auction_id: s for s in store.seals()}
    if public_hex is None and (seals or store.last_checkpoint() is not None):
        findings.add(None, None, "unverifiable", "no house key: seals and checkpoints unchecked")
    kinds: Counter[str] = Counter()
    signed = _check_checkpoints(store.checkpoints(), public_hex, findings, kinds)
    if auction_id is not None:
        seals = {a: s for a, s in seals.items() if a == auction_id}
        signed = {a: e for a, e in signed.items() if a == auction_id}
        records: Iterable[EventRecord] = store.records_for(auction_id)
    else:
        records = store.all_records()
    seal_count = len(seals)
    auctions = events = 0
    for aid, group in itertools.groupby(records, key=lambda r: r.auction_id):
        chain = list(group)
        auctions += 1
        events += len(chain)
        seal, head = seals.pop(aid, None), signed.pop(aid, None)
        with _unreadable_is_a_finding(aid, findings):
            _check_auction(aid, chain, seal, head, public_hex, findings)
            if photos is not None:
                _check_photos(aid, chain, photos, findings)
    for aid in sorted(seals.keys() | signed.keys(), key=str):  # signed for, but no event left
        auctions += 1
        with _unreadable_is_a_finding(aid, findings):
            _check_auction(aid, [], seals.get(aid), signed.get(aid), public_hex, findings)
    if auction_id is not None and auctions == 0:
        raise NotFound(f"no auction {auction_id!r} in this ledger")
    return AuditReport(
        ok=not findings.items,
        auctions=auctions,
        events=events,
        findings=findings.items,
        seals=seal_count,
        checkpoints=kinds["checkpoint"],
        batches=kinds["batch"],
        key_source=key_source,
        public_key=public_hex,
    )


class _Findings:
    """Findings, at most one per (auction, seq): the first (most specific) kind wins."""

    def __init__(self) -> None:
        self.items: list[Finding] = []
        self._seen: set[tuple[str | None, int | None]] = set()

    def add(self, auction_id: str | None, seq: object, kind: str, message: str) -> None:
        if seq is not None and type(seq) is not int:  # a seq column edited to another type
            seq, message = None, f"{message} (stored seq {seq!r})"
        key = (auction_id, seq)
        if auction_id is None or key not in self._seen:
            self._seen.add(key)
            self.items.append(Finding(auction_id, seq, kind, message))

    def add_range(self, auction_id: str, seqs: Iterable[int], kind: str, message: str) -> None:
        for seq in seqs:
            self.add(auction_id, seq, kind, message)


Signed = tuple[int, int, str] | None
"""An auction's highest signed head: (signed record number, seq, hash hex), or None."""


def _check_checkpoints(
    checkpoints: Iterable[CheckpointRecord],
    public_hex: str | None,
    findings: _Findings,
    kinds: Counter[str],
) -> dict[str, Signed]:
    """Verify the chain of signed records (batch records and checkpoints); return, per auction,
    the highest head a validly signed record names (a broken link is reported, but the house did
    sign that record, so its heads still count)."""
    signed: dict[str, Signed] = {}
    prev, expected = payload_digest(None), 1
    for record in checkpoints:
        payload = bytes(record.payload) if isinstance(record.payload, bytes) else b""
        number = record.number
        try:
            data = decode_json(payload)
            heads = data["heads"]
            ok = (
                public_hex is not None
                and verify(public_hex, payload, record.signature)
                and data["number"] == number
                and isinstance(heads, dict)
            )
        except (LedgerError, KeyError, TypeError):
            ok = False
        if not ok:
            findings.add(None, number, "bad_checkpoint", f"signed record {number}: bad signature")
        else:
            kinds[str(data.get("kind"))] += 1
            if number != expected or data.get("prev") != prev:
                msg = f"signed record {number}: the one before it is missing or was changed"
                findings.add(None, number, "bad_checkpoint", msg)
            for aid, entry in heads.items():
                if isinstance(entry, list) and len(entry) == 2 and type(entry[0]) is int:
                    best = signed.get(aid)
                    if best is None or entry[0] >= best[1]:
                        signed[aid] = (number, entry[0], str(entry[1]))
        prev = payload_digest(payload)
        expected = number + 1 if type(number) is int else expected + 1
    return signed


@contextmanager
def _unreadable_is_a_finding(aid: str, findings: _Findings) -> Iterator[None]:
    try:
        yield
    except (TypeError, ValueError, OverflowError) as exc:  # columns edited to the wrong type
        findings.add(aid, None, "edited", f"records no longer readable as a chain: {exc}")


def _check_auction(
    aid: str,
    chain: list[EventRecord],
    seal: SealRecord | None,
    signed: Signed,
    public_hex: str | None,
    findings: _Findings,
) -> None:
    # A forged seq far past anything this chain could hold (signed heads + its own rows) is
    # reported and set aside, so that no gap of a billion seqs is ever enumerated.
    bound = (signed[1] if signed else 0) + len(chain)
    events = []
    for record, event in _decode(aid, chain, findings):
        if event.seq <= bound:
            events.append((record, event))
        else:
            findings.add(aid, record.seq, "edited", f"the event claims seq {event.seq}")
    by_seq: dict[int, list[tuple[EventRecord, Event]]] = {}
    for record, event in events:
        by_seq.setdefault(event.seq, []).append((record, event))
    tip = max(by_seq, default=0)
    gaps = [s for s in range(1, tip + 1) if s not in by_seq]
    findings.add_range(aid, gaps, "deleted", "this event is missing from the chain")
    dups = [s for s, found in by_seq.items() if len(found) > 1]
    findings.add_range(aid, dups, "inserted", "more than one event claims this seq")
    _check_order(aid, events, findings)
    _check_mandates(aid, events, findings)
    hashes: dict[int, bytes] = {}
    for seq in sorted(by_seq):
        preds = [GENESIS] if seq == 1 else [r.hash for r, _ in by_seq.get(seq - 1, [])]
        for record, event in by_seq[seq]:
            hashes[seq] = record.hash
            if preds and not any(link(p, canonical_bytes(event)) == record.hash for p in preds):
                findings.add(aid, seq, "edited", "the event does not hash to its chain link")
    if not gaps and not dups:
        for record, event in events:
            if record.seq != event.seq:
                msg = f"stored as seq {record.seq}, the event says {event.seq}"
                findings.add(aid, record.seq, "edited", msg)
    closed = [e.seq for _, e in events if type(e) in CLOSING_EVENTS]
    if closed:
        after = range(min(closed) + 1, tip + 1)
        findings.add_range(aid, after, "inserted", "an event after the auction closed")
    seal_seq = _check_seal(aid, seal, closed, tip, hashes, public_hex, findings)
    if signed is not None:
        number, seq, digest = signed
        if seq > tip:
            msg = f"signed record {number} signed seq {seq}; the chain ends at {tip}"
            findings.add_range(aid, range(tip + 1, seq + 1), "truncated", msg)
        elif seq in hashes and hashes[seq].hex() != digest:
            msg = f"differs from signed record {number}: the chain was rewritten up to here"
            findings.add(aid, seq, "edited", msg)
    if public_hex is not None:
        covered = max(signed[1] if signed else 0, seal_seq or 0)
        msg = "no record signed by the house covers this event"
        findings.add_range(aid, range(covered + 1, tip + 1), "inserted", msg)


def _check_photos(
    aid: str, chain: list[EventRecord], photos: PhotoStore, findings: _Findings
) -> None:
    """The photos the auction's ``AuctionCreated`` names (by SHA-256, so its chain link covers
    them): each file must be there and still hash to its digest."""
    for record in chain:
        if record.seq != 1:
            continue
        try:
            event = decode_event(record.body)
        except LedgerError:
            return  # reported by _check_auction
        if type(event) is not AuctionCreated or not event.photos:
            return
        problems = [p for p in (photos.problem(d) for d in event.photos) if p is not None]
        if problems:
            findings.add(aid, None, "photo", "; ".join(problems))
        return


def _decode(
    aid: str, chain: list[EventRecord], findings: _Findings
) -> Iterator[tuple[EventRecord, Event]]:
    for record in chain:
        try:
            event = decode_event(record.body)
            ok = (
                event.auction_id == aid
                and type(event.seq) is int
                and event.seq >= 1
                and isinstance(record.hash, bytes)
            )
        except LedgerError:
            ok = False
        if ok:
            yield record, event
        else:
            findings.add(aid, record.seq, "edited", "not a valid event of this auction")


def _check_mandates(aid: str, events: list[tuple[EventRecord, Event]], findings: _Findings) -> None:
    """Every mobile agent's bid against its owner's signed mandate, filed in this chain with
    the agent's first bid (seed 004)."""
    filed: dict[str, Mandate | str] = {}  # digest -> the mandate, or why it is unusable
    for _, event in events:
        if type(event) is not BidPlaced:
            continue
        if event.mandate is None:
            if event.bidder.startswith(ACCOUNT_PREFIX):
                msg = f"{event.bidder} is an owner-key account: its bids need a mandate"
                findings.add(aid, event.seq, "mandate", msg)
            elif event.mandate_doc is not None:
                findings.add(aid, event.seq, "mandate", "a mandate without its digest")
            continue
        if event.mandate_doc is not None and event.mandate not in filed:
            filed[event.mandate] = _read_mandate(event.mandate, event.mandate_doc)
        mandate = filed.get(event.mandate)
        if mandate is None:
            problem: str | None = "no mandate with this digest was filed before this bid"
        elif isinstance(mandate, str):
            problem = mandate
        else:
            problem = bid_problem(mandate, event.bidder, event.amount, event.proxy_max, event.at)
        if problem is not None:
            findings.add(aid, event.seq, "mandate", f"agent bid outside its mandate: {problem}")


def _read_mandate(digest: str, text: str) -> Mandate | str:
    try:
        raw = decode_json(text)
        if mandate_digest(raw) != digest:
            return "the filed mandate does not hash to the bid's digest"
        return parse_mandate(raw)
    except AuctionhouseError as exc:  # malformed JSON, a non-canonical value, a bad mandate
        return exc.message


def _check_order(aid: str, events: list[tuple[EventRecord, Event]], findings: _Findings) -> None:
    """In stored order (seq column) the events' own seqs and the append order must increase."""
    for (r0, e0), (r1, e1) in itertools.pairwise(events):
        if e1.seq < e0.seq:
            msg = f"seq {e1.seq} is stored after seq {e0.seq}"
            findings.add_range(aid, (e1.seq, e0.seq), "reordered", msg)
        elif r1.pos < r0.pos:
            msg = f"seq {e1.seq} was appended before seq {e0.seq}"
            findings.add_range(aid, (e0.seq, e1.seq), "reordered", msg)


def _check_seal(
    aid: str,
    seal: SealRecord | None,
    closed: list[int],
    tip: int,
    hashes: dict[int, bytes],
    public_hex: str | None,
    findings: _Findings,
) -> int | None:
    """Check the close seal; return the seq it validly signs (None: no valid seal)."""
    if seal is None:
        for seq in closed:
            findings.add(aid, seq, "missing_seal", "the auction closed but its seal is gone")
        return None
    try:
        data = decode_json(seal.payload)
        ok = (
            public_hex is not None
            and verify(public_hex, bytes(seal.payload), seal.signature)
            and data["auction_id"] == aid
            and data["seq"] == seal.seq
            and data.get("kind") == "seal"
        )
    except (LedgerError, KeyError, TypeError):
        ok = False
    if not ok:
        findings.add(aid, seal.seq, "bad_seal", "the close seal's signature does not verify")
        return None
    seq, digest = int(data["seq"]), str(data["hash"])
    if seq > tip:
        msg = f"the close seal signed seq {seq}; the chain ends at {tip}"
        findings.add_range(aid, range(tip + 1, seq + 1), "truncated", msg)
    elif seq in hashes and hashes[seq].hex() != digest:
        findings.add(aid, seq, "edited", "differs from the close seal: the chain was rewritten")
    if seq < tip:
        msg = f"after the sealed head (seq {seq})"
        findings.add_range(aid, range(seq + 1, tip + 1), "inserted", msg)
    return seq
