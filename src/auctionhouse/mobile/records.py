"""Home's live record of its owners' mobile agents, kept from the progress messages sites post.

One record per agent launched from this house: where it is, its state, its bids, the heads of
its trip log that sites reported, and once it is back its final document and whether its trip
log verifies. Records live in memory and in an ``mobile_agents`` table of ``DB.agents`` (an
SQLite file beside the house's), so an owner can still read them after a restart.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from auctionhouse.errors import ConfigError, Conflict, InvalidRequest, NotFound
from auctionhouse.house.visitors import side_database
from auctionhouse.ledger.mandate import Mandate
from auctionhouse.mobile.travel import PROGRESS_CONTEXT, STATES, statement_holds, verify_log

MAX_PROGRESS = 1000


class HomeRecords:
    def __init__(self, path: Path | None = None) -> None:
        self._records: dict[str, dict[str, Any]] = {}
        # The verification of a log that came home, kept until another progress message comes
        # (the log no longer changes; an owner following the agent must not cost a check each).
        self._checked: dict[str, tuple[int, list[dict[str, Any]]]] = {}
        self._owned: dict[str, list[str]] = {}  # owner key -> its agents, oldest first
        self._lock = threading.Lock()
        self._changes = threading.RLock()  # a record's read, change and write, one at a time
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._db = side_database(
                path,
                "CREATE TABLE IF NOT EXISTS mobile_agents (id TEXT PRIMARY KEY, record TEXT)",
                "the agents' records",
            )
            try:
                for agent, text in self._db.execute("SELECT id, record FROM mobile_agents"):
                    self._records[agent] = json.loads(text)
                    self._owned.setdefault(self._records[agent]["owner_key"], []).append(agent)
            except sqlite3.Error as exc:
                raise ConfigError(f"cannot open the agents' records {path}: {exc}") from None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _save(self, *records: dict[str, Any]) -> None:
        """Write ``records`` in one transaction."""
        if self._db is not None and records:
            rows = [(r["agent"], json.dumps(r, separators=(",", ":"))) for r in records]
            with self._lock, self._db:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT OR REPLACE INTO mobile_agents (id, record) VALUES (?, ?)", rows
                )

    # -- where records are kept (memory and DB.agents here; a shared house's database:
    # mobile/shared_records.py): one record read, a change of some read and written in one
    # step, a new one added only if its agent has none, the agents of an owner

    def _get(self, agent: str) -> dict[str, Any] | None:
        return self._records.get(agent)

    def _known(self, agents: set[str]) -> set[str]:
        return {a for a in agents if a in self._records}

    @contextmanager
    def _changing(self, agents: list[str]) -> Iterator[dict[str, dict[str, Any]]]:
        """The records of ``agents`` (those there are) to change; written when the block
        ends without an error."""
        with self._changes:
            records = {a: self._records[a] for a in agents if a in self._records}
            yield records
            self._save(*records.values())

    def _insert(self, record: dict[str, Any]) -> bool:
        """Add a new record; False if its agent has one already (nothing is changed)."""
        with self._changes:
            if record["agent"] in self._records:
                return False
            self._records[record["agent"]] = record
            self._owned.setdefault(record["owner_key"], []).append(record["agent"])
            self._save(record)
        return True

    def _agents_of(self, owner_key: str, limit: int) -> list[str]:
        """The newest ``limit`` agents of ``owner_key``, oldest first."""
        return self._owned.get(owner_key, [])[-limit:]

    # -- the records

    def __contains__(self, agent: str) -> bool:
        return self._get(agent) is not None

    def is_home(self, agent: str) -> bool:
        record = self._get(agent)
        return record is not None and record["returned_at"] is not None

    def launch(self, mandate: Mandate, now: float) -> None:
        """A new record for an agent leaving home (a relaunch of a known agent is refused,
        on every instance of a shared house at once)."""
        if mandate.agent in self:
            raise InvalidRequest(f"agent {mandate.agent} was launched already")
        record = {
            "agent": mandate.agent,
            "owner_key": mandate.owner_key,
            "item": mandate.item,
            "digest": mandate.digest,
            "launched_at": now,
            "return_by": mandate.return_by,
            "state": "STARTING",
            "where": mandate.home,
            "hop": 0,
            "bids": [],
            "result": None,
            "spent": 0,
            "progress": [],
            "returned_at": None,
            "document": None,
        }
        if not self._insert(record):
            raise InvalidRequest(f"agent {mandate.agent} was launched already")

    def progress(self, agent: str, message: dict[str, Any]) -> None:
        """A site's signed progress message; a forged or unknown one is refused."""
        if agent not in self:
            raise NotFound(f"no agent {agent!r} launched from this house")
        if message.get("agent") != agent or not statement_holds(PROGRESS_CONTEXT, message):
            raise InvalidRequest("a progress message must be signed by the site that sends it")
        self.add_progress([message])

    def progress_batch(self, batch: Any) -> int:
        """A site's signed batch of progress messages (``{"site", "messages", "site_key",
        "sig"}``, one signature for all); returns how many were about agents of this house.
        ``InvalidRequest`` if the batch is malformed or its signature does not hold."""
        if (
            not isinstance(batch, dict)
            or not isinstance(batch.get("site"), str)
            or not isinstance(batch.get("messages"), list)
            or not all(isinstance(m, dict) for m in batch["messages"])
        ):
            raise InvalidRequest("a progress batch is {site, messages, site_key, sig}")
        if not statement_holds(PROGRESS_CONTEXT, batch):
            raise InvalidRequest("a progress batch must be signed by the site that sends it")
        site, key = batch["site"], batch["site_key"]
        named = {m["agent"] for m in batch["messages"] if isinstance(m.get("agent"), str)}
        ours = self._known(named)
        mine = [
            {**m, "site": site, "site_key": key}  # a site speaks for itself only
            for m in batch["messages"]
            if isinstance(m.get("agent"), str) and m["agent"] in ours
        ]
        self.add_progress(mine)
        return len(mine)

    def add_progress(self, messages: list[dict[str, Any]]) -> None:
        """Apply checked progress messages (each names its ``site`` and ``site_key``) to their
        agents' records, and write the records changed in one transaction."""
        agents = sorted({m["agent"] for m in messages})
        if not agents:
            return
        with self._changing(agents) as records:
            for message in messages:
                record = records.get(message["agent"])
                if record is not None and len(record["progress"]) < MAX_PROGRESS:
                    self._apply(record, message)

    @staticmethod
    def _apply(record: dict[str, Any], message: dict[str, Any]) -> None:
        hop, detail = message.get("hop"), message.get("detail")
        if (
            isinstance(hop, bool)
            or not isinstance(hop, int)
            or not isinstance(detail, dict)
            or message.get("state") not in STATES
        ):
            return  # signed, but not a progress message this house understands
        record["progress"].append(message)
        if record["returned_at"] is None and _later(message, hop, record):
            record.update(state=message.get("state"), where=message.get("site"), hop=hop)
            record["head_n"] = _head_n(message)
            if message.get("what") == "handed":
                record["where"] = detail.get("to")  # the site that signed a receipt for it
        if message.get("what") == "bid":
            record["bids"].append({"site": message.get("site"), **detail})
        if message.get("result") is not None:
            record["result"] = message["result"]
        if isinstance(message.get("spent"), int):
            record["spent"] = message["spent"]

    def returned(self, mandate: Mandate, document: dict[str, Any], now: float) -> None:
        """The agent is home: keep its final document (its trip log)."""
        with self._changing([mandate.agent]) as records:
            record = records.get(mandate.agent)
            if record is None:
                raise NotFound(f"no agent {mandate.agent!r} launched from this house")
            if record["returned_at"] is not None:
                raise Conflict(f"agent {mandate.agent} is home already: a second return is refused")
            travel = document["travel"]
            record.update(
                state="HOME",
                where=mandate.home,
                hop=travel.get("hop"),
                returned_at=now,
                document=document,
                result=travel.get("result"),
                spent=travel.get("spent", 0),
            )

    def _record(self, agent: str) -> dict[str, Any]:
        record = self._get(agent)
        if record is None:
            raise NotFound(f"no agent {agent!r} launched from this house")
        return record

    def problems(self, agent: str) -> list[dict[str, Any]]:
        """What is wrong with the agent's trip log (empty: it verifies)."""
        record = self._record(agent)
        document = record["document"]
        if document is None:
            return []
        checked = self._checked.get(agent)
        if checked is not None and checked[0] == len(record["progress"]):
            return checked[1]
        found = self._problems(record, document)
        self._checked[agent] = (len(record["progress"]), found)
        return found

    @staticmethod
    def _problems(record: dict[str, Any], document: dict[str, Any]) -> list[dict[str, Any]]:
        heads = []
        keys: dict[str, str] = {}
        for message in record["progress"]:
            head = message.get("head") or {}
            heads.append({"n": head.get("n"), "hash": head.get("hash"), "site": message["site"]})
            keys.setdefault(message["site"], message["site_key"])
        log = document["travel"]["log"]
        found = [p.to_dict() for p in verify_log(record["digest"], log, heads)]
        for n, entry in enumerate(log):
            known = keys.get(entry.get("site", ""))
            if known is not None and entry.get("site_key") != known:
                message = f"entry {n} names {entry.get('site')} but another key signed it"
                found.append({"n": n, "kind": "forged", "message": message})
        return found

    def view(self, agent: str, now: float, grace: float) -> dict[str, Any]:
        """The live record: ``status`` is travelling, home, or overdue (past return-by and
        ``grace`` seconds without coming home: the last site that had it is named)."""
        record = self._record(agent)
        if record["returned_at"] is not None:
            status = "home"
        elif now > record["return_by"] + grace:
            status = "overdue"
        else:
            status = "travelling"
        out = {k: v for k, v in record.items() if k not in ("document", "progress", "head_n")}
        out["status"] = status
        out["progress"] = [
            {k: m.get(k) for k in ("site", "hop", "state", "what", "at", "detail")}
            for m in record["progress"]
        ]
        if status == "overdue":
            out["overdue"] = {"last_seen_at": record["where"], "since": record["return_by"]}
        if record["document"] is not None:
            problems = self.problems(agent)
            out["log"] = {"entries": len(record["document"]["travel"]["log"]), "ok": not problems}
        return out

    def owned(
        self, owner_key: str, now: float, grace: float, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The live records of ``owner_key``'s agents, newest first (at most ``limit``)."""
        agents = self._agents_of(owner_key.lower(), limit)
        return [self.view(agent, now, grace) for agent in reversed(agents)]

    def log(self, agent: str) -> dict[str, Any]:
        """The trip log as it came home, with what the verification found."""
        record = self._record(agent)
        if record["document"] is None:
            raise NotFound(f"agent {agent} is not home yet: its trip log is with it")
        problems = self.problems(agent)
        return {
            "agent": agent,
            "ok": not problems,
            "problems": problems,
            "entries": record["document"]["travel"]["log"],
            "travel": {k: v for k, v in record["document"]["travel"].items() if k != "log"},
        }


def _head_n(message: dict[str, Any]) -> int | None:
    """How many trip log entries the message's head counts (None: it names none)."""
    head = message.get("head")
    n = head.get("n") if isinstance(head, dict) else None
    return n if isinstance(n, int) and not isinstance(n, bool) else None


def _later(message: dict[str, Any], hop: int, record: dict[str, Any]) -> bool:
    """Is ``message`` at or after the point of the trip the record shows?

    Arrival order is not trip order: the site an agent leaves posts its ``handed`` message
    (MOVING, hop N) once the next site has signed the receipt, and by then the next site may
    already have posted its own hop-N messages (visited, BIDDING); home can hear them in either
    order. Within a hop, the trip log's length (the head's ``n``: the log only grows) orders
    them; a message or record without one is ordered by its hop alone, later arrival winning.
    """
    if hop != record["hop"]:
        return bool(hop > record["hop"])
    n, seen = _head_n(message), record.get("head_n")
    return n is None or seen is None or n >= seen
