"""Due work of the shared house other than closes, taken by one instance at a time with
``FOR UPDATE SKIP LOCKED`` (docs/decisions/0014-shared-house-rounds.md).

Closes, Dutch clock steps and soft-close extensions are not jobs here: they are functions of an
auction's state (``close_due_at``; a Dutch price is read off the clock, an extension is decided
with the bid that causes it), decided in a round under the writer lock by whichever instance's
timer fires first, so a dead instance's closes are made by the survivors anyway.

What else falls due is housekeeping of the tables the instances share, which no round needs:

- ``prune-shared``: rate-limit buckets (``house_shared``) untouched for ``BUCKET_IDLE`` seconds
  (full again, they carry nothing), other instances' refusals older than ``REFUSAL_KEEP``, and
  account-change marks older than ``CHANGE_KEEP``;
- ``prune-logins``: login throttle records past ``forget_after`` and addresses known to an
  account past ``known_for`` (decision 0016).

Each job is a row of ``house_due`` with its next due time. An instance claims one due row with
``SELECT ... FOR UPDATE SKIP LOCKED`` (another instance working on a job skips it and takes the
next), does the job and moves ``due_at`` on in the same transaction. An instance killed while it
holds a job drops its connection: the server rolls the transaction back, the row lock goes with
it, the job is still due, and the next instance to look takes it over. Nothing is half done: the
job's deletes roll back with it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any

from auctionhouse.errors import LedgerError

try:  # optional: `pip install 'auctionhouse[postgres]'`
    import psycopg
except ImportError:  # pragma: no cover - exercised only where psycopg is missing
    psycopg = None  # type: ignore[assignment]

BUCKET_IDLE = 3600.0  # seconds; any bucket refills well within it at the configured rates
REFUSAL_KEEP = 24 * 3600.0  # seconds another instance remembers a refused signed bid
CHANGE_KEEP = 3600.0  # seconds an account-change mark stays for rounds to pull

DUE_SCHEMA = """
CREATE TABLE IF NOT EXISTS house_due (
    job TEXT PRIMARY KEY,
    due_at DOUBLE PRECISION NOT NULL,
    every DOUBLE PRECISION NOT NULL,
    done_by TEXT,
    done_at DOUBLE PRECISION,
    done INTEGER NOT NULL DEFAULT 0
);
ALTER TABLE house_shared ADD COLUMN IF NOT EXISTS at DOUBLE PRECISION NOT NULL
    DEFAULT extract(epoch FROM clock_timestamp());
"""

JOBS: dict[str, float] = {"prune-shared": 60.0, "prune-logins": 60.0}
"""Each job and how often it falls due (seconds of house time)."""

_CLAIM = (
    "SELECT job, every FROM house_due WHERE due_at <= %s ORDER BY due_at"
    " FOR UPDATE SKIP LOCKED LIMIT 1"
)
_DONE = (
    "UPDATE house_due SET due_at = %s + every, done_by = %s, done_at = %s, done = done + 1"
    " WHERE job = %s"
)


class DueWork:
    """One instance's side of the due jobs, on a connection of its own (never the writer's:
    housekeeping must not hold up a round). ``instance``: this instance's name in
    ``done_by`` and in the connection's ``application_name`` (operators see who works)."""

    def __init__(
        self,
        url: str,
        *,
        forget_after: float,
        known_for: float,
        instance: str | None = None,
        jobs: dict[str, float] | None = None,
    ) -> None:
        self.url = url
        self.instance = instance or f"{os.uname().nodename}:{os.getpid()}:{id(self):x}"
        self.forget_after = forget_after
        self.known_for = known_for
        self.jobs = dict(JOBS if jobs is None else jobs)
        self.done: list[str] = []  # jobs this instance did (metrics, tests)
        self._conn: Any = None
        self._lock = threading.Lock()

    def install(self, conn: Any, now: float) -> None:
        """Create the table and this house's job rows (once for every instance)."""
        conn.execute(DUE_SCHEMA)
        for job, every in self.jobs.items():
            conn.execute(
                "INSERT INTO house_due (job, due_at, every) VALUES (%s, %s, %s)"
                " ON CONFLICT (job) DO NOTHING",
                (job, now + every, every),
            )

    def run_due(self, now: float, limit: int = 8) -> list[str]:
        """Claim and do every job due at ``now`` (house time) that no other instance holds,
        at most ``limit``; returns the jobs done. Raises ``LedgerError`` if the database
        fails (the job stays due; the next look tries again)."""
        done: list[str] = []
        with self._lock:
            for _ in range(limit):
                job = self._one(now)
                if job is None:
                    break
                done.append(job)
        self.done.extend(done)
        return done

    def _one(self, now: float) -> str | None:
        conn = self._connection()
        try:
            with conn.transaction():
                row = conn.execute(_CLAIM, (now,)).fetchone()
                if row is None:
                    return None
                job = str(row[0])
                self._do(conn, job, now)
                conn.execute(_DONE, (now, self.instance, now, job))
                return job
        except psycopg.Error as exc:
            self.close()  # a new connection next time (the server may have dropped it)
            raise LedgerError(f"due work failed: {exc}") from exc

    def _do(self, conn: Any, job: str, now: float) -> None:
        if job == "prune-shared":
            conn.execute(
                "DELETE FROM house_shared WHERE at < extract(epoch FROM clock_timestamp()) - CASE"
                " kind WHEN 'refused' THEN %s WHEN 'changed' THEN %s ELSE %s END"
                " AND kind IN ('account', 'address', 'refused', 'changed')",
                (REFUSAL_KEEP, CHANGE_KEEP, BUCKET_IDLE),
            )
        elif job == "prune-logins":
            conn.execute("DELETE FROM login_failures WHERE last < %s", (now - self.forget_after,))
            conn.execute("DELETE FROM login_known WHERE at < %s", (now - self.known_for,))
        # a job this version does not know (a newer instance added it): only moved on

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            try:
                self._conn = psycopg.connect(
                    self.url,
                    autocommit=True,
                    connect_timeout=10,
                    application_name=f"auctionhouse due {self.instance}"[:63],
                )
            except psycopg.Error as exc:
                raise LedgerError(f"due work cannot connect: {exc}") from exc
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
