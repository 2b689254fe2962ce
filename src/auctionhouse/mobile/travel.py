"""The travelling half of a mobile agent's document: its state, its schedule, its trip log.

A document on the wire is ``{"mandate": {...}, "travel": {...}}``; the mandate is the owner's
signed, never-changed half (``ledger.mandate``), the travel state is this::

    {"state": "OBSERVING", "hop": 3,
     "schedule": [{"site": "http://127.0.0.1:8002", "status": "visited"}, ...],
     "options": [{"site": ..., "auction": "7", "method": "english", "estimate": 12000,
                  "closes_at": 1767225630.0, "status": "acceptable"}, ...],
     "target": {"site": ..., "auction": "7"} or null,
     "spent": 0, "result": null or {"outcome": "won", "site": ..., "auction": ..., "price": ...},
     "log": [<trip log entries>]}

States are the thesis' (figure 7.4): STARTING, MOVING, OBSERVING, COOPERATING, DECIDING,
REGISTERING, BIDDING, COMPLETING, HOME. A schedule entry is ``todo`` (from the owner),
``discovered`` (given by a site while cooperating), ``visited``, ``dead`` (no answer) or
``refused`` (the site's policy said no).

The trip log: every site appends entries signed with its house key (``Ledger.sign_statement``)
and chained by hash: entry ``n`` holds ``prev`` = SHA-256 of entry ``n-1``'s canonical JSON
(entry 0: the mandate's digest), so no site can alter or drop another site's entries without
breaking the chain or the signatures, and a cut tail is caught against the heads sites reported
home (``verify_log``). No secret travels: no password, no private key; only public facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import sha256
from typing import Any

from auctionhouse.errors import InvalidRequest
from auctionhouse.ledger.encoding import canonical_json
from auctionhouse.ledger.keys import verify

STATES = (
    "STARTING",
    "MOVING",
    "OBSERVING",
    "COOPERATING",
    "DECIDING",
    "REGISTERING",
    "BIDDING",
    "COMPLETING",
    "HOME",
)
STATUSES = ("todo", "discovered", "visited", "dead", "refused")
TO_VISIT = ("todo", "discovered")
OPTION_STATUSES = ("acceptable", "chosen", "won", "lost", "no_sale", "gone")

TRIP_CONTEXT = b"auctionhouse-trip-entry-v1\n"
RECEIPT_CONTEXT = b"auctionhouse-agent-receipt-v1\n"
PROGRESS_CONTEXT = b"auctionhouse-agent-progress-v1\n"
MAX_LOG = 2000
MAX_SCHEDULE = 256


def unsigned(statement: dict[str, Any]) -> bytes:
    """A signed statement's canonical JSON without its ``sig``."""
    return canonical_json({k: v for k, v in statement.items() if k != "sig"})


def statement_holds(context: bytes, statement: dict[str, Any]) -> bool:
    """Whether ``statement["sig"]`` is its ``site_key``'s signature of it."""
    key, sig = statement.get("site_key"), statement.get("sig")
    if not isinstance(key, str) or not isinstance(sig, str):
        return False
    try:
        return verify(key, context + unsigned(statement), sig)
    except InvalidRequest:  # not canonical JSON (NaN, Infinity): nobody signed that
        return False


def entry_hash(entry: dict[str, Any]) -> str:
    """SHA-256 (hex) of a trip log entry's canonical JSON; an entry that has none (a NaN put
    in by a site) hashes to "unreadable", which no entry chains to."""
    try:
        return sha256(canonical_json(entry)).hexdigest()
    except InvalidRequest:
        return "unreadable"


def new_travel(schedule: tuple[str, ...]) -> dict[str, Any]:
    """The travel state an owner's agent starts with."""
    return {
        "state": "STARTING",
        "hop": 0,
        "schedule": [{"site": s, "status": "todo"} for s in dict.fromkeys(schedule)],
        "options": [],
        "target": None,
        "spent": 0,
        "result": None,
        "log": [],
    }


