"""The hash chains of an SQLite ledger, re-derived in a process of its own while a start replays.

A start reads every event anyway, decodes it and folds it in; the chain check (``sha256(prev ||
body)`` per event, ledger/verify.py) is a sixth of that work and needs nothing the replay builds.
On a ledger of ``MIN_EVENTS`` or more, ``Verification`` runs this script on the file (read-only)
and skips the hashing in its pass: the two run on two cores. It prints one JSON object, each
auction's head (the last link, hex) and how many rows it read; the verification compares it with
what its own pass saw and, on any difference or failure, hashes in its own process after all (the
exact path, which also names what broke). Run by path (``python -P .../chain_worker.py FILE``) so
that it imports nothing of the house: it starts in a few hundredths of a second.

The chain is taken per ``auction_id`` column; an edit of that column or of a body changes some
chain, so the heads no longer match the signed ones either way.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from hashlib import sha256
from pathlib import Path

MIN_EVENTS = 50_000
"""Ledgers with fewer events are hashed in the replaying process (a process costs more)."""

GENESIS = bytes(32)


def chain_heads(path: Path) -> tuple[dict[str, str], int]:
    """Each auction's re-derived chain head (hex) and the rows read, in ``pos`` order."""
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        heads: dict[str, bytes] = {}
        get = heads.get
        rows = 0
        cursor = db.execute("SELECT auction_id, body FROM ledger_events ORDER BY pos")
        while True:
            page = cursor.fetchmany(4096)
            if not page:
                break
            rows += len(page)
            for aid, body in page:
                heads[aid] = sha256(get(aid, GENESIS) + body).digest()
    finally:
        db.close()
    return {aid: digest.hex() for aid, digest in heads.items()}, rows


if __name__ == "__main__":
    found, count = chain_heads(Path(sys.argv[1]))
    sys.stdout.write(json.dumps({"heads": found, "rows": count}))
