"""Item photos of a shared house, in its PostgreSQL database (table ``ledger_photos``).

The shared house's instances have no common directory, so the bytes go where the ledger is:
one row per photo, keyed by the SHA-256 of its bytes (content-addressed, as ``PhotoFiles``),
with its thumbnail beside it. A row is committed before ``put`` returns its digest, and an
auction can name a photo only once its row is there (``AuctionHouse.create_auction`` checks
``find``), so a committed event never names a missing photo. Rows are never updated or deleted
by the house, which is why a digest found once is remembered (``find`` asks the database only
for one not seen yet). The audit (``audit_database`` on a ``postgresql://`` URL) recomputes
each named photo's digest from its row (``problem``).

Through psycopg 3 and psycopg-pool (a well-kept driver and pool): photos are read and written
on worker threads, several at once, each on a pooled connection.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

from auctionhouse.errors import InvalidRequest, LedgerError
from auctionhouse.ledger.location import redact
from auctionhouse.ledger.photos import TYPES, check_digest, digest_of
from auctionhouse.ledger.postgres import SCHEMA_LOCK, require_psycopg

try:  # optional: `pip install 'auctionhouse[postgres]'` (require_psycopg says so)
    import psycopg
    from psycopg_pool import ConnectionPool
except ImportError:  # pragma: no cover - exercised only where psycopg is missing
    psycopg = None  # type: ignore[assignment]

PHOTO_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger_photos (
    digest TEXT PRIMARY KEY,
    ext TEXT NOT NULL,
    data BYTEA NOT NULL,
    thumbnail BYTEA NOT NULL
)
"""
_INSERT = (
    "INSERT INTO ledger_photos (digest, ext, data, thumbnail) VALUES (%s, %s, %s, %s)"
    " ON CONFLICT (digest) DO NOTHING"
)


def _configure_readonly(conn: Any) -> None:
    conn.execute("SET default_transaction_read_only = on")


def _configure(conn: Any) -> None:
    conn.execute("SET synchronous_commit = on")


class PostgresPhotos:
    """Content-addressed photos in the PostgreSQL database at ``url`` (``readonly``: the
    audit's view, which creates nothing). Same interface as ``PhotoFiles``."""

    def __init__(self, url: str, *, readonly: bool = False, max_size: int = 4) -> None:
        require_psycopg()
        self.url = url
        self._known: dict[str, str] = {}  # digest -> ext, of rows seen (rows never change)
        self._lock = threading.Lock()
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True, "connect_timeout": 10},
            configure=_configure_readonly if readonly else _configure,
            check=ConnectionPool.check_connection,
            open=False,
            name="auctionhouse-photos",
        )
        try:
            self._pool.open(wait=True, timeout=15)
            with self._pool.connection() as db:
                if readonly:
                    found = db.execute("SELECT to_regclass('ledger_photos') IS NOT NULL")
                    self._table = bool(found.fetchone()[0])
                else:
                    with db.transaction():  # instances starting together: one creates it
                        db.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                        db.execute(PHOTO_SCHEMA)
                    self._table = True
        except (psycopg.Error, psycopg.OperationalError, TimeoutError) as exc:
            self._pool.close()
            raise LedgerError(f"cannot use the photos of {redact(url)}: {exc}") from exc
        except BaseException:
            self._pool.close()
            raise

    def put(self, data: bytes, ext: str, thumb: bytes) -> str:
        """Store a photo and its thumbnail, committed before it returns; its digest.
        Idempotent (the same bytes are the same row)."""
        if ext not in TYPES:
            raise InvalidRequest(f"a photo is stored as one of {', '.join(TYPES)}")
        digest = digest_of(data)
        if digest not in self._known:
            self._write([(digest, ext, data, thumb)])
        return digest

    def put_many(self, rows: Iterable[tuple[str, str, bytes, bytes]]) -> int:
        """Store ``(digest, ext, data, thumbnail)`` rows in one transaction (a migration),
        read one at a time. A row whose bytes do not hash to its digest raises
        ``InvalidRequest`` and nothing is written. Returns how many rows were given."""
        count = 0

        def checked() -> Iterator[tuple[str, str, bytes, bytes]]:
            nonlocal count
            for digest, ext, data, thumb in rows:
                if ext not in TYPES or digest_of(data) != digest:
                    raise InvalidRequest(
                        f"photo {digest[:12]}... ({ext}): its bytes do not match its name"
                    )
                count += 1
                yield digest, ext, data, thumb

        self._write(checked())
        return count

    def find(self, digest: str) -> tuple[str, str] | None:
        """``(name, media type)`` of the photo ``digest``, or None when it is not stored."""
        check_digest(digest)
        ext = self._known.get(digest)
        if ext is None:
            rows = self._query("SELECT ext FROM ledger_photos WHERE digest = %s", (digest,))
            if not rows:
                return None
            ext = str(rows[0][0])
            with self._lock:
                self._known[digest] = ext
        return f"{digest}.{ext}", TYPES.get(ext, "application/octet-stream")

    def read(self, digest: str, *, thumbnail: bool = False) -> tuple[bytes, str] | None:
        """The bytes and media type of a photo (or its thumbnail), None when missing."""
        check_digest(digest)
        column = "thumbnail" if thumbnail else "data"
        rows = self._query(f"SELECT ext, {column} FROM ledger_photos WHERE digest = %s", (digest,))
        if not rows:
            return None
        ext, data = str(rows[0][0]), bytes(rows[0][1])
        return data, TYPES["webp"] if thumbnail else TYPES.get(ext, "application/octet-stream")

    def problem(self, digest: str) -> str | None:
        """What is wrong with the stored photo ``digest`` (missing, or its bytes no longer
        hash to its digest), or None when it is intact. The hash is recomputed in the
        database (``sha256``), so the audit does not move every photo over the network."""
        try:
            check_digest(digest)
        except InvalidRequest:
            return f"{digest[:80]!r} is not a photo digest"
        rows = self._query(
            "SELECT encode(sha256(data), 'hex'), ext FROM ledger_photos WHERE digest = %s",
            (digest,),
        )
        if not rows:
            return f"photo {digest[:12]}... is missing"
        if rows[0][0] != digest or rows[0][1] not in TYPES:
            return f"photo {digest[:12]}... was altered (its bytes no longer match its digest)"
        return None

    def close(self) -> None:
        self._pool.close()

    # -- database ----------------------------------------------------------------------------

    def _query(self, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        if not self._table:
            return []
        try:
            with self._pool.connection() as db:
                rows: list[tuple[Any, ...]] = db.execute(sql, params).fetchall()
                return rows
        except (psycopg.Error, TimeoutError) as exc:
            raise LedgerError(f"cannot read a photo: {exc}") from exc

    def _write(self, rows: Iterable[tuple[str, str, bytes, bytes]]) -> None:
        written: list[tuple[str, str]] = []

        def noted() -> Iterator[tuple[str, str, bytes, bytes]]:
            for row in rows:
                written.append((row[0], row[1]))
                yield row

        try:
            with self._pool.connection() as db, db.transaction(), db.cursor() as cur:
                cur.executemany(_INSERT, noted())
        except (psycopg.Error, TimeoutError) as exc:
            raise LedgerError(f"cannot store a photo: {exc}") from exc
        with self._lock:
            self._known.update(written)
