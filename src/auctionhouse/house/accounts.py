"""Accounts, roles, passwords (argon2id), sessions (bearer tokens) and public keys.

Kept in an ``accounts`` and a ``sessions`` table of the house's SQLite file (or in memory), apart
from the ledger: they are not auction events. Tokens are stored only as SHA-256 digests, so a
stolen database file does not give working sessions.

Every account row carries ``seal``: the house key's Ed25519 signature over the row (id, role,
password hash, public key, created_at, strikes; ``ledger.account_payload``), written in the same
transaction as every change. The house verifies every row when it starts and the audit does too,
so a role raised to admin by SQL, or a password hash or key swapped, is found (decision
0010-ledger-startup-checks.md). Sessions are not sealed: a session row only maps a token
digest to an account, and forging one needs the token itself.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import sqlite3
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from auctionhouse.auction.frozen import positional
from auctionhouse.errors import (
    Conflict,
    InvalidRequest,
    LedgerError,
    NotFound,
    ReadOnly,
    TamperDetected,
    Unauthorized,
)
from auctionhouse.house.signing import parse_public_key
from auctionhouse.ledger.accounts import ACCOUNT_COLUMNS, account_payload, check_account_rows

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")
"""An account name, matched in full (``fullmatch``: a ``$`` would let ``"alice\n"`` in)."""
ROLES = ("user", "admin")
NAME_RULE = "name must be 1-32 characters: lowercase letters, digits, '_', '.', '-'"


def normalize_name(name: str) -> str:
    """The one form of an account name: NFKC, then case-folded (so ``ａｌｉｃｅ``, ``Alice``
    and ``alice`` are one account). The result may still break ``NAME_RE``; ``check_name``
    refuses that. Decision: docs/decisions/0011-names.md."""
    return unicodedata.normalize("NFKC", name).casefold()


def check_name(name: object) -> str:
    """The normalised name, or ``InvalidRequest`` (control characters, spaces, a trailing
    newline, anything outside ``NAME_RE``)."""
    if not isinstance(name, str) or len(name) > 256:
        raise InvalidRequest(NAME_RULE)
    normal = normalize_name(name)
    if not NAME_RE.fullmatch(normal):
        raise InvalidRequest(NAME_RULE)
    return normal


_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    public_key TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    strikes INTEGER NOT NULL DEFAULT 0,
    seal TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_account ON sessions (account_id);
"""
PURGE_EVERY = 60.0  # seconds between sweeps of expired sessions


