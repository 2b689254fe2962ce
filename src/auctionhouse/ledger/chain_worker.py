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

With ``--pages N`` it also hands the replay what it read, so that the file is read once: per
page of N rows a frame (``FRAME``: rows, first and last ``pos``, length) and the page's bodies
as one JSON array (``[body,body,...]``, the stored bytes as they were hashed), then an empty
frame, then the JSON object. The replaying process decodes the frames instead of reading the
file itself; the bytes it decodes are the very bytes hashed here.
"""

from __future__ import annotations

import json
import sqlite3
import struct
import sys
from hashlib import sha256
from pathlib import Path
from typing import BinaryIO

MIN_EVENTS = 50_000
"""Ledgers with fewer events are hashed in the replaying process (a process costs more)."""

GENESIS = bytes(32)


FRAME = struct.Struct("<Iqqq")
"""A page's frame: rows, first pos, last pos, length of the JSON array that follows."""


def chain_heads(
    path: Path, out: BinaryIO | None = None, page_rows: int = 4096
) -> tuple[dict[str, str], int]:
    """Each auction's re-derived chain head (hex) and the rows read, in ``pos`` order; with
    ``out``, every page read is written to it as a frame and its bodies (then an empty
    frame). A body that is not bytes (an edited row) stops the worker with an error."""
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        heads: dict[str, bytes] = {}
        get = heads.get
        rows = 0
        cursor = db.execute("SELECT auction_id, body, pos FROM ledger_events ORDER BY pos")
        while True:
            page = cursor.fetchmany(page_rows)
            if not page:
                break
            rows += len(page)
            for aid, body, _pos in page:
                heads[aid] = sha256(get(aid, GENESIS) + body).digest()
            if out is not None:
                bodies = b"".join((b"[", b",".join([row[1] for row in page]), b"]"))
                out.write(FRAME.pack(len(page), page[0][2], page[-1][2], len(bodies)))
                out.write(bodies)
        if out is not None:
            out.write(FRAME.pack(0, 0, 0, 0))
    finally:
        db.close()
    return {aid: digest.hex() for aid, digest in heads.items()}, rows


if __name__ == "__main__":
    stream = sys.stdout.buffer if sys.argv[2:3] == ["--pages"] else None
    found, count = chain_heads(Path(sys.argv[1]), stream, int(sys.argv[3]) if stream else 4096)
    sys.stdout.buffer.write(json.dumps({"heads": found, "rows": count}).encode())
