"""Accounts, roles, passwords (argon2id), sessions (bearer tokens) and public keys.

Kept in an ``accounts`` and a ``sessions`` table of the house's SQLite file (or in memory), apart
from the ledger: they are not auction events. Tokens are stored only as SHA-256 digests, so a
stolen database file does not give working sessions.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from auctionhouse.errors import Conflict, InvalidRequest, NotFound, Unauthorized
from auctionhouse.house.signing import parse_public_key

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
ROLES = ("user", "admin")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    public_key TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    strikes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_account ON sessions (account_id);
"""
PURGE_EVERY = 60.0  # seconds between sweeps of expired sessions


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
        connection: Any = None,
    ) -> None:
        """``connection``: a ready connection speaking sqlite3's API (the shared house passes
        its PostgreSQL adapter, house/shared.py) in place of the file at ``path``."""
        # Shared by the event loop and the writer thread of the async service: guarded by a lock.
        self._lock = threading.Lock()
        if connection is not None:
            self._db = connection
        else:
            target = ":memory:" if path is None else str(path)
            if path is not None:
                create_private_file(path)  # password hashes inside: owner-only from the start
            self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
            with self._lock:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.execute("PRAGMA busy_timeout=5000")
        with self._lock:
            self._db.executescript(_SCHEMA)
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        self._token_ttl = token_ttl
        self._cache: dict[str, Account] = {}
        self._sessions: dict[str, tuple[str, float]] = {}
        self._purged_at = float("-inf")

    def close(self) -> None:
        with self._lock:
            self._db.close()

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
        password_hash, public_key = self.prepare(name, password, role=role, public_key=public_key)
        return self.insert(name, password_hash, now=now, role=role, public_key=public_key)

    def prepare(
        self, name: str, password: str, *, role: str = "user", public_key: str | None = None
    ) -> tuple[str, str | None]:
        """Check a new account's fields and hash its password (slow: argon2id). Returns
        ``(password_hash, public_key normalised)``; raises ``InvalidRequest``. A replicated
        house hashes once, on the peer that took the request, and replicates the hash."""
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise InvalidRequest(
                "name must be 1-32 characters: lowercase letters, digits, '_', '.', '-'"
            )
        _check_password(password)
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
        """Store an account whose fields ``prepare`` checked; raises ``Conflict`` if taken."""
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO accounts (id, password_hash, role, public_key, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (name, password_hash, role, public_key, now),
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
        with self._lock:
            self._db.execute(
                "INSERT INTO accounts (id, password_hash, role, public_key, created_at)"
                " VALUES (?, '!', 'user', ?, ?) ON CONFLICT (id) DO NOTHING",
                (account_id, public_key, now),
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
        with self._lock:
            row = self._db.execute(
                "SELECT id, role, public_key, created_at, strikes FROM accounts WHERE id = ?",
                (account_id,),
            ).fetchone()
        if row is None:
            raise NotFound(f"no account {account_id!r}")
        account = Account(row[0], row[1], row[2], row[3], row[4])
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
        with self._lock:
            self._db.execute(
                "UPDATE accounts SET public_key = ? WHERE id = ?", (public_key.lower(), account_id)
            )
        updated = Account(
            account.id, account.role, public_key.lower(), account.created_at, account.strikes
        )
        self._cache[account_id] = updated
        return updated

    def add_strike(self, account_id: str) -> None:
        """A security refusal (bad signature, replay, flood) counts against reputation."""
        account = self.get(account_id)
        with self._lock:
            self._db.execute(
                "UPDATE accounts SET strikes = strikes + 1 WHERE id = ?", (account_id,)
            )
        self._cache[account_id] = Account(
            account.id, account.role, account.public_key, account.created_at, account.strikes + 1
        )

    # ------------------------------------------------------------------ sessions

    def check_password(self, name: str, password: str) -> None:
        """Check ``password`` for ``name`` (argon2id, slow on purpose). Raises ``Unauthorized``
        with one message for a wrong name or password (and the same cost: names cannot be
        probed by timing); the password is never part of any message."""
        if not isinstance(name, str) or not isinstance(password, str):
            raise Unauthorized("wrong name or password")
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
        return self.open_session(name, now=now)

    def open_session(self, account_id: str, *, now: float) -> str:
        """A new session of ``account_id`` (already authenticated): its bearer token."""
        self._purge_expired(now)
        token = secrets.token_urlsafe(32)
        self.add_session(_digest(token), account_id, now + self._token_ttl)
        return token

    def add_session(self, token_digest: str, account_id: str, expires_at: float) -> None:
        """Store a session by its token's SHA-256 digest (``token_digest``)."""
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
        return Session(account_id, digest, expires)

    def authenticate(self, token: str | None, *, now: float) -> Account:
        return self.get(self.session(token, now=now).account_id)

    def logout(self, token: str) -> Session | None:
        """Revoke one session (its token stops working at once); the session it was, if any."""
        digest = _digest(token)
        hit = self._sessions.pop(digest, None)
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
        _check_password(password)
        self.get(account_id)
        password_hash = self._hasher.hash(password)
        with self._lock:
            self._db.execute(
                "UPDATE accounts SET password_hash = ? WHERE id = ?", (password_hash, account_id)
            )
        self.revoke_all(account_id)

    def _purge_expired(self, now: float) -> None:
        """Forget expired sessions (table and cache), at most once a ``PURGE_EVERY``."""
        if now - self._purged_at < PURGE_EVERY:
            return
        self._purged_at = now
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
        for digest in [d for d, (_, exp) in self._sessions.items() if exp <= now]:
            del self._sessions[digest]
