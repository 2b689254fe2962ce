"""The shared house: N instances of one house on one PostgreSQL database (docs/decisions/0006).

Every instance keeps every auction in memory, as the embedded house does, and answers the same
interface (``AuctionHouse`` + ``HouseService``), so nothing above ``house/`` knows the
difference. What makes N of them one house:

- **Turns.** Every write happens in a *round* on the instance's writer thread: a transaction
  that takes the ledger's advisory lock (``PostgresStore.locked``), reads the events other
  instances appended since this one last looked (by ``pos``) and the shared house state they
  changed (spent nonces, rate-limit buckets), hands them to the event loop to be applied, lets
  the loop decide everything queued (group commit: one round, one transaction, one fsync), then
  writes the events, the batch record, the changed shared state and one ``NOTIFY`` per auction
  moved, and commits (``synchronous_commit = on``) before anyone is answered. So two instances
  never interleave bids on an auction, and every decision is made on current state.
- **Closes exactly once.** Every instance has every auction's timer; a due close is decided in
  a round, after the catch-up, so the first instance to get the lock closes the auction and the
  others find it closed (the unique ``(auction_id, seq)`` key and the seal's primary key back
  it). A dead instance's closes are simply made by the survivors.
- **Watchers see everything.** ``NOTIFY auctionhouse_events, 'AUCTION SEQ'`` is sent in the
  round's transaction (delivered on commit). Each instance LISTENs; a notification newer than
  what it holds triggers a catch-up read by ``pos`` whose events go through the same listeners
  (the WebSocket hub) as its own, in seq order. A notification can be missed (a dropped
  listener connection): after every (re)connect, and every ``resync_seconds`` anyway, the
  instance catches up by ``pos``, which fills any gap. Events are applied by seq: one already
  held is skipped, so reading one twice is harmless.
- **Accounts, sessions, nonces, limits.** Accounts and sessions live in PostgreSQL tables (the
  ``AccountStore`` runs on an adapter); an account's key change, strike or logout is announced
  on ``auctionhouse_accounts`` so other instances drop their cached copy. Spent nonces and
  rate-limit buckets are pushed to ``house_shared`` in the round that changed them and pulled by
  every round before deciding, so a nonce spent on one instance is spent on all, and an
  account's bids are limited across instances.
- **Read-your-writes behind a proxy.** An auction id not known here yet (created on another
  instance a moment ago) is looked up in the database before ``not_found`` is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from auctionhouse.auction import AuctionClosed, AuctionState, BidPlaced, Event, apply
from auctionhouse.auction.market_events import MarketClosed
from auctionhouse.errors import (
    AuctionhouseError,
    InvalidRequest,
    LedgerError,
    NotFound,
    all_codes,
)
from auctionhouse.house.accounts import Account, AccountStore, Session, _digest, normalize_name
from auctionhouse.house.clock import Clock, SystemClock
from auctionhouse.house.config import HouseConfig
from auctionhouse.house.house import AuctionHouse, house_key
from auctionhouse.house.limits import LoginThrottle, RateLimiter, _Failures
from auctionhouse.house.nonces import WINDOW, Spent, SpentNonces
from auctionhouse.house.service import HouseService, batch_checks, run_commands
from auctionhouse.house.shared_due import DueWork
from auctionhouse.house.shared_markets import SharedMarketDesk
from auctionhouse.house.verifier import BatchVerifier, CheckedCommand
from auctionhouse.ledger import Ledger
from auctionhouse.ledger.encoding import decode_event
from auctionhouse.ledger.location import redact
from auctionhouse.ledger.photos import PhotoFiles
from auctionhouse.ledger.photos_pg import PostgresPhotos
from auctionhouse.ledger.postgres import (
    PostgresStore,
    checkpoint_of,
    record_of,
    require_psycopg,
)
from auctionhouse.ledger.store import PAGE, CheckpointRecord, EventRecord

try:  # optional: `pip install 'auctionhouse[postgres]'` (require_psycopg says so)
    import psycopg
    import psycopg_pool
    from psycopg_pool import ConnectionPool
except ImportError:  # pragma: no cover - exercised only where psycopg is missing
    psycopg = None  # type: ignore[assignment]

log = logging.getLogger("auctionhouse.house")

EVENTS_CHANNEL = "auctionhouse_events"
ACCOUNTS_CHANNEL = "auctionhouse_accounts"
LIMITS_SYNC = 0.25  # seconds an idle instance's rate-limit changes wait for a round
HOP_TIMEOUT = 60.0  # seconds a round waits for the event loop to decide its batch
LISTEN_WAIT = 10.0  # seconds a start waits for its LISTEN connection

SHARED_SCHEMA = """
CREATE TABLE IF NOT EXISTS house_shared (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    stamp BIGINT NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX IF NOT EXISTS house_shared_stamp ON house_shared (stamp);
CREATE SEQUENCE IF NOT EXISTS house_stamp;
CREATE TABLE IF NOT EXISTS login_failures (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    count BIGINT NOT NULL,
    last DOUBLE PRECISION NOT NULL,
    blocked_until DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS login_known (
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (name, address)
);
"""
_PUSH = (
    "INSERT INTO house_shared (kind, key, value, stamp) VALUES (%s, %s, %s, nextval('house_stamp'))"
    " ON CONFLICT (kind, key) DO UPDATE SET value = EXCLUDED.value, stamp = EXCLUDED.stamp,"
    " at = EXCLUDED.at"  # when it last changed (database time; shared_due.py prunes by it)
)

# A round's changed rows in one statement (binary arrays, as the events: ledger/postgres.py).
_PUSH_ALL = (
    "INSERT INTO house_shared (kind, key, value, stamp) SELECT k, y, v, nextval('house_stamp')"
    " FROM unnest(%b::text[], %b::text[], %b::text[]) WITH ORDINALITY AS t(k, y, v, n) ORDER BY n"
    " ON CONFLICT (kind, key) DO UPDATE SET value = EXCLUDED.value, stamp = EXCLUDED.stamp,"
    " at = EXCLUDED.at"
)
_SHARED_AFTER = "SELECT kind, key, value, stamp FROM house_shared WHERE stamp > %s ORDER BY stamp"
_RECORDS_AFTER = (
    "SELECT pos, auction_id, seq, body, hash FROM ledger_events WHERE pos > %s"
    " ORDER BY pos LIMIT %s"
)
_MAX_POS = "SELECT COALESCE(MAX(pos), 0) FROM ledger_events"
_LAST_RECORD = (
    "SELECT number, at, payload, signature FROM ledger_checkpoints ORDER BY number DESC LIMIT 1"
)

SharedRow = tuple[str, str, str]
"""A changed piece of shared house state: ``(kind, key, value)``."""


class _Tracked(dict[str, Any]):
    """A dict that remembers which keys were set since ``take()`` (what a round must push)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.dirty: set[str] = set()

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.dirty.add(key)

    def take(self) -> set[str]:
        dirty, self.dirty = self.dirty, set()
        return dirty


class _SharedLimiter(RateLimiter):
    """A rate limiter whose buckets every instance takes from: it counts the requests it let
    through since its bucket was last pushed (``taken``), so merging another instance's
    pushed bucket keeps both instances' requests (theirs are in their level, ours are taken
    from it). Keeping the emptier of two levels instead lost one side's requests whenever both
    took from one bucket between two rounds: N instances let N times the limit through."""

    def __init__(self, old: RateLimiter) -> None:
        super().__init__(old.rate, old.burst, old.max_keys)
        self._buckets = _Tracked(old._buckets)
        self.taken: dict[str, int] = {}

    def take(self, key: str, now: float, what: str = "requests") -> None:
        super().take(key, now, what)
        self.taken[key] = self.taken.get(key, 0) + 1

    def merge(self, key: str, bucket: tuple[float, float], now: float) -> None:
        """Take the bucket as the database holds it (every instance's pushed requests), less
        what this instance let through since its last push (event loop)."""
        tokens = _level(self, bucket, now) - self.taken.get(key, 0)
        dict.__setitem__(self._buckets, key, (tokens, now))

    def pushed(self, keys: set[str]) -> None:
        for key in keys:
            self.taken.pop(key, None)


class _Rows:
    """What a statement returned, read before its connection went back to the pool."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._rows)


def _configure(conn: Any) -> None:
    conn.execute("SET synchronous_commit = on")


class PostgresConnection:
    """The sqlite3 connection API that ``AccountStore`` speaks, on PostgreSQL: ``?``
    placeholders become ``%s``, a unique violation is ``sqlite3.IntegrityError``. Statements
    run on a psycopg-pool pool (autocommit, ``synchronous_commit = on``): the pool checks a
    connection before lending it and replaces one the server dropped, and a login's argon2
    hashing on a worker thread never holds up a lookup on the event loop."""

    def __init__(self, url: str, max_size: int = 4) -> None:
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True, "connect_timeout": 10},
            configure=_configure,
            check=ConnectionPool.check_connection,
            open=False,
            name="auctionhouse-accounts",
        )
        self._local = threading.local()  # a thread's connection inside BEGIN ... COMMIT
        try:
            self._pool.open(wait=True, timeout=15)
        except psycopg_pool.PoolTimeout as exc:
            self._pool.close()
            raise InvalidRequest(f"{redact(url)}: cannot connect to PostgreSQL") from exc

    def execute(self, sql: str, params: Sequence[object] = ()) -> _Rows:
        """One statement on a pool connection; ``BEGIN IMMEDIATE`` (how ``AccountStore``
        changes a row and its seal together) keeps one connection for this thread until
        ``COMMIT`` or ``ROLLBACK``, and the statements between run in its transaction."""
        pinned = getattr(self._local, "pinned", None)
        if sql.startswith("BEGIN"):
            return self._begin()
        if pinned is not None:
            return self._in_transaction(pinned, sql, params)
        try:
            with self._pool.connection() as conn:
                cur = conn.execute(sql.replace("?", "%s"), params)
                return _Rows(cur.fetchall() if cur.description is not None else [])
        except psycopg.errors.UniqueViolation as exc:
            raise sqlite3.IntegrityError(str(exc)) from exc
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise LedgerError(f"the account database failed: {exc}") from exc

    @property
    def in_transaction(self) -> bool:
        return getattr(self._local, "pinned", None) is not None

    def _begin(self) -> _Rows:
        if self.in_transaction:
            raise LedgerError("a transaction is open on this thread already")
        lease = self._pool.connection()
        try:
            conn = lease.__enter__()
            conn.execute("BEGIN")
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            lease.__exit__(None, None, None)
            raise LedgerError(f"the account database failed: {exc}") from exc
        self._local.pinned = (lease, conn)
        return _Rows([])

    def _in_transaction(self, pinned: tuple[Any, Any], sql: str, params: Sequence[object]) -> _Rows:
        lease, conn = pinned
        if sql in ("COMMIT", "ROLLBACK"):
            self._local.pinned = None
            try:
                conn.execute(sql)
            except psycopg.Error as exc:
                raise LedgerError(f"the account database failed: {exc}") from exc
            finally:
                lease.__exit__(None, None, None)
            return _Rows([])
        try:
            cur = conn.execute(sql.replace("?", "%s"), params)
            return _Rows(cur.fetchall() if cur.description is not None else [])
        except psycopg.errors.UniqueViolation as exc:
            raise sqlite3.IntegrityError(str(exc)) from exc
        except psycopg.Error as exc:
            raise LedgerError(f"the account database failed: {exc}") from exc

    def executescript(self, script: str) -> None:
        with self._pool.connection() as conn, conn.transaction():
            # instances starting together: one creates the tables
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (0x61756376,))
            conn.execute(script)

    def notify(self, channel: str, payload: str) -> None:
        self.execute("SELECT pg_notify(?, ?)", (channel, payload))

    def connection(self) -> contextlib.AbstractContextManager[Any]:
        """Borrow a pool connection (``auctionhouse migrate`` copies in one transaction)."""
        return self._pool.connection()

    def close(self) -> None:
        self._pool.close()


class _SharedNonces(SpentNonces):
    """Spent nonces that also list the refusals made here since the last round (what a round
    pushes, so a byte-identical resend on another instance gets the same refusal, 0008)."""

    __slots__ = ("refused",)

    def __init__(self, old: SpentNonces) -> None:
        super().__init__()
        self.highest = _Tracked(old.highest)
        self.recent = old.recent
        self.refused: list[tuple[str, int, Spent]] = []

    def remember(self, account: str, nonce: int, spent: Spent) -> None:
        super().remember(account, nonce, spent)
        if spent.seq is None:
            self.refused.append((account, nonce, spent))

    def learn(self, account: str, nonce: int, spent: Spent) -> None:
        """Keep another instance's refusal (its nonce arrives as a nonce row too); an accepted
        bid's record held here is never replaced."""
        window = self.recent.setdefault(account, {})
        if nonce in window:
            return
        window[nonce] = spent
        if len(window) > WINDOW:
            del window[min(window)]
        if nonce > self.highest.get(account, -1):
            dict.__setitem__(self.highest, account, nonce)


def _refusal(spent: Spent) -> str:
    assert spent.error is not None
    return json.dumps(
        {
            "auction": spent.auction_id,
            "message": spent.message.decode(),
            "signature": spent.signature,
            "error": spent.error.to_dict(),
        }
    )


def _spent_of(value: str) -> Spent:
    body = json.loads(value)
    error = dict(body["error"])
    cls = all_codes().get(error.pop("code"), AuctionhouseError)
    message = error.pop("message")
    return Spent(
        body["auction"], None, body["message"].encode(), body["signature"], cls(message, **error)
    )


_FAILURE_ROW = (
    "INSERT INTO login_failures (kind, key, count, last, blocked_until) VALUES (%s, %s, 0, 0, 0)"
    " ON CONFLICT (kind, key) DO NOTHING"
)
_FAILURE_LOCK = (
    "SELECT count, last, blocked_until FROM login_failures WHERE kind = %s AND key = %s FOR UPDATE"
)
_FAILURE_SET = (
    "UPDATE login_failures SET count = %s, last = %s, blocked_until = %s"
    " WHERE kind = %s AND key = %s"
)
_KNOWN_SET = (
    "INSERT INTO login_known (name, address, at) VALUES (%s, %s, %s)"
    " ON CONFLICT (name, address) DO UPDATE SET at = GREATEST(login_known.at, EXCLUDED.at)"
)


class SharedLoginThrottle(LoginThrottle):
    """The login throttle (decision 0016) of every instance at once: failures are counted in
    PostgreSQL (``login_failures``, one row lock per key, so two instances' failures at the
    same instant both count) and each change is announced; every instance keeps a copy, so
    ``check`` (on the event loop, before any password work) stays a dict lookup. Addresses
    that logged into an account (``login_known``) are shared the same way. A missed
    announcement (the listener reconnected) is repaired by ``reload``."""

    def __init__(self, pg: PostgresConnection, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pg = pg
        self.on_change: Callable[[str], None] = lambda payload: pg.notify(ACCOUNTS_CHANNEL, payload)

    def failed(self, name: str, address: str | None, now: float) -> None:
        """Count a failure in the database (password worker thread) and announce it."""
        with self._lock:
            targets: list[tuple[str, str, int, float]] = []
            if address:
                targets.append(("address", address, self.address_free, self.address_cap))
            if not self._is_known(name, address, now):
                targets.append(("account", name, self.account_free, self.account_cap))
        changed: list[tuple[str, str, _Failures]] = []
        try:
            with self._pg.connection() as conn, conn.transaction():
                for kind, key, free, cap in targets:
                    conn.execute(_FAILURE_ROW, (kind, key))
                    count, last, blocked = conn.execute(_FAILURE_LOCK, (kind, key)).fetchone()
                    record = _Failures()
                    record.count, record.last, record.blocked_until = int(count), last, blocked
                    table = {key: record} if count else {}
                    LoginThrottle._count(self, table, key, now, free, cap)  # the one rule
                    record = table[key]
                    conn.execute(
                        _FAILURE_SET, (record.count, record.last, record.blocked_until, kind, key)
                    )
                    changed.append((kind, key, record))
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise LedgerError(f"the account database failed: {exc}") from exc
        for kind, key, record in changed:
            self.learn_failure(kind, key, record.count, record.last, record.blocked_until)
            self.on_change(
                "login " + json.dumps([kind, key, record.count, record.last, record.blocked_until])
            )

    def succeeded(self, name: str, address: str | None, now: float) -> None:
        if not address:
            return
        super().succeeded(name, address, now)
        self._pg.execute(_KNOWN_SET.replace("%s", "?"), (name, address, now))
        self.on_change("known " + json.dumps([name, address, now]))

    def learn_failure(
        self, kind: str, key: str, count: int, last: float, blocked_until: float
    ) -> None:
        """Take a failure record counted here or on another instance (the newest wins)."""
        with self._lock:
            table = self._addresses if kind == "address" else self._accounts
            record = table.get(key)
            if record is not None and record.last > last:
                return
            if record is None:
                if len(table) >= self.max_keys:
                    self._evict(table, last)
                record = table[key] = _Failures()
            record.count, record.last, record.blocked_until = count, last, blocked_until

    def learn_known(self, name: str, address: str, at: float) -> None:
        with self._lock:
            if self._known.get((name, address), -math.inf) < at:
                self._known.pop((name, address), None)
                if len(self._known) >= self.max_keys:
                    self._known.pop(next(iter(self._known)))
                self._known[(name, address)] = at

    def on_note(self, payload: str) -> bool:
        """Apply an announcement of another instance; False if it is not the throttle's."""
        kind, _, body = payload.partition(" ")
        if kind == "login":
            self.learn_failure(*json.loads(body))
        elif kind == "known":
            self.learn_known(*json.loads(body))
        else:
            return False
        return True

    def refresh(self, name: str, address: str | None) -> None:
        """Read the records of ``name`` and ``address`` from the database (a password worker,
        just before the password work: a failure counted elsewhere a moment ago, whose
        announcement may be on its way, counts here too)."""
        rows = self._pg.execute(
            "SELECT kind, key, count, last, blocked_until FROM login_failures"
            " WHERE (kind = 'account' AND key = ?) OR (kind = 'address' AND key = ?)",
            (name, address or ""),
        )
        for kind, key, count, last, blocked in rows:
            self.learn_failure(kind, key, int(count), last, blocked)
        if address:
            rows = self._pg.execute(
                "SELECT at FROM login_known WHERE name = ? AND address = ?", (name, address)
            )
            for (at,) in rows:
                self.learn_known(name, address, at)

    def reload(self, now: float) -> None:
        """Read every live record again (after the listener reconnected: notes were missed)."""
        rows = self._pg.execute(
            "SELECT kind, key, count, last, blocked_until FROM login_failures WHERE last > ?",
            (now - self.forget_after,),
        )
        for kind, key, count, last, blocked in rows:
            self.learn_failure(kind, key, int(count), last, blocked)
        rows = self._pg.execute(
            "SELECT name, address, at FROM login_known WHERE at > ?", (now - self.known_for,)
        )
        for name, address, at in rows:
            self.learn_known(name, address, at)


class SharedAccountStore(AccountStore):
    """Accounts and sessions in PostgreSQL, cached per instance; changes are announced so the
    other instances' caches never serve a stale key, strike count or a logged-out session."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self._pg = PostgresConnection(url)
        super().__init__(None, connection=self._pg, **kwargs)

    def set_public_key(self, account_id: str, public_key: str) -> Account:
        account = super().set_public_key(account_id, public_key)
        self._changed(account_id)
        return account

    def write_strikes(self) -> list[str]:
        written = super().write_strikes()  # in the round that refused (house.persist)
        for account_id in written:
            self._changed(account_id)
        return written

    def _changed(self, account_id: str) -> None:
        """An account row changed: a ``changed`` row in ``house_shared`` (every round pulls
        it before deciding, so no instance decides a bid on the old key once the change is
        committed) and an announcement (caches dropped at once, between rounds too)."""
        self._pg.execute(_PUSH.replace("%s", "?"), ("changed", account_id, ""))
        self._announce(f"account {account_id}")

    def logout(self, token: str) -> Session | None:
        gone = super().logout(token)
        self._announce(f"session {_digest(token)}")
        return gone

    def _revoke_all(self, account_id: str) -> list[str]:
        gone = super()._revoke_all(account_id)
        for digest in gone:
            self._announce(f"session {digest}")
        return gone

    def _announce(self, payload: str) -> None:
        with self._lock:
            self._pg.notify(ACCOUNTS_CHANNEL, payload)

    def forget(self, account_id: str) -> None:
        """Drop a cached account (another instance changed it)."""
        self._cache.pop(account_id, None)

    def forget_session(self, digest: str) -> None:
        self._sessions.pop(digest, None)

    def forget_all(self) -> None:
        """Drop every cached account and session: announcements may have been missed (the
        listener was not connected), and the tables are the truth."""
        self._cache.clear()
        self._sessions.clear()


class SharedAuctionHouse(AuctionHouse):
    """An ``AuctionHouse`` whose ledger, accounts and shared state are in PostgreSQL, with
    other instances writing beside it. Its writes must go through ``SharedHouseService``."""

    store: PostgresStore
    market_desk = SharedMarketDesk  # markets: house/shared_markets.py
    markets: SharedMarketDesk

    def __init__(
        self,
        ledger: Ledger,
        accounts: AccountStore,
        *,
        replay_until: int,
        config: HouseConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        assert isinstance(ledger.store, PostgresStore)
        self.store = ledger.store
        self.pos = replay_until  # every event up to this pos is applied (or skipped by seq)
        self.stamp = 0  # every house_shared change up to this stamp is applied
        super().__init__(ledger, accounts, config=config, clock=clock)
        self._nonces = _SharedNonces(self._nonces)
        if isinstance(accounts, SharedAccountStore):  # failed logins count on every instance
            c = self.config
            self.login_throttle = SharedLoginThrottle(
                accounts._pg,
                address_free=c.login_free_per_address,
                account_free=c.login_free_per_account,
                base=c.login_backoff_seconds,
                address_cap=c.login_max_backoff_address_seconds,
                account_cap=c.login_max_backoff_account_seconds,
                forget_after=c.login_forget_seconds,
            )
        self._account_limiter = _SharedLimiter(self._account_limiter)
        self._address_limiter = _SharedLimiter(self._address_limiter)
        self.absorbed = 0  # events applied that other instances wrote (metrics, tests)
        self._reader: PostgresStore | None = None  # reads on the event loop (see _state)
        self.due: DueWork | None = None  # housekeeping taken with SKIP LOCKED (shared_due.py)

    @classmethod
    def open_shared(
        cls,
        url: str,
        *,
        key_path: str | Path,
        config: HouseConfig | None = None,
        clock: Clock | None = None,
    ) -> SharedAuctionHouse:
        """Join (or found) the house in the PostgreSQL database at ``url``: every instance
        needs the same house key file at ``key_path`` (the first creates it)."""
        require_psycopg()
        config = config or HouseConfig()
        store = PostgresStore(url)
        accounts: SharedAccountStore | None = None
        due = DueWork(
            url, forget_after=config.login_forget_seconds, known_for=LoginThrottle().known_for
        )
        try:
            with store.locked():  # instances starting together: one creates the tables
                store.execute(SHARED_SCHEMA)
                due.install(store, (clock or SystemClock()).now())
            key = house_key(store, Path(key_path), False)  # never a new key for old records
            assert key is not None
            Ledger(store, key)  # a new database records the house's public key (committed)
            # One consistent state to replay and verify while other instances keep writing:
            # a prefix of their appends (commits are made under the writer lock), read in one
            # REPEATABLE READ snapshot; what follows it is caught up like any other instance's
            # events.
            with store.snapshot():
                ledger = Ledger(store, key)
                until = store.max_pos()
                stamp = int(store.execute("SELECT COALESCE(MAX(stamp), 0) FROM house_shared")[0][0])
                accounts = SharedAccountStore(
                    url,
                    time_cost=config.argon2_time_cost,
                    memory_kib=config.argon2_memory_kib,
                    token_ttl=config.token_ttl_seconds,
                    signer=ledger,
                )
                # the replay verifies every chain, signed record and seal, and every account
                # row's seal, as the embedded house does (decision 0010): TamperDetected
                house = cls(ledger, accounts, replay_until=until, config=config, clock=clock)
        except OSError as exc:
            store.close()
            raise LedgerError(f"cannot open the shared house {redact(url)}: {exc}") from exc
        except BaseException:
            store.close()
            if accounts is not None:
                accounts.close()
            raise
        house._reader = PostgresStore(url)
        house.due = due
        try:  # the photos are rows of the database every instance serves (photos_pg.py)
            house.photos = PostgresPhotos(url)
        except BaseException:
            house.close()
            raise
        house.stamp = stamp
        house.pull_shared_now()
        return house

    def _state(self, auction_id: str) -> AuctionState:
        """An auction another instance created a moment ago (its announcement may be on its
        way) is read from the database rather than reported missing: read-your-writes across
        instances behind a proxy. Only a miss costs a query (on a connection of its own)."""
        try:
            return super()._state(auction_id)
        except NotFound:
            if not isinstance(auction_id, str) or not self.read_ahead():
                raise
            return super()._state(auction_id)

    def read_ahead(self) -> bool:
        """Read and apply what other instances appended since ``pos`` (a miss of an id they
        may have created a moment ago; auctions and markets alike). False: nothing to read."""
        if self._reader is None:
            return False
        try:
            rows = self._reader.records_after(self.pos, PAGE)
        except LedgerError:
            return False
        if rows:
            self.notify(self.absorb(rows))
        return bool(rows)

    def _signing_account(self, account: Account) -> Account:
        if account.public_key is None and isinstance(self.accounts, SharedAccountStore):
            # a key registered on another instance a moment ago (its announcement may be on
            # its way): read the account again rather than refuse (bids and market orders)
            self.accounts.forget(account.id)
            return self.accounts.get(account.id)
        return account

    def _verify_throttled(self, name: str, password: str, address: str | None, msg: str) -> None:
        throttle = self.login_throttle
        if isinstance(throttle, SharedLoginThrottle) and isinstance(name, str) and len(name) <= 256:
            throttle.refresh(normalize_name(name), address)
        super()._verify_throttled(name, password, address, msg)

    # ------------------------------------------------------------------ catching up

    def read_new(self, after: int | None = None) -> list[EventRecord]:
        """Every record another instance may have appended since ``pos`` (or ``after``;
        writer thread)."""
        records: list[EventRecord] = []
        after = self.pos if after is None else after
        while True:
            page = self.store.records_after(after, PAGE)
            records.extend(page)
            if len(page) < PAGE:
                return records
            after = page[-1].pos

    def turn_reads(self) -> list[tuple[str, Sequence[object]]]:
        """What a round reads once it holds the lock (sent with the lock, one round trip):
        the records appended since ``pos``, the shared state changed since ``stamp``, the
        newest signed record."""
        return [
            (_RECORDS_AFTER, (self.pos, PAGE)),
            (_SHARED_AFTER, (self.stamp,)),
            (_LAST_RECORD, ()),
        ]

    def read_turn(
        self, reads: list[list[tuple[Any, ...]]]
    ) -> tuple[list[EventRecord], list[tuple[str, str, str, int]], CheckpointRecord | None]:
        """The rows of ``turn_reads`` as records, shared state and the newest signed record
        (writer thread, lock held); more than a page of records is read on."""
        events, shared, last = reads
        records = [record_of(row) for row in events]
        if len(records) == PAGE:
            records += self.read_new(records[-1].pos)
        rows = [(str(k), str(key), str(v), int(n)) for k, key, v, n in shared]
        checkpoint = checkpoint_of(last[0]) if last else None
        return records, rows, checkpoint

    def absorb(
        self, records: Sequence[EventRecord], last: CheckpointRecord | None = None
    ) -> list[Event]:
        """Apply other instances' durable events (event loop). An event this house holds
        already (its seq is not past the state's) is skipped. Returns the events applied, for
        the listeners; the ledger learns the new heads (and, under the lock, ``last``)."""
        applied: list[Event] = []
        heads: dict[str, tuple[int, bytes]] = {}
        closed: set[str] = set()
        auctions = self._auctions
        markets = self.markets
        highest = self._nonces.highest
        dirty = set(highest.dirty) if isinstance(highest, _Tracked) else set()
        for record in records:
            if record.pos > self.pos:
                self.pos = record.pos
            state = auctions.get(record.auction_id)
            if state is None and markets.holds(record):  # a market's chain: shared_markets.py
                market_event = markets.absorb(record)
                if market_event is not None:
                    heads[record.auction_id] = (record.seq, record.hash)
                    if type(market_event) is MarketClosed:
                        closed.add(record.auction_id)
                    applied.append(market_event)
                continue
            held = state.seq if state is not None else 0
            if record.seq <= held:
                continue
            if record.seq != held + 1:
                raise LedgerError(
                    f"auction {record.auction_id}: event {record.seq} read before {held + 1}"
                )
            event = decode_event(record.body)
            first_here = (
                type(event) is BidPlaced and state is not None and event.bidder not in state.bidders
            )
            state = apply(state, event)
            self._index(event, state, first_here=first_here)
            heads[record.auction_id] = (record.seq, record.hash)
            if type(event) is AuctionClosed:
                closed.add(record.auction_id)
            applied.append(event)
        if isinstance(highest, _Tracked):  # absorbed bids' nonces are in the ledger
            highest.dirty = dirty
        self.ledger.absorb(heads, closed, last)
        self.absorbed += len(applied)
        return applied

    # ------------------------------------------------------------------ shared state

    def pull_shared(self) -> list[tuple[str, str, str, int]]:
        """Shared state other instances changed since ``stamp`` (writer thread)."""
        rows = self.store.execute(_SHARED_AFTER, (self.stamp,))
        return [(str(k), str(key), str(v), int(s)) for k, key, v, s in rows]

    def pull_shared_now(self) -> None:
        self.apply_shared(self.pull_shared())

    def apply_shared(self, rows: Sequence[tuple[str, str, str, int]]) -> None:
        """Merge pulled shared state (event loop): a nonce only rises; a rate bucket is the
        pushed one less what this instance let through since its own last push."""
        now = self.clock.now()
        for kind, key, value, stamp in rows:
            self.stamp = max(self.stamp, stamp)
            if kind == "nonce":
                nonce = int(value)
                if nonce > self._nonces.last(key):
                    dict.__setitem__(self._nonces.highest, key, nonce)
            elif kind == "refused":
                number, _, account = key.partition(" ")
                nonces = self._nonces
                if isinstance(nonces, _SharedNonces):
                    nonces.learn(account, int(number), _spent_of(value))
            elif kind == "changed":  # an account changed elsewhere: its cached copy is stale
                if isinstance(self.accounts, SharedAccountStore):
                    self.accounts.forget(key)
            elif kind in ("account", "address"):
                limiter = self._account_limiter if kind == "account" else self._address_limiter
                tokens, last = (float(x) for x in value.split())
                if isinstance(limiter, _SharedLimiter):
                    limiter.merge(key, (tokens, last), now)

    def take_shared(self) -> list[SharedRow]:
        """What this instance changed since the last round (event loop)."""
        rows: list[SharedRow] = []
        if isinstance(self._nonces, _SharedNonces):
            refused, self._nonces.refused = self._nonces.refused, []
            for account, number, spent in refused:
                rows.append(("refused", f"{number} {account}", _refusal(spent)))
        nonces = self._nonces.highest
        assert isinstance(nonces, _Tracked)
        for account in nonces.take():
            if account in nonces:
                rows.append(("nonce", account, str(nonces[account])))
        limiters = (("account", self._account_limiter), ("address", self._address_limiter))
        for kind, limiter in limiters:
            buckets = limiter._buckets
            assert isinstance(buckets, _Tracked) and isinstance(limiter, _SharedLimiter)
            keys = buckets.take()
            limiter.pushed(keys)
            for key in keys:
                if key in buckets:
                    tokens, last = buckets[key]
                    rows.append((kind, key, f"{tokens!r} {last!r}"))
        return rows

    def push_shared(self, rows: Sequence[SharedRow]) -> None:
        """Write changed shared state (writer thread, inside the round's transaction); a
        changed rate bucket is announced (``limits``), so an idle instance pulls it too."""
        if rows:
            self.store.later(_PUSH_ALL, [list(column) for column in zip(*rows, strict=True)])
            if any(kind in ("account", "address") for kind, _, _ in rows):
                self.store.later("SELECT pg_notify(%s, 'limits')", (ACCOUNTS_CHANNEL,))

    def announce(self, events: Sequence[Event]) -> None:
        """One NOTIFY per auction moved: ``'AUCTION SEQ'`` of its newest event (delivered at
        commit; writer thread, inside the round's transaction)."""
        newest: dict[str, int] = {}
        for event in events:
            newest[event.auction_id] = event.seq
        if newest:
            self.store.later(
                "SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p",
                (EVENTS_CHANNEL, [f"{a} {s}" for a, s in newest.items()]),
            )

    def close(self) -> None:
        """Write what is staged and a last checkpoint in a turn of its own, then close."""
        with self._lock:
            if self._failed is None:
                with self.store.locked():
                    self.ledger.absorb({}, set(), self.store.last_checkpoint())
                    self.persist(self.staged())
                    self.ledger.checkpoint(self.clock.now())
            self.ledger.close()
            self.accounts.close()
            if self._reader is not None:
                self._reader.close()
            if self.due is not None:
                self.due.close()
            if isinstance(self.photos, PostgresPhotos):
                self.photos.close()


def migrate_house(source: str | Path, url: str) -> dict[str, int]:
    """Copy an embedded house (its SQLite file: ledger, accounts, sessions, and the photos
    beside it) into an empty PostgreSQL database, each part in one transaction, the photos
    before the events that name them. Returns how many events, photos, accounts and sessions
    were copied. The house key stays a file: every instance needs a copy. A photo file whose
    bytes no longer match its name is refused (``InvalidRequest``) before anything is written."""
    from auctionhouse.ledger import SQLiteStore

    require_psycopg()
    path = Path(source)
    src = SQLiteStore(path, readonly=True)
    dst = PostgresStore(url)
    try:
        if dst.count() or dst.last_checkpoint() is not None:
            raise InvalidRequest(f"{redact(url)}: the destination ledger is not empty")
        photos = PostgresPhotos(url, max_size=1)
        try:
            copied_photos = photos.put_many(PhotoFiles.beside(path).stored())
        finally:
            photos.close()
        events = dst.copy_from(src)
    finally:
        src.close()
        dst.close()
    copied = {"events": events, "photos": copied_photos, "accounts": 0, "sessions": 0}
    accounts = SharedAccountStore(url)  # creates the account tables
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            with accounts._pg.connection() as pg, pg.transaction():
                for table in ("accounts", "sessions"):  # accounts first: sessions refer to them
                    if table not in names:
                        continue
                    theirs = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
                    ours = {
                        r[0]
                        for r in pg.execute(
                            "SELECT column_name FROM information_schema.columns"
                            " WHERE table_schema = current_schema() AND table_name = %s",
                            (table,),
                        )
                    }
                    columns = [c for c in theirs if c in ours]
                    rows = db.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
                    marks = ", ".join("%s" for _ in columns)
                    with pg.cursor() as cur:
                        cur.executemany(
                            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
                        )
                    copied[table] = len(rows)
        finally:
            db.close()
    except psycopg.Error as exc:
        raise LedgerError(f"cannot copy the accounts: {exc}") from exc
    finally:
        accounts.close()
    return copied


def _level(limiter: RateLimiter, bucket: tuple[float, float], now: float) -> float:
    tokens, last = bucket
    return min(limiter.burst, tokens + max(0.0, now - last) * limiter.rate)


_Item = tuple[Callable[[AuctionHouse], Any], "asyncio.Future[Any]"]


class SharedHouseService(HouseService):
    """``HouseService`` for the shared house: each batch is decided inside a round (the
    writer lock held, others' events applied first); a listener keeps the instance current
    between rounds. ``resync_seconds``: the longest an idle instance goes without a catch-up
    read (a missed notification is repaired by then)."""

    def __init__(
        self,
        factory: Callable[[], SharedAuctionHouse],
        url: str,
        *,
        resync_seconds: float = 1.0,
        due_seconds: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(factory, **kwargs)
        self._url = url
        self._resync = resync_seconds
        self._due_seconds = due_seconds
        self._due_pool = ThreadPoolExecutor(1, thread_name_prefix="house-due")
        self._catchup_wanted = False
        self._catchup_task: asyncio.Task[None] | None = None
        self.listener_connections = 0  # (re)connects of the LISTEN connection
        self._listening = asyncio.Event()
        # A round is on its way (its batch taken, its catch-up read not yet applied): it will
        # read whatever other instances committed, so a notification needs no read of its own.
        self._round_ahead = False
        # Another instance changed a rate bucket since this one's last round read them.
        self._limits_stale = False
        self.skipped_catch_ups = 0  # notifications a coming round answered (metrics, tests)

    @property
    def shared(self) -> SharedAuctionHouse:
        house = self.house
        assert isinstance(house, SharedAuctionHouse)
        return house

    async def start(self) -> None:
        """Start, and return once this instance listens to the others (or ``LISTEN_WAIT``
        passed: the listener keeps trying, and periodic catch-up covers the meantime)."""
        await super().start()
        self._listening = asyncio.Event()
        self._tasks.append(asyncio.create_task(self._listen(), name="house-listener"))
        self._tasks.append(asyncio.create_task(self._due(), name="house-due"))
        self._tasks.append(asyncio.create_task(self._sync_limits(), name="house-limits"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), LISTEN_WAIT)

    async def stop(self) -> None:
        self._closing = True
        if self._catchup_task is not None:
            self._catchup_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._catchup_task
        await super().stop()
        self._due_pool.shutdown(wait=True)

    # ------------------------------------------------------------------ rounds

    async def _work(self) -> None:
        assert self._queue is not None
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            first = await queue.get()
            batch = [first]
            while len(batch) < self._max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            self._round_ahead = True
            try:
                # the batch's signatures are verified (a worker process, house/verifier.py)
                # before the round takes the writer lock every instance waits on: the round
                # then only looks their verdicts up
                await BatchVerifier.settle(batch_checks(batch))
                await self._run_round(loop, batch)
            finally:
                if self._round_ahead:  # the round never read: what it skipped is read now
                    self._round_ahead = False
                    self.catch_up()
                for _ in batch:
                    queue.task_done()

    async def _run_round(self, loop: asyncio.AbstractEventLoop, batch: list[_Item]) -> None:
        """Run a round; one that failed before deciding anything (a dropped session) is
        tried once more on a new session, then refused. One that failed after deciding stops
        the house: its memory may be ahead of the database (a restart replays the truth)."""
        for attempt in (1, 2):
            decided: list[bool] = []
            try:
                done, events, pos = await loop.run_in_executor(
                    self._writer, self._round, loop, batch, decided
                )
            except BaseException as exc:
                if decided:
                    self._fail(exc, batch)
                elif attempt == 2:
                    log.warning("a round could not start (%s); its commands are refused", exc)
                    self._refuse(batch, LedgerError("the database is unavailable; retry"))
                else:
                    continue
                return
            self._finish(done, events, pos)
            return

    def _finish(
        self, done: list[tuple[asyncio.Future[Any], Any]], events: list[Event], pos: int
    ) -> None:
        """A committed round: listeners hear of its events, then callers get their answers."""
        house = self.shared
        house.pos = max(house.pos, pos)
        house.notify(events)
        for future, result in done:
            if not future.done():
                future.set_result(result)

    def _round(
        self, loop: asyncio.AbstractEventLoop, batch: list[_Item], decided: list[bool]
    ) -> tuple[list[tuple[asyncio.Future[Any], Any]], list[Event], int]:
        """One turn (writer thread): lock and catch up (one round trip), decide on the loop,
        then every write in one pipeline and COMMIT. ``decided`` gets an entry once the loop
        is asked to decide the batch."""
        house = self.shared
        with house.store.locked(house.turn_reads()) as reads:
            records, shared, last = house.read_turn(reads)
            hop: Future[tuple[list[tuple[asyncio.Future[Any], Any]], list[Event], list[SharedRow]]]
            hop = asyncio.run_coroutine_threadsafe(self._decide(batch, records, shared, last), loop)
            decided.append(True)  # a hop that times out may still decide: count it as decided
            done, events, changed = hop.result(HOP_TIMEOUT)
            house.persist(events)
            house.push_shared(changed)
            house.announce(events)
            tail = house.store.later(_MAX_POS)
        return done, events, int(tail.rows[0][0])

    async def _decide(
        self,
        batch: list[_Item],
        records: list[EventRecord],
        shared: list[tuple[str, str, str, int]],
        last: CheckpointRecord | None,
    ) -> tuple[list[tuple[asyncio.Future[Any], Any]], list[Event], list[SharedRow]]:
        house = self.shared
        house.notify(house.absorb(records, last))
        self._round_ahead = self._limits_stale = False
        house.apply_shared(shared)
        self._take_ready(batch)
        done = run_commands(house, batch)
        return done, house.staged(), house.take_shared()

    def _take_ready(self, batch: list[_Item]) -> None:
        """Add to the round's batch (lock held) the commands queued since it was taken whose
        signatures are verified already (or that carry none), in queue order, up to
        ``max_batch``: the round's fixed cost (the lock's round trips, the commit) is then
        shared by more bids. The first one still waiting for its verdict stops it: deciding
        stays in arrival order, and no signature is verified while every instance waits."""
        queue = self._queue
        assert queue is not None
        while len(batch) < self._max_batch and not queue.empty():
            command = queue._queue[0]  # type: ignore[attr-defined]
            check = command[0].check if type(command[0]) is CheckedCommand else None
            if check is not None and check.batch is not None and not check.batch.done():
                return
            batch.append(queue.get_nowait())

    def _fail(self, exc: BaseException, batch: list[_Item]) -> None:
        self.failure = exc
        log.critical("a shared round failed; the house stops taking commands: %r", exc)
        self._refuse(batch, LedgerError("the ledger could not record this command"))
        if self.on_failure is not None:
            self.on_failure(exc)

    @staticmethod
    def _refuse(batch: list[_Item], error: Exception) -> None:
        for _command, future in batch:
            if not future.done():
                future.set_exception(error)

    # ------------------------------------------------------------------ listening

    def catch_up(self) -> None:
        """Ask for a catch-up read (coalesced: one runs at a time, another follows if asked)."""
        self._catchup_wanted = True
        if self._catchup_task is None or self._catchup_task.done():
            self._catchup_task = asyncio.create_task(self._catch_up(), name="house-catch-up")

    async def _catch_up(self) -> None:
        loop = asyncio.get_running_loop()
        house = self.shared
        failures = 0
        while self._catchup_wanted and self.failure is None and not self._closing:
            self._catchup_wanted = False
            try:
                records = await loop.run_in_executor(self._writer, house.read_new)
                house.notify(house.absorb(records))
            except (AuctionhouseError, RuntimeError) as exc:
                failures += 1
                if failures > 1:  # the next notification or resync tries again
                    log.warning("catch-up read failed: %s", exc)
                    return
                self._catchup_wanted = True  # once more at once, on a new session

    async def _listen(self) -> None:
        """LISTEN for other instances' commits; reconnect with back-off, catching up each
        time (a notification sent while disconnected is lost; the read by pos is not)."""
        backoff = 0.05
        while True:
            conn = None
            try:
                conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
                await conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                await conn.execute(f"LISTEN {ACCOUNTS_CHANNEL}")
                self.listener_connections += 1
                backoff = 0.05
                await self._reload_accounts()
                self.catch_up()
                self._listening.set()
                while True:
                    async for note in conn.notifies(timeout=self._resync):
                        self._on_note(note.channel, note.payload)
                    self.catch_up()  # quiet for resync_seconds: read anyway
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("the LISTEN connection dropped (%s); reconnecting", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()

    async def _sync_limits(self) -> None:
        """Rate-limit buckets are pushed and pulled by rounds; an instance serving only reads
        (every request takes from its address's bucket) makes no rounds, so every
        ``LIMITS_SYNC`` seconds one whose buckets changed, or that was told another's did
        (``limits``), runs an empty round: the address and account limits then hold across
        instances within that time, whatever the traffic."""
        house = self.shared
        while True:
            await asyncio.sleep(LIMITS_SYNC)
            if self.failure is not None or self._closing:
                continue
            limiters = (house._address_limiter, house._account_limiter)
            dirty = any(isinstance(x._buckets, _Tracked) and x._buckets.dirty for x in limiters)
            if dirty or self._limits_stale:
                with contextlib.suppress(AuctionhouseError):
                    await self.call(lambda h: None)

    async def _due(self) -> None:
        """Every ``due_seconds``, take whatever due work no other instance holds (on a thread
        and a connection of its own: rounds go on meanwhile)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._due_seconds)
            due = self.shared.due
            if due is None or self.failure is not None:
                continue
            try:
                await loop.run_in_executor(self._due_pool, due.run_due, self.shared.clock.now())
            except AuctionhouseError as exc:
                log.warning("%s (it stays due; tried again)", exc)

    async def _reload_accounts(self) -> None:
        """After a (re)connect of the listener, announcements may have been missed: drop
        every cached account and session, re-read the login throttle, and have every
        authenticated socket's session checked again (a revoked one closes with 4003)."""
        house = self.shared
        self._limits_stale = True  # a missed ``limits`` note: the next sync reads them
        if isinstance(house.accounts, SharedAccountStore):
            house.accounts.forget_all()
        throttle = house.login_throttle
        if isinstance(throttle, SharedLoginThrottle):
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, throttle.reload, house.clock.now())
        if self.on_session_revoked is not None and self.listener_connections > 1:
            self.on_session_revoked(None)

    def _on_note(self, channel: str, payload: str) -> None:
        if channel == ACCOUNTS_CHANNEL:
            if payload == "limits":  # pulled by this instance's next round (_sync_limits)
                self._limits_stale = True
                return
            kind, _, key = payload.partition(" ")
            house = self.shared
            accounts = house.accounts
            throttle = house.login_throttle
            if isinstance(throttle, SharedLoginThrottle) and throttle.on_note(payload):
                return
            if isinstance(accounts, SharedAccountStore):
                if kind == "account":
                    accounts.forget(key)
                elif kind == "session":
                    accounts.forget_session(key)
                    if self.on_session_revoked is not None:  # its sockets here close now
                        self.on_session_revoked(key)
            return
        auction_id, _, seq = payload.rpartition(" ")
        state = self.shared._auctions.get(auction_id) or self.shared.markets.held(auction_id)
        if state is None or not seq.isdigit() or int(seq) > state.seq:
            if self._round_ahead:  # committed before that round can take the lock: it reads it
                self.skipped_catch_ups += 1
                return
            self.catch_up()
