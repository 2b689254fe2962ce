"""The storage interface of the ledger and its in-memory backend.

A store keeps four things: event records (global append order ``pos``, ``auction_id``, ``seq``,
canonical ``body`` bytes, 32-byte chain ``hash``), close seals (one per auction), checkpoints (in
order) and a little metadata (the house public key). It knows nothing of hashing or signing: the
``Ledger`` computes everything and the store only makes it durable, all or nothing per ``append``.
Every backend passes the same contract suite (tests/ledger/test_ledger_store.py).
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from typing import NamedTuple, Protocol

from auctionhouse.errors import LedgerError, SequenceConflict


class EventRecord(NamedTuple):
    """One stored event: what the store keeps and the audit re-checks."""

    pos: int
    auction_id: str
    seq: int
    body: bytes
    hash: bytes


class SealRecord(NamedTuple):
    """The house's signature of an auction's chain head at close."""

    auction_id: str
    seq: int
    payload: bytes
    signature: str


class CheckpointRecord(NamedTuple):
    """A signed record of chain heads, ``number`` counting from 1: a batch record (written with
    each append) or a periodic checkpoint; both form one chain."""

    number: int
    at: float
    payload: bytes
    signature: str


NewEvent = tuple[str, int, bytes, bytes]
"""What ``append`` takes per event: ``(auction_id, seq, body, hash)``."""

PAGE = 4096
"""Events read per query when iterating the whole ledger."""


class Store(Protocol):
    """What the ``Ledger`` and the audit need of a backend."""

    def append(
        self,
        events: Sequence[NewEvent],
        seals: Sequence[SealRecord] = (),
        checkpoint: CheckpointRecord | None = None,
    ) -> None:
        """Make ``events``, ``seals`` and ``checkpoint`` durable in one transaction, or nothing.

        A ``(auction_id, seq)``, seal or checkpoint number that exists already raises
        ``SequenceConflict``.
        """
        ...

    def add_checkpoint(self, checkpoint: CheckpointRecord) -> None: ...

    def page(self, after_pos: int, limit: int = PAGE) -> list[tuple[int, bytes]]:
        """Up to ``limit`` ``(pos, body)`` pairs with ``pos > after_pos``, in ``pos`` order."""
        ...

    def keyed_page(self, after_pos: int, limit: int = PAGE) -> list[tuple[int, bytes, str, int]]:
        """``page`` with each row's stored ``auction_id`` and ``seq`` columns: ``(pos, body,
        auction_id, seq)`` (the start-up pass checks them against the event, decision 0010)."""
        ...

    def records_for(self, auction_id: str, after_seq: int = 0) -> list[EventRecord]:
        """One auction's records with ``seq > after_seq``, in ``seq`` order."""
        ...

    def record_at(self, pos: int) -> EventRecord | None:
        """The record at global position ``pos`` (None when there is none)."""
        ...

    def all_records(self) -> Iterator[EventRecord]:
        """Every record, ordered by auction then ``seq`` (then ``pos``), streamed."""
        ...

    def heads(self) -> dict[str, tuple[int, bytes]]:
        """Each auction's highest ``seq`` and that record's hash."""
        ...

    def seals(self) -> list[SealRecord]: ...

    def seal(self, auction_id: str) -> SealRecord | None: ...

    def sealed_auctions(self) -> set[str]: ...

    def checkpoints(self) -> Iterator[CheckpointRecord]:
        """Every signed record (batch records and checkpoints), in ``number`` order, streamed."""
        ...

    def last_checkpoint(self) -> CheckpointRecord | None: ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def count(self) -> int:
        """How many event records are stored."""
        ...

    def close(self) -> None: ...