class Signer(Protocol):
    """What signs account rows: the house's ``Ledger`` (its key; read-only: none)."""

    @property
    def trusted_public_hex(self) -> str | None: ...

    def sign(self, payload: bytes) -> str: ...


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    role: str
    public_key: str | None
    created_at: float
    strikes: int = 0

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def to_public(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.id,
            "role": self.role,
            "public_key": self.public_key,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class Session:
    """A live session: whose it is, the SHA-256 digest of its token (never the token itself,
    so holding one leaks nothing), and when it expires (house time, seconds)."""

    account_id: str
    digest: str
    expires_at: float


_new_session = positional(Session)  # Session(...) without object.__setattr__ per field


def token_digest(token: str) -> str:
    """The hex SHA-256 of a bearer token: the only form in which the house keeps tokens."""
    return _digest(token)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_private_file(path: str | Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist (an empty file is an empty
    SQLite database): the house's file holds password hashes and session digests, so it is
    never created readable by others. SQLite gives its -wal and -shm files the same mode."""
    try:
        os.close(os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def _check_password(password: object) -> None:
    if not isinstance(password, str) or len(password) < 8 or len(password) > 1024:
        raise InvalidRequest("password must be 8 to 1024 characters")


class AccountStore:
    def __init__(
        self,
        path: str | Path | None = None,
        *,
        time_cost: int = 3,
        memory_kib: int = 65_536,
        token_ttl: float = 7 * 24 * 3600.0,
        signer: Signer | None = None,
        read_only: bool = False,
        connection: Any = None,
    ) -> None:
        """``signer``: seals every account row (the house's ledger); None only for a store
        outside a house (rows are then unsealed, and a house opening them refuses them).
        ``read_only``: the file is opened read-only and every change raises ``ReadOnly``.
        ``connection``: a ready connection speaking sqlite3's API (the shared house passes
        its PostgreSQL adapter, house/shared.py) in place of the file at ``path``."""
        self._signer = signer
        self._read_only = read_only
        self._migrated = False
        # Shared by the event loop and the writer thread of the async service: guarded by a lock.
        self._lock = threading.Lock()
        if connection is not None:
            self._db = connection
        else:
            target = ":memory:" if path is None else str(path)
            if read_only and path is not None:
                target = f"{Path(path).resolve().as_uri()}?mode=ro"
            elif path is not None:
                create_private_file(path)  # password hashes inside: owner-only from the start
            self._db = sqlite3.connect(
                target, check_same_thread=False, isolation_level=None, uri=read_only
            )
            with self._lock:
                self._db.execute("PRAGMA busy_timeout=5000")
                if not read_only:
                    self._db.execute("PRAGMA journal_mode=WAL")
                    self._db.execute("PRAGMA synchronous=FULL")
        if not read_only:
            with self._lock:
                self._db.executescript(_SCHEMA)
                self._add_seal_column()
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        self._token_ttl = token_ttl
        self._cache: dict[str, Account] = {}
        # Strikes counted and not yet written (add_strike, write_strikes), per account id.
        self._strikes: dict[str, int] = {}
        self._strike_lock = threading.Lock()  # taken inside _lock, never the other way round
        self._sessions: dict[str, tuple[str, float]] = {}
        self._purged_at = float("-inf")

    def close(self) -> None:
        """Write the strikes not written yet (``write_strikes``), then close."""
        if not self._read_only:
            try:
                self.write_strikes()
            except (LedgerError, sqlite3.Error):  # the file is failing: nothing more to do
                pass
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ seals

    def _add_seal_column(self) -> None:
        """A database from before account seals gets the column; its rows are sealed once by
        ``verify_all`` (the only time an unsealed row is accepted)."""
        try:  # both dialects (SQLite, the shared house's PostgreSQL)
            self._db.execute("SELECT seal FROM accounts WHERE 1 = 0")
        except (sqlite3.Error, LedgerError):
            self._db.execute("ALTER TABLE accounts ADD COLUMN seal TEXT")
            self._migrated = True

    def _writable(self) -> None:
        if self._read_only:
            raise ReadOnly("this house serves its ledger read-only (for inspection): no writes")

    def _reseal(self, account_id: str) -> None:
        """Sign the account's row as it now stands (inside the caller's transaction)."""
        if self._signer is None:
            return
        row = self._db.execute(
            f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?", (account_id,)
        ).fetchone()
        seal = self._signer.sign(account_payload(*row))
        self._db.execute("UPDATE accounts SET seal = ? WHERE id = ?", (seal, account_id))

    def _change(self, sql: str, params: tuple[object, ...], account_id: str) -> None:
        """One change of an account row and its new seal, in one transaction."""
        self._writable()
        if self._signer is None:  # unsealed (the shared house's accounts): one statement
            with self._lock:
                self._db.execute(sql, params)
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(sql, params)
                self._reseal(account_id)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def verify_all(self, *, strict: bool = True) -> list[str]:
        """Check every account row's seal against the house key.

        Returns the failures (one line each, naming the account); ``strict`` raises
        ``TamperDetected`` with the first instead. Rows of a database from before account
        seals are sealed now, once.
        """
        if self._signer is None:
            return []
        if self._migrated:
            with self._lock:
                for (account_id,) in self._db.execute(
                    "SELECT id FROM accounts WHERE seal IS NULL"
                ).fetchall():
                    self._reseal(account_id)
            self._migrated = False
        with self._lock:
            try:
                rows = self._db.execute(f"SELECT {ACCOUNT_COLUMNS}, seal FROM accounts").fetchall()
            except sqlite3.Error as exc:
                rows, problems = [], [f"the accounts cannot be read: {exc}"]
            else:
                problems = []
        problems += check_account_rows(rows, self._signer.trusted_public_hex)
        if strict and problems:
            raise TamperDetected(problems[0])
        return problems

    # ------------------------------------------------------------------ accounts

    def create(
        self,
        name: str,
        password: str,
        *,
        now: float,
        role: str = "user",
        public_key: str | None = None,
    ) -> Account:
        name = check_name(name)
        password_hash, public_key = self.prepare(name, password, role=role, public_key=public_key)
        return self.insert(name, password_hash, now=now, role=role, public_key=public_key)

    def prepare(
        self, name: str, password: str, *, role: str = "user", public_key: str | None = None
    ) -> tuple[str, str | None]:
        """Check a new account's fields and hash its password (slow: argon2id). Returns
        ``(password_hash, public_key normalised)``; raises ``InvalidRequest``. A replicated
        house hashes once, on the peer that took the request, and replicates the hash.
        The name is checked in its normal form (``check_name``)."""
        check_name(name)
        if not isinstance(password, str) or len(password) < 8 or len(password) > 1024:
            raise InvalidRequest("password must be 8 to 1024 characters")
        if role not in ROLES:
            raise InvalidRequest(f"role must be one of {', '.join(ROLES)}")
        if public_key is not None:
            parse_public_key(public_key)
            public_key = public_key.lower()
        return self._hasher.hash(password), public_key

    def insert(
        self,
        name: str,
        password_hash: str,
        *,
        now: float,
        role: str = "user",
        public_key: str | None = None,
    ) -> Account:
        """Store an account whose fields ``prepare`` checked, with its seal, under the name's
        normal form; raises ``Conflict`` if taken."""
        name = check_name(name)
        self._writable()
        try:
            self._change(
                "INSERT INTO accounts (id, password_hash, role, public_key, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (name, password_hash, role, public_key, now),
                name,
            )
        except sqlite3.IntegrityError:
            raise Conflict(f"the name {name!r} is taken") from None
        account = Account(name, role, public_key, now)
        self._cache[name] = account
        return account

    def create_key_account(self, account_id: str, public_key: str, *, now: float) -> Account:
        """An account known only by an Ed25519 public key (a mobile agent's owner, seed 004):
        no password (it can never log in), created once; a second call returns it unchanged.
        The caller derives ``account_id`` from the key in a form no person can register."""
        parse_public_key(public_key)
        public_key = public_key.lower()
        if not self.exists(account_id):
            # Through _change, so the new row carries its house seal like every account row
            # (a row already there is never resealed here: that would launder an edit).
            self._change(
                "INSERT INTO accounts (id, password_hash, role, public_key, created_at)"
                " VALUES (?, '!', 'user', ?, ?) ON CONFLICT (id) DO NOTHING",
                (account_id, public_key, now),
                account_id,
            )
        self._cache.pop(account_id, None)
        account = self.get(account_id)
        if account.public_key != public_key:
            raise Conflict(f"the account {account_id!r} belongs to another key")
        return account

    def get(self, account_id: str) -> Account:
        if not isinstance(account_id, str):
            raise NotFound("no such account")
        cached = self._cache.get(account_id)
        if cached is not None:
            return cached
        if len(account_id) <= 256:
            account_id = normalize_name(account_id)  # "Alice" is alice
        with self._lock:
            row = self._db.execute(
                "SELECT id, role, public_key, created_at, strikes FROM accounts WHERE id = ?",
                (account_id,),
            ).fetchone()
            if row is None:
                raise NotFound(f"no account {account_id!r}")
            with self._strike_lock:  # under _lock: a write_strikes is wholly before or after
                strikes = row[4] + self._strikes.get(row[0], 0)
        account = Account(row[0], row[1], row[2], row[3], strikes)
        self._cache[account_id] = account
        return account

    def exists(self, account_id: str) -> bool:
        try:
            self.get(account_id)
        except NotFound:
            return False
        return True

    def all_ids(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT id FROM accounts ORDER BY id")]

    def set_public_key(self, account_id: str, public_key: str) -> Account:
        parse_public_key(public_key)
        account = self.get(account_id)
        self._change(
            "UPDATE accounts SET public_key = ? WHERE id = ?",
            (public_key.lower(), account_id),
            account_id,
        )
        updated = Account(
            account.id, account.role, public_key.lower(), account.created_at, account.strikes
        )
        self._cache[account_id] = updated
        return updated

    def add_strike(self, account_id: str) -> None:
        """A security refusal (bad signature, replay, stale timestamp) counts against
        reputation: at once in memory (``get`` and so the reputation count it), on disk by the
        next ``write_strikes`` (the house calls it in every group commit, house.persist). A
        refusal so costs no transaction, fsync nor seal on the event loop: a flood of refused
        bids cannot make the loop write (issue 14; decision 0028-strikes-in-the-commit.md).
        ``ReadOnly`` in a read-only store."""
        self._writable()
        account = self.get(account_id)
        with self._strike_lock:
            self._strikes[account.id] = self._strikes.get(account.id, 0) + 1
            self._cache[account.id] = Account(
                account.id,
                account.role,
                account.public_key,
                account.created_at,
                account.strikes + 1,
            )

    def write_strikes(self) -> list[str]:
        """Write the strikes counted since the last call, in one transaction: per struck
        account one update and one new seal, however many refusals it had. Returns the
        accounts written. On failure nothing is written, the strikes stay counted for the next
        call, and the error (``LedgerError``, ``sqlite3.Error``) is raised."""
        with self._strike_lock:
            if not self._strikes:
                return []
            pending = dict(self._strikes)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for account_id, count in pending.items():
                    self._db.execute(
                        "UPDATE accounts SET strikes = strikes + ? WHERE id = ?",
                        (count, account_id),
                    )
                    self._reseal(account_id)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            with self._strike_lock:  # still under _lock: get() sees the row or the count
                for account_id, count in pending.items():
                    left = self._strikes.pop(account_id) - count
                    if left:
                        self._strikes[account_id] = left
        return list(pending)

    @property
    def unwritten_strikes(self) -> int:
        """Strikes counted and not written yet (``write_strikes``)."""
        with self._strike_lock:
            return sum(self._strikes.values())

    # ------------------------------------------------------------------ sessions

    def check_password(self, name: str, password: str) -> None:
        """Check ``password`` for ``name`` (argon2id, slow on purpose; the name compared in its
        normal form). Raises ``Unauthorized`` with one message for a wrong name or password (and
        the same cost: names cannot be probed by timing); the password is never in a message."""
        if not isinstance(name, str) or not isinstance(password, str) or len(name) > 256:
            raise Unauthorized("wrong name or password")
        name = normalize_name(name)
        with self._lock:
            row = self._db.execute(
                "SELECT password_hash FROM accounts WHERE id = ?", (name,)
            ).fetchone()
        if row is None:
            self._hasher.hash(password)
            raise Unauthorized("wrong name or password")
        try:
            self._hasher.verify(row[0], password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            raise Unauthorized("wrong name or password") from None

    def login(self, name: str, password: str, *, now: float) -> str:
        """A new bearer token for ``name`` after checking ``password``."""
        self.check_password(name, password)
        return self.open_session(normalize_name(name), now=now)

    def open_session(self, account_id: str, *, now: float) -> str:
        """A new session of ``account_id`` (already authenticated): its bearer token."""
        self._purge_expired(now)
        token = secrets.token_urlsafe(32)
        self.add_session(_digest(token), account_id, now + self._token_ttl)
        return token

    def add_session(self, token_digest: str, account_id: str, expires_at: float) -> None:
        """Store a session by its token's SHA-256 digest (``token_digest``); a read-only house
        keeps it in memory only."""
        if not self._read_only:
            with self._lock:
                self._db.execute(
                    # Standard SQL upsert: SQLite and PostgreSQL (the shared house) both speak it.
                    "INSERT INTO sessions (token_hash, account_id, expires_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (token_hash) DO UPDATE SET account_id = excluded.account_id,"
                    " expires_at = excluded.expires_at",
                    (token_digest, account_id, expires_at),
                )
        self._sessions[token_digest] = (account_id, expires_at)

    @property
    def token_ttl(self) -> float:
        return self._token_ttl

    def session(self, token: str | None, *, now: float) -> Session:
        """The live session of ``token``; ``Unauthorized`` if unknown, revoked or expired."""
        if not token or not isinstance(token, str):
            raise Unauthorized("a bearer token is required")
        return self.session_by_digest(_digest(token), now=now)

    def session_by_digest(self, digest: str, *, now: float) -> Session:
        hit = self._sessions.get(digest)
        if hit is None:
            with self._lock:
                row = self._db.execute(
                    "SELECT account_id, expires_at FROM sessions WHERE token_hash = ?", (digest,)
                ).fetchone()
            if row is None:
                raise Unauthorized("unknown or expired token")
            hit = (row[0], row[1])
            self._sessions[digest] = hit
        account_id, expires = hit
        if now >= expires:
            raise Unauthorized("unknown or expired token")
        return _new_session(account_id, digest, expires)  # asked before every socket command

    def authenticate(self, token: str | None, *, now: float) -> Account:
        return self.get(self.session(token, now=now).account_id)

    def logout(self, token: str) -> Session | None:
        """Revoke one session (its token stops working at once); the session it was, if any."""
        return self.logout_digest(_digest(token))

    def logout_digest(self, digest: str) -> Session | None:
        """``logout`` by the token's digest (a replicated logout carries the digest only)."""
        hit = self._sessions.pop(digest, None)
        if not self._read_only:
            with self._lock:
                row = self._db.execute(
                    "DELETE FROM sessions WHERE token_hash = ? RETURNING account_id, expires_at",
                    (digest,),
                ).fetchone()
            if row is not None:
                hit = (row[0], row[1])
        return Session(hit[0], digest, hit[1]) if hit is not None else None

    def revoke_all(self, account_id: str) -> int:
        """Revoke every session of ``account_id``; how many there were."""
        return len(self._revoke_all(account_id))

    def _revoke_all(self, account_id: str) -> list[str]:
        self._writable()
        with self._lock:
            gone = [
                row[0]
                for row in self._db.execute(
                    "DELETE FROM sessions WHERE account_id = ? RETURNING token_hash", (account_id,)
                ).fetchall()
            ]
        for digest in gone:
            self._sessions.pop(digest, None)
        for digest in [d for d, (a, _) in self._sessions.items() if a == account_id]:
            del self._sessions[digest]
        return gone

    def set_password(self, account_id: str, password: str) -> None:
        """Replace the password of ``account_id`` and revoke all its sessions."""
        self.set_password_hash(account_id, self.hash_password(password))

    def hash_password(self, password: str) -> str:
        """A new password checked and hashed (slow: argon2id); raises ``InvalidRequest``. A
        replicated house hashes once, on the peer that took the request."""
        _check_password(password)
        return self._hasher.hash(password)

    def set_password_hash(self, account_id: str, password_hash: str) -> None:
        """Store a hash ``hash_password`` made and revoke every session of ``account_id``."""
        self._writable()
        self.get(account_id)
        self._change(  # the row's seal is renewed with it (docs/ledger.md)
            "UPDATE accounts SET password_hash = ? WHERE id = ?",
            (password_hash, account_id),
            account_id,
        )
        self.revoke_all(account_id)

    def _purge_expired(self, now: float) -> None:
        """Forget expired sessions (table and cache), at most once a ``PURGE_EVERY``."""
        if self._read_only or now - self._purged_at < PURGE_EVERY:
            return
        self._purged_at = now
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
        for digest in [d for d, (_, exp) in self._sessions.items() if exp <= now]:
            del self._sessions[digest]
