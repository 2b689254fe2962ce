"""The house key's seal over account rows: what is signed, and how a row is checked.

An account row is not an auction event, but its role, password hash and public key decide who
may do what, so the house signs each row (``account_payload``) whenever it changes and checks
every row when it starts; ``audit_database`` checks them too. The house layer writes the rows
(``house/accounts.py``); this module only defines the payload, so that the audit needs nothing
above the ledger. Decision: docs/decisions/0006-i10c-ledger-startup-checks.md.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from auctionhouse.errors import AuctionhouseError
from auctionhouse.ledger.encoding import canonical_json
from auctionhouse.ledger.keys import verify

ACCOUNT_COLUMNS = "id, password_hash, role, public_key, created_at, strikes"
"""The sealed columns, in ``account_payload``'s argument order."""


def account_payload(
    account_id: object,
    password_hash: object,
    role: object,
    public_key: object,
    created_at: object,
    strikes: object,
) -> bytes:
    """The canonical bytes the house key signs for one account row."""
    return canonical_json(
        {
            "kind": "account",
            "id": account_id,
            "password_hash": password_hash,
            "role": role,
            "public_key": public_key,
            "created_at": created_at,
            "strikes": strikes,
        }
    )


def check_account_rows(rows: Iterable[Sequence[object]], public_hex: str | None) -> list[str]:
    """One line per row (``ACCOUNT_COLUMNS`` then ``seal``) whose seal does not verify."""
    problems = []
    for row in rows:
        *columns, seal = row
        try:
            ok = public_hex is not None and verify(public_hex, account_payload(*columns), seal)
        except (AuctionhouseError, TypeError, ValueError):  # a column JSON cannot hold
            ok = False
        if not ok:
            what = "unsealed" if seal is None else "its seal does not verify"
            problems.append(
                f"account {columns[0]!r}: the row (role, password, key or strikes) was changed"
                f" outside the house ({what})"
            )
    return problems


def audit_account_rows(db_path: Path, public_hex: str | None) -> list[str]:
    """Check the ``accounts`` table of the house file at ``db_path`` (read-only); a file with
    no accounts table (a bare ledger) has nothing to check."""
    try:
        db = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return [f"the accounts cannot be read: {exc}"]
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(accounts)")}
        if not columns:
            return []
        if "seal" not in columns:
            return ["the accounts are unsealed (a file from before account seals)"]
        rows = db.execute(f"SELECT {ACCOUNT_COLUMNS}, seal FROM accounts ORDER BY id").fetchall()
    except sqlite3.Error as exc:
        return [f"the accounts cannot be read: {exc}"]
    finally:
        db.close()
    return check_account_rows(rows, public_hex)
