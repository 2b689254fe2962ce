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
from pathlib import Path
from typing import Any

from auctionhouse.errors import ConfigError, Conflict, InvalidRequest, NotFound
from auctionhouse.ledger.mandate import Mandate
from auctionhouse.mobile.travel import PROGRESS_CONTEXT, statement_holds, verify_log

MAX_PROGRESS = 1000


class HomeRecords:
    def __init__(self, path: Path | None = None) -> None:
        self._records: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if path is not None:
            try:
                self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS mobile_agents (id TEXT PRIMARY KEY, record TEXT)"
                )
                for agent, text in self._db.execute("SELECT id, record FROM mobile_agents"):
                    self._records[agent] = json.loads(text)
            except sqlite3.Error as exc:
                raise ConfigError(f"cannot open the agents' records {path}: {exc}") from None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _save(self, record: dict[str, Any]) -> None:
        if self._db is not None:
            with self._lock:
                self._db.execute(
                    "INSERT OR REPLACE INTO mobile_agents (id, record) VALUES (?, ?)",
                    (record["agent"], json.dumps(record, separators=(",", ":"))),
                )

    def __contains__(self, agent: str) -> bool:
        return agent in self._records

    def is_home(self, agent: str) -> bool:
        record = self._records.get(agent)
        return record is not None and record["returned_at"] is not None

    def launch(self, mandate: Mandate, now: float) -> None:
        """A new record for an agent leaving home (a relaunch of a known agent is refused)."""
        if mandate.agent in self._records:
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
        self._records[mandate.agent] = record
        self._save(record)

    def progress(self, agent: str, message: dict[str, Any]) -> None:
        """A site's signed progress message; a forged or unknown one is refused."""
        record = self._records.get(agent)
        if record is None:
            raise NotFound(f"no agent {agent!r} launched from this house")
        if message.get("agent") != agent or not statement_holds(PROGRESS_CONTEXT, message):
            raise InvalidRequest("a progress message must be signed by the site that sends it")
        if len(record["progress"]) >= MAX_PROGRESS:
            return
        record["progress"].append(message)
        if record["returned_at"] is None and message.get("hop", -1) >= record["hop"]:
            record.update(
                state=message.get("state"), where=message.get("site"), hop=message.get("hop")
            )
        detail = message.get("detail") or {}
        if message.get("what") == "handed" and record["returned_at"] is None:
            record["where"] = detail.get("to")  # the site that signed a receipt for it
        if message.get("what") == "bid":
            record["bids"].append({"site": message.get("site"), **detail})
        if message.get("result") is not None:
            record["result"] = message["result"]
        if isinstance(message.get("spent"), int):
            record["spent"] = message["spent"]
        self._save(record)

    def returned(self, mandate: Mandate, document: dict[str, Any], now: float) -> None:
        """The agent is home: keep its final document (its trip log)."""
        record = self._records.get(mandate.agent)
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
        self._save(record)

    def _record(self, agent: str) -> dict[str, Any]:
        record = self._records.get(agent)
        if record is None:
            raise NotFound(f"no agent {agent!r} launched from this house")
        return record

    def problems(self, agent: str) -> list[dict[str, Any]]:
        """What is wrong with the agent's trip log (empty: it verifies)."""
        record = self._record(agent)
        document = record["document"]
        if document is None:
            return []
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
        out = {k: v for k, v in record.items() if k not in ("document", "progress")}
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
