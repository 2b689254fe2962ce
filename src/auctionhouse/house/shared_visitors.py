"""The visitor book (house/visitors.py) of a shared house: every instance's hops and visits in
its PostgreSQL database.

Kept per instance, a mobile agent's hop taken by one instance could be replayed to another (the
same fault as a nonce spent on one instance only), and N instances let N x ``max_agents`` agents
in. Here:

- ``agent_hops`` (agent, hop, expires): the last hop each agent arrived on at this site, on any
  instance; kept until its mandate expires;
- ``agent_visits`` (agent, instance, hop): who visits now, and on which instance. A visit counts
  while its instance is alive: its row of ``house_instances`` (house/shared_leases.py, renewed by
  the instance's ``ConnectionLeases``) has not expired, so the visitors of an instance killed
  with -9 stop counting once its lease runs out, as its WebSocket connections do.

``admit`` checks and writes in one transaction under one transaction-scoped advisory lock (the
site's count is one number), so two instances taking the last place, or the same hop, at one
instant cannot both win.
"""

from __future__ import annotations

import logging
from typing import Any

from auctionhouse.errors import AuctionhouseError, LedgerError
from auctionhouse.house.shared import PostgresConnection
from auctionhouse.house.shared_leases import LEASE_SCHEMA
from auctionhouse.house.visitors import PRUNE_EVERY, full, here_already, replayed

try:  # optional: `pip install 'auctionhouse[postgres]'`
    import psycopg
    import psycopg_pool
except ImportError:  # pragma: no cover - exercised only where psycopg is missing
    psycopg = None  # type: ignore[assignment]

log = logging.getLogger("auctionhouse.house")

VISITORS_SCHEMA = (
    LEASE_SCHEMA
    + """
CREATE TABLE IF NOT EXISTS agent_hops (
    agent TEXT PRIMARY KEY,
    hop BIGINT NOT NULL,
    expires DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS agent_visits (
    agent TEXT PRIMARY KEY,
    instance TEXT NOT NULL,
    hop BIGINT NOT NULL
);
"""
)
VISIT_LOCK = 0x76697369  # 'visi': one advisory lock for the site's visits and hops

_LOCK = "SELECT pg_advisory_xact_lock(%s)"
_HOP = "SELECT hop FROM agent_hops WHERE agent = %s AND expires >= %s"
_LIVE = (
    "SELECT v.agent FROM agent_visits v JOIN house_instances i ON i.instance = v.instance"
    " WHERE i.expires > now()"
)
_COUNT = f"SELECT count(*) FROM ({_LIVE}) AS live"
_HERE = _LIVE + " AND v.agent = %s"
_NOTE_HOP = (
    "INSERT INTO agent_hops (agent, hop, expires) VALUES (%s, %s, %s)"
    " ON CONFLICT (agent) DO UPDATE SET hop = EXCLUDED.hop, expires = EXCLUDED.expires"
)
_VISIT = (
    "INSERT INTO agent_visits (agent, instance, hop) VALUES (%s, %s, %s)"
    " ON CONFLICT (agent) DO UPDATE SET instance = EXCLUDED.instance, hop = EXCLUDED.hop"
)


class SharedVisitors:
    """The visitor book of every instance of a shared house; ``instance``: this instance's id
    in ``house_instances`` (its ``ConnectionLeases.instance``, which keeps it alive). Errors of
    the database are ``LedgerError``."""

    def __init__(self, url: str, instance: str) -> None:
        self.instance = instance
        self._admitted = 0
        self._pg = PostgresConnection(url, max_size=2)
        try:
            self._pg.executescript(VISITORS_SCHEMA)
        except BaseException:
            self._pg.close()
            raise

    def last_hop(self, agent: str) -> int | None:
        rows = self._pg.execute("SELECT hop FROM agent_hops WHERE agent = ?", (agent,)).fetchall()
        return int(rows[0][0]) if rows else None

    def admit(
        self, agent: str, hop: int, expires: float, now: float, *, stay: bool, max_agents: int
    ) -> None:
        try:
            with self._pg.connection() as conn, conn.transaction():
                conn.execute(_LOCK, (VISIT_LOCK,))
                row = conn.execute(_HOP, (agent, now)).fetchone()
                if row is not None and hop <= int(row[0]):
                    raise replayed(agent, int(row[0]), hop)
                if stay:
                    if conn.execute(_HERE, (agent,)).fetchone() is not None:
                        raise here_already(agent)
                    if int(conn.execute(_COUNT).fetchone()[0]) >= max_agents:
                        raise full(max_agents)
                    conn.execute(_VISIT, (agent, self.instance, hop))
                conn.execute(_NOTE_HOP, (agent, hop, expires))
                self._admitted += 1
                if self._admitted % PRUNE_EVERY == 0:
                    self._prune(conn, now)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise LedgerError(f"the visiting agents could not be checked: {exc}") from exc

    @staticmethod
    def _prune(conn: Any, now: float) -> None:
        conn.execute("DELETE FROM agent_hops WHERE expires < %s", (now,))
        conn.execute(
            "DELETE FROM agent_visits WHERE instance NOT IN (SELECT instance FROM house_instances)"
        )

    def leave(self, agent: str) -> None:
        try:
            self._pg.execute(
                "DELETE FROM agent_visits WHERE agent = ? AND instance = ?", (agent, self.instance)
            )
        except Exception as exc:  # its instance's lease ending frees the place anyway (closed)
            log.warning("agent %s's visit was not ended in the database: %s", agent, exc)

    def visiting(self) -> int:
        return int(self._pg.execute(_COUNT).fetchall()[0][0])

    def close(self) -> None:
        """End this instance's visits (a clean stop) and close the connections."""
        try:
            self._pg.execute("DELETE FROM agent_visits WHERE instance = ?", (self.instance,))
        except AuctionhouseError as exc:
            log.warning("visits not ended at stop: %s", exc)
        self._pg.close()
