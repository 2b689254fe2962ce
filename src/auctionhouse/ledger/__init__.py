"""The ledger: canonical events, a hash chain per auction, durable stores, seals and the audit.

``Ledger(store, key).append(events)`` records a batch of events (of any auctions) in one durable
transaction: each event's hash is ``sha256(prev_hash || canonical_bytes(event))`` and a closing
event gets the auction's chain head signed by the house key. ``checkpoint(at)`` signs the heads.
``audit_database(path)`` re-derives everything and names each tampered auction and seq.
See docs/ledger.md.
"""

from auctionhouse.ledger.audit import AuditReport, Finding, audit_database, audit_store
from auctionhouse.ledger.encoding import GENESIS, canonical_bytes, decode_event
from auctionhouse.ledger.keys import HouseKey, load_public_key
from auctionhouse.ledger.ledger import Ledger
from auctionhouse.ledger.sqlite import SQLiteStore
from auctionhouse.ledger.store import (
    CheckpointRecord,
    EventRecord,
    MemoryStore,
    SealRecord,
    Store,
)

__all__ = [
    "GENESIS",
    "AuditReport",
    "CheckpointRecord",
    "EventRecord",
    "Finding",
    "HouseKey",
    "Ledger",
    "MemoryStore",
    "SQLiteStore",
    "SealRecord",
    "Store",
    "audit_database",
    "audit_store",
    "canonical_bytes",
    "decode_event",
    "load_public_key",
]