def check_travel(travel: Any) -> dict[str, Any]:
    """The shape of a travel state as received (``InvalidRequest`` names the fault). Its
    contents are the sender's word; the trip log's signatures are what home trusts."""
    if not isinstance(travel, dict):
        raise InvalidRequest("travel must be an object")
    state, hop = travel.get("state"), travel.get("hop")
    if state not in STATES:
        raise InvalidRequest(f"travel.state must be one of {', '.join(STATES)}")
    if isinstance(hop, bool) or not isinstance(hop, int) or not 0 <= hop <= 100_000:
        raise InvalidRequest("travel.hop must be a whole number >= 0")
    schedule = travel.get("schedule")
    if not isinstance(schedule, list) or len(schedule) > MAX_SCHEDULE:
        raise InvalidRequest(f"travel.schedule must be a list of at most {MAX_SCHEDULE} sites")
    for entry in schedule:
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("site"), str)
            or entry.get("status") not in STATUSES
        ):
            raise InvalidRequest("travel.schedule entries are {site, status}")
    for key in ("options", "log"):
        value = travel.get(key)
        if not isinstance(value, list) or len(value) > MAX_LOG:
            raise InvalidRequest(f"travel.{key} must be a list of at most {MAX_LOG}")
        if not all(isinstance(item, dict) for item in value):
            raise InvalidRequest(f"travel.{key} must hold objects")
    spent = travel.get("spent")
    if isinstance(spent, bool) or not isinstance(spent, int) or spent < 0:
        raise InvalidRequest("travel.spent must be a whole number >= 0")
    target = travel.get("target")
    if target is not None and not (
        isinstance(target, dict)
        and isinstance(target.get("site"), str)
        and isinstance(target.get("auction"), str)
    ):
        raise InvalidRequest("travel.target must be null or {site, auction}")
    return travel


def spent_in_log(log: list[dict[str, Any]]) -> int:
    """What the trip log says the agent has spent or committed (minor units): the prices of
    the auctions it won and what it left leading in auctions still open. A site trusts this,
    signed by the sites that wrote it, over the travel state's ``spent``, which the last site
    could have lowered (removing entries instead breaks the chain home checks)."""
    total = 0
    for entry in log:
        detail = entry.get("detail")
        amount = None
        if isinstance(detail, dict):
            if entry.get("what") == "won":
                amount = detail.get("price")
            elif entry.get("what") == "left_open":
                amount = detail.get("committed")
        if isinstance(amount, int) and not isinstance(amount, bool) and amount > 0:
            total += amount
    return total


def head(log: list[dict[str, Any]], mandate_digest: str) -> dict[str, Any]:
    """The log's head: how many entries and the hash the next one chains to."""
    return {"n": len(log), "hash": entry_hash(log[-1]) if log else mandate_digest}


@dataclass(frozen=True, slots=True)
class LogProblem:
    n: int | None
    kind: str  # edited, cut, unsigned, foreign
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "kind": self.kind, "message": self.message}


def verify_log(
    mandate_digest: str,
    log: list[dict[str, Any]],
    reported: list[dict[str, Any]] | None = None,
) -> list[LogProblem]:
    """Check a trip log: each entry signed by the site key it names and chained to the one
    before (entry 0 to the mandate); ``reported`` heads (``{"n", "hash", "site"}``, from the
    progress messages sites sent home) must all be in it. Returns the problems (none: it holds).
    """
    problems: list[LogProblem] = []
    prev = mandate_digest
    hashes: list[str] = []
    for n, entry in enumerate(log):
        if entry.get("n") != n:
            problems.append(
                LogProblem(n, "edited", f"entry {n} claims to be entry {entry.get('n')}")
            )
        if entry.get("prev") != prev:
            site = entry.get("site")
            problems.append(
                LogProblem(n, "edited", f"entry {n} ({site}) does not chain to the entry before")
            )
        if not statement_holds(TRIP_CONTEXT, entry):
            site = entry.get("site")
            problems.append(
                LogProblem(n, "edited", f"entry {n}'s signature by {site} does not hold")
            )
        prev = entry_hash(entry)
        hashes.append(prev)
    for report in reported or ():
        count, digest = report.get("n"), report.get("hash")
        if not isinstance(count, int) or count <= 0:
            continue
        n, site = count, report.get("site")
        if n > len(log):
            message = f"{site} reported {n} entries, the log has {len(log)}: a later site cut it"
            problems.append(LogProblem(n - 1, "cut", message))
        elif hashes[n - 1] != digest:
            message = f"entry {n - 1} differs from what {site} reported home: rewritten later"
            problems.append(LogProblem(n - 1, "cut", message))
    return problems
