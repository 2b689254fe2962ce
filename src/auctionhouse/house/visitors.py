"""A site's book of visiting mobile agents (seed 004): the hop each agent last arrived on, and
who is visiting now, checked and written in one step.

``admit`` is the one check of an arrival that must hold over the whole house: a hop at or
below the agent's last hop here is a replay (``ReplayedHop``), an agent visiting already is
refused (``Conflict``), and at most ``max_agents`` visit at once (``QuotaExceeded``). Every
keeping of a house answers the same interface (the contract suite is
``tests/mobile/test_mobile_visitor_book.py``):

- ``LocalVisitors``: one process (the embedded house): memory, with the hops in an SQLite table
  (``agent_hops`` of ``DB.agents``) so a replay stays refused after a restart;
- ``SharedVisitors`` (``house/shared_visitors.py``): the instances of a shared house, in their
  PostgreSQL database, so a hop taken by one instance is a replay on every other, and
  ``max_agents`` counts the visitors of every live instance.

A hop record is kept until its mandate expires (an expired mandate is refused anyway).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Protocol

from auctionhouse.errors import ConfigError, Conflict, QuotaExceeded, ReplayedHop

PRUNE_EVERY = 256  # admissions between two deletions of expired hop records


class VisitorBook(Protocol):
    """Hops and visits of one site (every instance of it)."""

    def last_hop(self, agent: str) -> int | None:
        """The hop on which ``agent`` last arrived here (None: never, or its mandate expired)."""
        ...

    def admit(
        self, agent: str, hop: int, expires: float, now: float, *, stay: bool, max_agents: int
    ) -> None:
        """Record that ``agent`` arrived on ``hop`` (its mandate expiring at ``expires``), and if
        ``stay`` that it visits until ``leave``. Raises ``ReplayedHop`` (``hop`` is not past its
        last hop here), and with ``stay`` ``Conflict`` (it visits already) or
        ``QuotaExceeded`` (``max_agents`` visit already); then nothing is recorded."""
        ...

    def leave(self, agent: str) -> None:
        """``agent``'s visit ended (here or elsewhere: idempotent)."""
        ...

    def visiting(self) -> int:
        """Agents visiting the site now (every live instance)."""
        ...

    def close(self) -> None: ...


def replayed(agent: str, last: int, hop: int) -> ReplayedHop:
    return ReplayedHop(f"agent {agent} came here on hop {last}; this is {hop}")


def full(max_agents: int) -> QuotaExceeded:
    return QuotaExceeded(f"this site hosts {max_agents} agents at once")


def here_already(agent: str) -> Conflict:
    return Conflict(f"agent {agent} is here already")


def side_database(path: Path, schema: str, what: str) -> sqlite3.Connection:
    """A small SQLite file beside the ledger (WAL, synchronous=NORMAL, autocommit, usable from
    any thread) with ``schema`` (one CREATE TABLE IF NOT EXISTS) run on it; ``ConfigError``
    naming ``what`` and ``path`` when it cannot be opened."""
    try:
        db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(schema)
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot open {what} {path}: {exc}") from None
    return db


class LocalVisitors:
    """The book of a site that is one process; ``path``: the SQLite file that keeps its hops
    across restarts (None: memory only). Thread-safe."""

    def __init__(self, path: Path | None = None, now: float = 0.0) -> None:
        self._hops: dict[str, tuple[int, float]] = {}  # agent -> (last hop, mandate expiry)
        self._visiting: set[str] = set()
        self._lock = threading.Lock()
        self._admitted = 0
        self._db: sqlite3.Connection | None = None
        if path is not None:
            what = "the agents' hop records"
            self._db = side_database(
                path,
                "CREATE TABLE IF NOT EXISTS agent_hops"
                " (agent TEXT PRIMARY KEY, hop INTEGER NOT NULL, expires REAL NOT NULL)",
                what,
            )
            try:
                self._db.execute("DELETE FROM agent_hops WHERE expires < ?", (now,))
                for agent, hop, expires in self._db.execute(
                    "SELECT agent, hop, expires FROM agent_hops"
                ):
                    self._hops[agent] = (int(hop), float(expires))
            except sqlite3.Error as exc:
                raise ConfigError(f"cannot open {what} {path}: {exc}") from None

    def last_hop(self, agent: str) -> int | None:
        seen = self._hops.get(agent)
        return None if seen is None else seen[0]

    def admit(
        self, agent: str, hop: int, expires: float, now: float, *, stay: bool, max_agents: int
    ) -> None:
        with self._lock:
            seen = self._hops.get(agent)
            if seen is not None and seen[1] >= now and hop <= seen[0]:
                raise replayed(agent, seen[0], hop)
            if stay:
                if agent in self._visiting:
                    raise here_already(agent)
                if len(self._visiting) >= max_agents:
                    raise full(max_agents)
            if self._db is not None:  # on disk before the receipt goes out
                self._db.execute(
                    "INSERT OR REPLACE INTO agent_hops (agent, hop, expires) VALUES (?, ?, ?)",
                    (agent, hop, expires),
                )
            self._hops[agent] = (hop, expires)
            if stay:
                self._visiting.add(agent)
            self._admitted += 1
            if self._admitted % PRUNE_EVERY == 0:
                self._prune(now)

    def _prune(self, now: float) -> None:
        expired = [a for a, (_, exp) in self._hops.items() if exp < now]
        for agent in expired:
            del self._hops[agent]
        if self._db is not None and expired:
            self._db.execute("DELETE FROM agent_hops WHERE expires < ?", (now,))

    def leave(self, agent: str) -> None:
        with self._lock:
            self._visiting.discard(agent)

    def visiting(self) -> int:
        return len(self._visiting)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
