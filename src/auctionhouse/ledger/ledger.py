"""The ``Ledger``: hash-chains events, seals closed auctions, signs checkpoints, over any store.

Thread-safe: one lock orders appends and checkpoints. The ledger keeps every auction's head
(seq, hash) in memory, so an append costs one encode, one sha256 and one row per event, and one
transaction (one fsync) and one Ed25519 signature (the batch record) per batch: that batch is the
house's group commit.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from hashlib import sha256

from auctionhouse.auction import Event
from auctionhouse.auction.events import CLOSING_EVENTS
from auctionhouse.errors import InvalidRequest, LedgerError, ReadOnly, SequenceConflict
from auctionhouse.ledger.encoding import (
    GENESIS,
    canonical_bytes,
    canonical_json,
    decode_event,
    decode_json,
    link,
)
from auctionhouse.ledger.keys import HouseKey
from auctionhouse.ledger.store import PAGE, CheckpointRecord, NewEvent, SealRecord, Store
from auctionhouse.ledger.verify import Verification

FORMAT = "1"
META_FORMAT = "format"
META_PUBLIC_KEY = "public_key"


def seal_payload(auction_id: str, seq: int, head: bytes, at: float) -> bytes:
    """What the house signs when an auction closes: its chain head."""
    return canonical_json(
        {"kind": "seal", "auction_id": auction_id, "seq": seq, "hash": head.hex(), "at": at}
    )


def checkpoint_payload(
    kind: str, number: int, at: float, prev: str, heads: dict[str, tuple[int, bytes]]
) -> bytes:
    """What the house signs in record ``number`` of the signed chain: a ``batch`` record (the
    heads one append moved, in the same transaction) or a ``checkpoint`` (the heads that moved
    since the last checkpoint; all heads in the first one after a start). ``prev`` is the sha256
    of record ``number - 1``'s payload, so that no record can go missing unseen."""
    return canonical_json(
        {
            "kind": kind,
            "number": number,
            "at": at,
            "prev": prev,
            "heads": {a: [seq, digest.hex()] for a, (seq, digest) in sorted(heads.items())},
        }
    )


def payload_digest(payload: bytes | None) -> str:
    """The ``prev`` a checkpoint names: sha256 of the previous checkpoint's payload."""
    return sha256(payload).hexdigest() if payload is not None else GENESIS.hex()


