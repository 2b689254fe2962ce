"""Per-account connection quotas across the instances of a shared house (decision 0006).

The WebSocket quota (``ws_connections_per_account``) was counted in each instance's memory, so an
account could hold the quota on every instance at once. Here every instance's count is a row of
``connection_leases`` (instance, account, count) in the house's PostgreSQL database, and an
instance is alive while its row of ``house_instances`` has not expired: each instance renews it
every third of ``lease_seconds``. A claim counts the account's connections on live instances and
adds one, under a transaction-scoped advisory lock on the account, so two instances claiming the
last place at one instant cannot both win. A killed instance renews nothing: its connections stop
counting ``lease_seconds`` later (its clients have lost them and reconnect elsewhere), and its
rows are deleted a while after. Each process start is a new instance id, so a restarted instance
never inherits its dead self's count.

Releases go to the database off the event loop. If one fails (the database was away), or the
instance's row expired while the database was away, the instance writes its whole count again
from memory, which is always the truth of its own sockets.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections import Counter

from auctionhouse.errors import AuctionhouseError, LedgerError, QuotaExceeded
from auctionhouse.house.shared import PostgresConnection

try:  # optional: `pip install 'auctionhouse[postgres]'`
    import psycopg
    import psycopg_pool
except ImportError:  # pragma: no cover - exercised only where psycopg is missing
    psycopg = None  # type: ignore[assignment]

log = logging.getLogger("auctionhouse.house")

LEASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS house_instances (
    instance TEXT PRIMARY KEY,
    expires TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS connection_leases (
    account TEXT NOT NULL,
    instance TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (account, instance)
);
"""
LEASE_LOCK = 0x6C656173  # 'leas': with hashtext(account), one advisory lock per account
FORGET_AFTER = 300.0  # seconds after its expiry that a dead instance's rows are deleted

_LOCK = "SELECT pg_advisory_xact_lock(%s, hashtext(%s))"
_LIVE = (
    "SELECT COALESCE(SUM(l.count), 0) FROM connection_leases l"
    " JOIN house_instances i ON i.instance = l.instance"
    " WHERE l.account = %s AND i.expires > now()"
)
_ADD = (
    "INSERT INTO connection_leases (account, instance, count) VALUES (%s, %s, 1)"
    " ON CONFLICT (account, instance) DO UPDATE SET count = connection_leases.count + 1"
)
_RELEASE = (
    "UPDATE connection_leases SET count = count - 1"
    " WHERE account = %s AND instance = %s AND count > 0"
)
_RENEW = (
    "INSERT INTO house_instances (instance, expires)"
    " VALUES (%s, now() + make_interval(secs => %s))"
    " ON CONFLICT (instance) DO UPDATE SET expires = EXCLUDED.expires"
    " RETURNING (xmax = 0)"  # true: the row was new (first renewal, or deleted while away)
)


class ConnectionLeases:
    """Connections per account, counted over every live instance of one shared house.

    ``claim(account, limit)`` (a worker thread: two round trips) raises ``QuotaExceeded`` when
    the account holds ``limit`` connections on live instances; ``release(account)`` gives one
    back; ``renew()`` keeps this instance alive (call it every ``lease_seconds / 3``);
    ``close()`` deletes this instance's leases (a clean stop frees them at once). Errors of
    the database are ``LedgerError``."""

    def __init__(self, url: str, lease_seconds: float = 15.0) -> None:
        self.instance = uuid.uuid4().hex
        self.lease_seconds = float(lease_seconds)
        self._held: Counter[str] = Counter()  # this instance's connections, the truth
        self._lock = threading.Lock()
        self._stale = False  # the table may not match _held: written whole at the next renew
        self._pg = PostgresConnection(url, max_size=2)
        try:
            self._pg.executescript(LEASE_SCHEMA)
            self.renew()
        except BaseException:
            self._pg.close()
            raise

    def claim(self, account: str, limit: int) -> None:
        """Count one more connection of ``account``, or raise ``QuotaExceeded`` if it holds
        ``limit`` on the live instances already (this one included)."""
        try:
            with self._pg.connection() as conn, conn.transaction():
                conn.execute(_LOCK, (LEASE_LOCK, account))
                row = conn.execute(_LIVE, (account,)).fetchone()
                if row is not None and int(row[0]) >= limit:
                    raise QuotaExceeded(
                        f"an account may hold {limit} WebSocket connections at once"
                    )
                conn.execute(_ADD, (account, self.instance))
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise LedgerError(f"the connection quota could not be checked: {exc}") from exc
        with self._lock:
            self._held[account] += 1

    def release(self, account: str) -> None:
        """One connection of ``account`` ended (a failure is repaired by the next renew)."""
        with self._lock:
            if self._held[account] <= 0:
                return
            self._held[account] -= 1
            if self._held[account] == 0:
                del self._held[account]
        try:
            self._pg.execute(_RELEASE.replace("%s", "?"), (account, self.instance))
        except AuctionhouseError as exc:
            self._stale = True
            log.warning("a connection lease was not given back (%s); rewritten soon", exc)

    def renew(self) -> None:
        """Keep this instance's leases alive ``lease_seconds`` more; rewrite them whole if
        they may be wrong (a failed release, a row deleted while the database was away);
        delete the rows of instances dead for ``FORGET_AFTER`` seconds."""
        try:
            with self._pg.connection() as conn, conn.transaction():
                row = conn.execute(_RENEW, (self.instance, self.lease_seconds)).fetchone()
                if self._stale or (row is not None and row[0] and self._held):
                    with self._lock:
                        held = dict(self._held)
                        self._stale = False
                    conn.execute(
                        "DELETE FROM connection_leases WHERE instance = %s", (self.instance,)
                    )
                    if held:
                        conn.execute(
                            "INSERT INTO connection_leases (account, instance, count)"
                            " SELECT a, %s, c FROM unnest(%s::text[], %s::int[]) AS t(a, c)",
                            (self.instance, list(held), list(held.values())),
                        )
                conn.execute(
                    "DELETE FROM connection_leases WHERE instance IN (SELECT instance FROM"
                    " house_instances WHERE expires < now() - make_interval(secs => %s))",
                    (FORGET_AFTER,),
                )
                conn.execute(
                    "DELETE FROM house_instances WHERE expires < now() - make_interval(secs => %s)",
                    (FORGET_AFTER,),
                )
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            self._stale = True
            raise LedgerError(f"the instance lease could not be renewed: {exc}") from exc

    def held(self, account: str) -> int:
        """Connections of ``account`` on this instance."""
        return self._held.get(account, 0)

    def close(self) -> None:
        """Give back every lease of this instance (a clean stop) and close the connections."""
        with contextlib.suppress(Exception), self._pg.connection() as conn, conn.transaction():
            conn.execute("DELETE FROM connection_leases WHERE instance = %s", (self.instance,))
            conn.execute("DELETE FROM house_instances WHERE instance = %s", (self.instance,))
        self._pg.close()