class MemoryStore:
    """The store contract in memory (tests, simulations): durable for the life of the object."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[EventRecord] = []
        self._by_auction: dict[str, list[EventRecord]] = {}
        self._seals: dict[str, SealRecord] = {}
        self._checkpoints: list[CheckpointRecord] = []
        self._meta: dict[str, str] = {}
        self._closed = False

    def append(
        self,
        events: Sequence[NewEvent],
        seals: Sequence[SealRecord] = (),
        checkpoint: CheckpointRecord | None = None,
    ) -> None:
        with self._lock:
            self._check_open()
            fresh: set[tuple[str, int]] = set()
            for auction_id, seq, _body, _hash in events:
                chain = self._by_auction.get(auction_id)
                if (chain and chain[-1].seq >= seq) or (auction_id, seq) in fresh:
                    raise SequenceConflict(f"{auction_id} already has event {seq}")
                fresh.add((auction_id, seq))
            sealed = {s.auction_id for s in seals}
            if len(sealed) != len(seals) or sealed & self._seals.keys():
                raise SequenceConflict(f"already sealed: {sorted(sealed & self._seals.keys())}")
            if checkpoint is not None:
                self._check_checkpoint_number(checkpoint)
            pos = len(self._records)
            for auction_id, seq, body, digest in events:
                pos += 1
                record = EventRecord(pos, auction_id, seq, bytes(body), bytes(digest))
                self._records.append(record)
                self._by_auction.setdefault(auction_id, []).append(record)
            for seal in seals:
                self._seals[seal.auction_id] = seal
            if checkpoint is not None:
                self._checkpoints.append(checkpoint)

    def add_checkpoint(self, checkpoint: CheckpointRecord) -> None:
        with self._lock:
            self._check_open()
            self._check_checkpoint_number(checkpoint)
            self._checkpoints.append(checkpoint)

    def _check_checkpoint_number(self, checkpoint: CheckpointRecord) -> None:
        if self._checkpoints and self._checkpoints[-1].number >= checkpoint.number:
            raise SequenceConflict(f"checkpoint {checkpoint.number} exists already")

    def page(self, after_pos: int, limit: int = PAGE) -> list[tuple[int, bytes]]:
        with self._lock:
            self._check_open()
            chunk = self._records[max(after_pos, 0) : max(after_pos, 0) + limit]
            return [(r.pos, r.body) for r in chunk]

    def keyed_page(self, after_pos: int, limit: int = PAGE) -> list[tuple[int, bytes, str, int]]:
        with self._lock:
            self._check_open()
            chunk = self._records[max(after_pos, 0) : max(after_pos, 0) + limit]
            return [(r.pos, r.body, r.auction_id, r.seq) for r in chunk]

    def records_for(self, auction_id: str, after_seq: int = 0) -> list[EventRecord]:
        with self._lock:
            self._check_open()
            chain = self._by_auction.get(auction_id, [])
            return chain[bisect_right(chain, after_seq, key=_seq) :]

    def record_at(self, pos: int) -> EventRecord | None:
        with self._lock:
            self._check_open()
            found = self._records[pos - 1] if 0 < pos <= len(self._records) else None
            return found if found is not None and found.pos == pos else None

    def all_records(self) -> Iterator[EventRecord]:
        with self._lock:
            self._check_open()
            ids = sorted(self._by_auction)
        for auction_id in ids:
            yield from self.records_for(auction_id)

    def heads(self) -> dict[str, tuple[int, bytes]]:
        with self._lock:
            self._check_open()
            return {a: (c[-1].seq, c[-1].hash) for a, c in self._by_auction.items()}

    def seals(self) -> list[SealRecord]:
        with self._lock:
            self._check_open()
            return list(self._seals.values())

    def seal(self, auction_id: str) -> SealRecord | None:
        with self._lock:
            self._check_open()
            return self._seals.get(auction_id)

    def sealed_auctions(self) -> set[str]:
        with self._lock:
            self._check_open()
            return set(self._seals)

    def checkpoints(self) -> Iterator[CheckpointRecord]:
        with self._lock:
            self._check_open()
            return iter(list(self._checkpoints))

    def last_checkpoint(self) -> CheckpointRecord | None:
        with self._lock:
            self._check_open()
            return self._checkpoints[-1] if self._checkpoints else None

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            self._check_open()
            return self._meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._check_open()
            self._meta[key] = value

    def count(self) -> int:
        with self._lock:
            return len(self._records)

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise LedgerError("the ledger store is closed")


def _seq(record: EventRecord) -> int:
    return record.seq
