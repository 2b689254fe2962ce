"""Raft's pre-vote (Ongaro's thesis, section 9.6) in front of pysyncobj 0.3.17, which has none.

Without it a follower whose election timer runs out starts an election at once, with a higher
term, and the leader that sees that term steps down even if it was alive and well. On the shared
machine that happened all the time: a peer starved of CPU for a second wakes up, its timer is
past, and the library checks the timer *before* reading the heartbeats waiting in its socket
(its tick reads sockets last). Measured: ~30 needless elections in a loaded benchmark run, each
one a pause of bidding.

With this gate (``PreVote.gate``, called before every ``doTick``) a replica whose election is due
first asks the others whether they would vote for it, without changing any term:

- a replica refuses while it hears from a leader (a message from it within the election's
  minimum timeout, on a connection that is up), and a leader always refuses;
- it refuses a candidate whose log is behind its own (the Raft vote rule), so the survivor with
  the longest log goes first and two survivors rarely split their votes;
- only with a majority of grants (itself included), and no word from the old leader since it
  asked, does the replica let the library start its real election (term + 1).

Nothing here can break Raft's safety: a pre-vote only ever delays an election the library
would have started; the real vote is still the library's.

**Failover**: once the connection to the leader dropped (``leader_lost``: a killed process's
sockets close at once), the replica retries its pre-vote and election every ``FAST_RETRY`` s
(randomised) instead of the 1-2 s election timeout, until a leader is known again, so that a
refused pre-vote or a split vote costs a fraction of a second, not a timeout.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from pysyncobj.monotonic import monotonic as monotonic_time

log = logging.getLogger("auctionhouse.p2p")

DEADLINE = "_SyncObj__raftElectionDeadline"  # pysyncobj 0.3.17's election deadline (monotonic)
TRANSPORT = "_SyncObj__transport"
FAST_RETRY = (0.1, 0.3)  # s: pre-vote/election retries while the leader's connection is down
FAILOVER_FOR = 10.0  # s after losing the leader that the fast retries may go on


class PreVote:
    def __init__(self, min_timeout: float) -> None:
        self.min_timeout = min_timeout  # a leader heard within this is alive (refuse)
        self.syncobj: Any = None
        self.heard: dict[Any, float] = {}  # node -> when its last append_entries arrived
        self._round = 0
        self._asked_at = 0.0
        self._grants: set[Any] = set()
        self._granted_round = -1  # a round that won: let the library's election through
        self.lost_at: float | None = None  # when the leader's connection dropped
        self.rounds = 0  # pre-vote rounds started (status, bench)
        self.elections = 0  # elections let through (rounds won)
        self.replies = 0  # answers to our pre-votes received (tests)

    # ------------------------------------------------------------------ the gate

    def gate(self) -> None:
        """Before each ``doTick``: hold an election that is due until a pre-vote round won."""
        so = self.syncobj
        if so is None or so.selfNode is None or so._isLeader():
            return
        now = monotonic_time()
        failover = self._in_failover(now)
        deadline = getattr(so, DEADLINE)
        if failover and deadline > now + FAST_RETRY[1]:
            setattr(so, DEADLINE, now + random.uniform(*FAST_RETRY))
            deadline = getattr(so, DEADLINE)
        if deadline > now:
            return
        if self._granted_round == self._round:
            self._granted_round = -1
            self.elections += 1
            return  # won: the library elects in this tick (it sets its next deadline itself)
        self._ask(so, now, failover)

    def _in_failover(self, now: float) -> bool:
        if self.lost_at is None:
            return False
        so = self.syncobj
        leader = so._getLeader()
        if now - self.lost_at > FAILOVER_FOR or (
            leader is not None and so.isNodeConnected(leader) and self._hears(leader, now)
        ):
            self.lost_at = None  # a leader again (or give up the fast retries)
            return False
        return True

    def _hears(self, node: Any, now: float) -> bool:
        return now - self.heard.get(node, -1e9) < self.min_timeout

    def _ask(self, so: Any, now: float, failover: bool) -> None:
        self._round += 1
        self.rounds += 1
        self._asked_at = now
        self._grants = {so.selfNode}
        wait = random.uniform(*FAST_RETRY) if failover else self._timeout(so)
        setattr(so, DEADLINE, now + wait)  # the next round, if this one does not win
        request = {
            "type": "pre_vote",
            "round": self._round,
            "term": so.raftCurrentTerm + 1,
            "last_log_index": so._SyncObj__getCurrentLogIndex(),
            "last_log_term": so._SyncObj__getCurrentLogTerm(),
        }
        transport = getattr(so, TRANSPORT)
        for node in so.otherNodes:
            transport.send(node, request)
        self._check_won(so)

    @staticmethod
    def _timeout(so: Any) -> float:
        conf = so.conf
        return float(
            conf.raftMinTimeout + (conf.raftMaxTimeout - conf.raftMinTimeout) * random.random()
        )

    def _check_won(self, so: Any) -> None:
        if len(self._grants) <= (len(so.otherNodes) + 1) / 2:
            return
        leader = so._getLeader()
        if (
            leader is not None
            and leader != so.selfNode
            and self.heard.get(leader, -1e9) > self._asked_at
        ):
            return  # the leader spoke since we asked: it is alive, no election
        self._granted_round = self._round
        setattr(so, DEADLINE, 0.0)  # the library elects at its next tick
        log.info(
            "pre-vote won (%d of %d): starting an election",
            len(self._grants),
            len(so.otherNodes) + 1,
        )

    # ------------------------------------------------------------------ messages

    def on_message(self, node: Any, message: Any) -> bool:
        """Every message from a member, before the library sees it; True: consumed here."""
        if not isinstance(message, dict):
            return False
        kind = message.get("type")
        if kind == "append_entries":
            self.heard[node] = monotonic_time()
            return False
        if kind == "pre_vote":
            self._answer(node, message)
            return True
        if kind == "pre_vote_reply":
            self.replies += 1
            so = self.syncobj
            if so is not None and message.get("round") == self._round and message.get("granted"):
                self._grants.add(node)
                if self._granted_round != self._round and not so._isLeader():
                    self._check_won(so)
            return True
        return False

    def _answer(self, node: Any, message: dict[str, Any]) -> None:
        so = self.syncobj
        if so is None or so.selfNode is None:
            return
        getattr(so, TRANSPORT).send(
            node,
            {
                "type": "pre_vote_reply",
                "round": message.get("round"),
                "granted": self._grant(so, node, message),
            },
        )

    def _grant(self, so: Any, node: Any, message: dict[str, Any]) -> bool:
        now = monotonic_time()
        if so._isLeader():
            return False  # alive; a leader cut from its majority steps down by itself
        leader = so._getLeader()
        if (
            leader is not None
            and leader != node
            and so.isNodeConnected(leader)
            and self._hears(leader, now)
        ):
            return False  # we hear a leader: no election needed
        term, index, last = (
            message.get("term"),
            message.get("last_log_index"),
            message.get("last_log_term"),
        )
        if not all(isinstance(v, int) for v in (term, index, last)):
            return False
        if term < so.raftCurrentTerm:
            return False
        mine = (so._SyncObj__getCurrentLogTerm(), so._SyncObj__getCurrentLogIndex())
        return (last, index) >= mine

    def status(self) -> dict[str, int]:
        return {"pre_vote_rounds": self.rounds, "elections_started": self.elections}