class Ledger:
    """Append-only, hash-chained, signed event log over a ``Store``.

    ``read_only=True`` (``serve --read-only``): nothing is ever written (``append`` and
    ``checkpoint`` raise ``ReadOnly``); ``key`` may then be None, and the key recorded in the
    store is the one signatures are checked against (weaker: see docs/ledger.md).
    """

    def __init__(self, store: Store, key: HouseKey | None, *, read_only: bool = False) -> None:
        self._store = store
        self.read_only = read_only
        self._lock = threading.Lock()
        stored_key = store.get_meta(META_PUBLIC_KEY)
        if key is None and not read_only:
            raise InvalidRequest("a ledger that writes needs the house key")
        if key is not None and stored_key is not None and stored_key != key.public_hex:
            raise LedgerError(
                "this ledger was signed with another house key "
                f"({stored_key[:16]}..., this key is {key.public_hex[:16]}...)"
            )
        stored_format = store.get_meta(META_FORMAT)
        if stored_format is not None and stored_format != FORMAT:  # never read as format 1
            raise LedgerError(
                f"this ledger's format is {stored_format[:16]!r}; this version reads format"
                f" {FORMAT} (a newer version's ledger, or an edited one)"
            )
        if stored_key is None and not read_only:
            assert key is not None
            store.set_meta(META_FORMAT, FORMAT)
            store.set_meta(META_PUBLIC_KEY, key.public_hex)
        self._key = key
        self.trusted_public_hex: str | None = key.public_hex if key is not None else stored_key
        self.problems: list[str] = []
        self._verification: Verification | None = None
        self._heads: dict[str, tuple[int, bytes]] = {}
        self._sealed: set[str] = set()
        self._checkpoint_number = 0
        self._checkpoint_prev = payload_digest(None)
        self._unreadable: LedgerError | None = None
        try:
            self._reload()
        except LedgerError as exc:  # a damaged file: replay() names where, append refuses
            self._unreadable = exc
        self._moved: set[str] = set(self._heads)  # heads the next checkpoint must sign

    def _reload(self) -> None:
        self._heads = self._store.heads()
        self._sealed = self._store.sealed_auctions()
        last = self._store.last_checkpoint()
        if last is not None:
            self._checkpoint_number = last.number
            self._checkpoint_prev = payload_digest(bytes(last.payload))

    @property
    def store(self) -> Store:
        return self._store

    @property
    def public_hex(self) -> str:
        return self.trusted_public_hex or ""

    def _signer(self) -> HouseKey:
        if self.read_only or self._key is None:
            raise ReadOnly("the house serves this ledger read-only: nothing is written")
        if self._unreadable is not None:
            raise self._unreadable
        return self._key

    def sign(self, payload: bytes) -> str:
        """The house key's signature of ``payload`` (hex); ``ReadOnly`` without a key."""
        return self._signer().sign(payload)

    def sign_statement(self, context: bytes, payload: bytes) -> str:
        """The house key's signature (hex) of ``context + payload``: the house speaking outside
        its ledger (a mobile agent's trip log entry, receipt or refusal). ``context`` is a line
        ending in a newline that names the statement's kind, so no such signature can pass for a
        seal or a checkpoint (those sign bare JSON objects)."""
        if not context.endswith(b"\n") or context.startswith((b"{", b"[")):
            raise ValueError("a statement's context is one line ending in a newline")
        return self._signer().sign(context + payload)

    def append(self, events: Sequence[Event]) -> None:
        """Record ``events`` (of one or many auctions) in one durable transaction.

        Per auction each ``seq`` must be the last one + 1, else ``SequenceConflict`` and nothing
        is written. In the same transaction: a signed batch record of the heads this batch
        moved, and for each ``AuctionClosed`` (or ``MarketClosed``) the signed seal of its
        chain's head. Returns once the transaction is durable (fsync'd for SQLite).
        """
        if isinstance(events, str | bytes) or not isinstance(events, Sequence):
            raise InvalidRequest("append takes a sequence of events")
        if not events:
            return
        self._signer()
        with self._lock:
            rows, seals, new_heads = self._prepare(events)
            at = max(event.at for event in events)
            batch = self._signed_record("batch", at, new_heads)
            try:
                self._store.append(rows, seals, batch)
            except SequenceConflict:
                self._reload()  # another writer moved a head: later appends see the truth
                raise
            self._advance(batch)
            self._heads.update(new_heads)
            self._moved.update(new_heads)
            self._sealed.update(seal.auction_id for seal in seals)

    def absorb(
        self,
        heads: dict[str, tuple[int, bytes]],
        closed: set[str],
        last: CheckpointRecord | None,
    ) -> None:
        """Take in what another writer of a shared store appended: the heads its records moved
        (a head only ever moves forward), the auctions it closed, and the newest signed record
        (``None``: keep ours). Called by the shared house under the store's writer lock, so
        the next ``append`` chains onto the true heads and the true signed-record chain."""
        with self._lock:
            for auction_id, (seq, digest) in heads.items():
                if seq > self._heads.get(auction_id, (0, b""))[0]:
                    self._heads[auction_id] = (seq, digest)
            self._sealed.update(closed)
            if last is not None and last.number > self._checkpoint_number:
                self._advance(last)

    def _prepare(
        self, events: Sequence[Event]
    ) -> tuple[list[NewEvent], list[SealRecord], dict[str, tuple[int, bytes]]]:
        heads = self._heads
        new_heads: dict[str, tuple[int, bytes]] = {}
        rows: list[NewEvent] = []
        closing: dict[str, float] = {}
        start = (0, GENESIS)
        for event in events:
            body = canonical_bytes(event)  # refuses non-events
            auction_id = event.auction_id
            if not isinstance(auction_id, str) or not auction_id:
                raise InvalidRequest("an event's auction_id must be a non-empty string")
            if type(event.at) not in (int, float):
                raise InvalidRequest("an event's at must be a time in seconds")
            last_seq, last_hash = new_heads.get(auction_id) or heads.get(auction_id, start)
            if event.seq != last_seq + 1 or type(event.seq) is not int:
                raise SequenceConflict(
                    f"auction {auction_id}: event seq {event.seq!r} is not {last_seq + 1}",
                    auction_id=auction_id,
                    expected=last_seq + 1,
                )
            if auction_id in self._sealed or auction_id in closing:
                raise SequenceConflict(f"auction {auction_id} is closed: nothing may follow")
            digest = link(last_hash, body)
            rows.append((auction_id, event.seq, body, digest))
            new_heads[auction_id] = (event.seq, digest)
            if type(event) in CLOSING_EVENTS:  # an auction's close, or a market's
                closing[auction_id] = event.at
        seals = []
        for auction_id, at in closing.items():
            seq, head = new_heads[auction_id]
            payload = seal_payload(auction_id, seq, head, at)
            seals.append(SealRecord(auction_id, seq, payload, self.sign(payload)))
        return rows, seals, new_heads

    def checkpoint(self, at: float) -> None:
        """Sign and store a checkpoint of the chain heads (those that moved since the last one;
        together with their predecessors, checkpoints cover every head). When no head moved
        since the last checkpoint there is nothing new to sign and nothing is written."""
        if type(at) not in (int, float) or not math.isfinite(at):
            raise InvalidRequest("a checkpoint's at must be a time in seconds")
        self._signer()
        with self._lock:
            if not self._moved and self._checkpoint_number > 0:
                return
            record = self._signed_record("checkpoint", at, {a: self._heads[a] for a in self._moved})
            try:
                self._store.add_checkpoint(record)
            except SequenceConflict:
                self._reload()
                raise
            self._advance(record)
            self._moved.clear()

    def _signed_record(
        self, kind: str, at: float, heads: dict[str, tuple[int, bytes]]
    ) -> CheckpointRecord:
        number = self._checkpoint_number + 1
        payload = checkpoint_payload(kind, number, at, self._checkpoint_prev, heads)
        return CheckpointRecord(number, float(at), payload, self.sign(payload))

    def _advance(self, record: CheckpointRecord) -> None:
        self._checkpoint_number = record.number
        self._checkpoint_prev = payload_digest(record.payload)

    def replay(self) -> Iterator[Event]:
        """Every event in global append order, verified in the same pass (``verify.py``): hash
        chains, signed records, seals and stored heads. A ledger that fails raises
        ``TamperDetected`` (one line naming auction and seq) once the failure shows; a
        read-only ledger instead keeps the failures in ``problems`` and yields what it can
        read. Once the pass ends, the ledger appends after the heads it verified."""
        check = Verification(self._store, self.trusted_public_hex, strict=not self.read_only)
        self._verification = check
        stored = None if self._unreadable is not None else dict(self._heads)  # read at open
        return check.events(on_end=self._verified, stored_heads=stored)

    def _verified(self, check: Verification) -> None:
        self.problems = check.problems
        with self._lock:
            self._heads = {aid: (check.seqs[aid], h) for aid, h in check.hashes.items()}
            self._sealed = set(check.closed)
            self._checkpoint_number = check.last_number
            self._checkpoint_prev = check.last_prev
            self._moved = set(self._heads)
            if not self.problems:
                self._unreadable = None

    def replay_failed(self, cause: BaseException) -> str:
        """One line naming where the ledger breaks, when replaying it raised ``cause`` (an
        event the rules cannot fold: the ledger was changed). Error path only."""
        check = self._verification or Verification(self._store, self.trusted_public_hex)
        return check.explain(cause=cause)

    def events(self) -> Iterator[Event]:
        """Every event in global append order, read a page at a time (bounded memory); not
        verified (``replay`` verifies)."""
        after = 0
        page = self._store.page
        decode = decode_event
        while True:
            rows = page(after, PAGE)
            if not rows:
                return
            after = rows[-1][0]
            yield from [decode(body) for _pos, body in rows]

    def events_for(self, auction_id: str, after_seq: int = 0) -> list[Event]:
        """One auction's events with ``seq > after_seq``, in order."""
        if not isinstance(auction_id, str) or type(after_seq) is not int:
            raise InvalidRequest("events_for takes an auction id and an int after_seq")
        return [decode_event(r.body) for r in self._store.records_for(auction_id, after_seq)]

    def heads(self) -> dict[str, tuple[int, str]]:
        """Each auction's last seq and hash (hex)."""
        with self._lock:
            return {a: (seq, digest.hex()) for a, (seq, digest) in self._heads.items()}

    def head(self, auction_id: str) -> tuple[int, str] | None:
        with self._lock:
            found = self._heads.get(auction_id)
        return (found[0], found[1].hex()) if found else None

    def is_sealed(self, auction_id: str) -> bool:
        with self._lock:
            return auction_id in self._sealed

    def seal_of(self, auction_id: str) -> dict[str, object] | None:
        """The stored seal payload of a closed auction (for receipts), or None."""
        seal = self._store.seal(auction_id)
        if seal is None:
            return None
        payload = decode_json(seal.payload)
        payload["signature"] = seal.signature
        return dict(payload)

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
