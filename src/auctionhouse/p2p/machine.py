"""The replicated state machine: an ``AuctionHouse`` driven by committed Raft entries.

Each committed entry is one command of ``codec`` (JSON bytes). Every replica applies it the same
way: the house's own methods (``place_bid``, ``create_auction``, ...) run with the house clock
pinned to the command's time (never below the previous command's), so every rule, signature,
nonce, timestamp-skew and rate-limit check runs on every replica with the same inputs and
decides the same events. Every replica's ledger therefore holds the same events with the same
hash chains (each replica seals with its own house key).

The state kept in pysyncobj's snapshot is the list of commands applied (``_serialize``); a
replica that loads a snapshot (a restart, or a newcomer sent one by the leader) rebuilds its
house from an empty ledger by re-applying them, signatures included, then applies the log after
it. The house's SQLite files are a materialised view, rebuilt at each start
(docs/decisions/0015-replicated-state.md). Idempotency keys: a command whose key was applied
already is not applied again; its first result is returned.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from pysyncobj import SyncObjConsumer, replicated

from auctionhouse.errors import AuctionhouseError, InvalidRules, LedgerError, NoQuorum
from auctionhouse.house import AuctionHouse
from auctionhouse.house.verifier import SignatureCheck
from auctionhouse.p2p.codec import decode, error_result
from auctionhouse.p2p.preverify import Prefetch, verify_in_order

log = logging.getLogger("auctionhouse.p2p")
RESULTS_KEPT_FOR = 120.0  # seconds past a command's deadline its result is kept for retries


class ReplicaClock:
    """House time on a replica: the command's time while a command applies, else wall time
    (never below the last applied command's time)."""

    def __init__(self) -> None:
        self._pinned: float | None = None
        self.applied = 0.0

    def now(self) -> float:
        if self._pinned is not None:
            return self._pinned
        return max(time.time(), self.applied)

    def pin(self, at: float) -> float:
        self._pinned = self.applied = max(float(at), self.applied)
        return self._pinned

    def unpin(self) -> None:
        self._pinned = None


class HouseMachine(SyncObjConsumer):  # type: ignore[misc]
    def __init__(self, open_house: Callable[[ReplicaClock], AuctionHouse]) -> None:
        """``open_house(clock)`` opens an empty house (wiping what a previous run left)."""
        super().__init__()
        self._open_house = open_house
        self.clock = ReplicaClock()
        self.house = open_house(self.clock)
        self.house.auto_flush = False
        self.commands: list[bytes] = []
        self.results: dict[str, dict[str, Any]] = {}
        self._expiry: deque[tuple[float, str]] = deque()  # (until, key), in apply order
        self.rebuilds = 0
        # Told after a rebuild from a snapshot (the service re-subscribes its listeners).
        self.on_rebuilt: Callable[[AuctionHouse], None] | None = None
        # Commands decoded and signatures verified ahead, from the log append (p2p/preverify).
        self.prefetch = Prefetch(None, lambda: self.house)

    # pysyncobj calls this on every replica once the entry is committed, in log order. One
    # entry carries every command a peer proposed in one turn of its loop (a batch), so the
    # library's per-entry costs (pickle, compression, encryption, messages) are shared.
    @replicated  # type: ignore[untyped-decorator]
    def apply_batch(self, blobs: list[bytes]) -> list[dict[str, Any]]:
        if not isinstance(blobs, list):
            return []
        return [self.apply_local(blob) for blob in blobs]

    def apply_local(
        self, blob: bytes, ahead: tuple[dict[str, Any] | None, SignatureCheck | None] | None = None
    ) -> dict[str, Any]:
        """Apply one committed command; returns ``{"ok": value}`` or ``{"error": ...}``.
        ``ahead``: the command decoded ahead and its bid's signature check (``preverify``)."""
        if ahead is None:
            ahead = self.prefetch.take(blob)
        command, check = ahead if ahead is not None else (None, None)
        if command is None:
            try:
                command = decode(blob)
            except AuctionhouseError as exc:
                log.warning("a committed entry is not a command: %s", exc.message)
                return error_result(exc)
        key = command["key"]
        done = self.results.get(key)
        if done is not None:
            return done  # committed twice (a retry after a lost ack): applied once
        if self.clock.applied > command["until"]:
            # Its proposer gave up on it (and told its client so) before commands proposed
            # later were applied: applying it now would do what the client was told failed.
            return error_result(NoQuorum("the command reached the group after its deadline"))
        self.commands.append(blob)
        self.clock.pin(command["t"])
        try:
            if check is not None and check.valid is not None:
                with self.house.verdicts([check]):  # trusted for exactly its key and bytes
                    result: dict[str, Any] = {"ok": self._run(command["op"], command["args"])}
            else:
                result = {"ok": self._run(command["op"], command["args"])}
        except AuctionhouseError as exc:
            result = error_result(exc)
        except Exception as exc:  # a bug or a disk failure: this replica must stop serving
            log.exception("applying %s failed on this replica", command["op"])
            result = error_result(LedgerError(f"this replica could not apply the command: {exc}"))
        finally:
            self.clock.unpin()
        self.results[key] = result
        self._remember(command["until"], key)
        return result

    def _remember(self, until: float, key: str) -> None:
        """Keep results for retries only while one can still come: a proposer retries until
        ``until`` (its deadline), and a copy arriving later is refused by the deadline check;
        ``RESULTS_KEPT_FOR`` more seconds absorb clock differences between peers. Depends on
        the log only, so every replica forgets the same keys at the same entry."""
        self._expiry.append((until, key))
        horizon = self.clock.applied - RESULTS_KEPT_FOR
        while self._expiry and self._expiry[0][0] < horizon:
            self.results.pop(self._expiry.popleft()[1], None)

    def _run(self, op: str, args: dict[str, Any]) -> Any:
        house = self.house
        if op == "place_bid":
            return house.place_bid(**args)
        if op == "create_auction":
            if not isinstance(args.get("rules"), dict | None):
                raise InvalidRules("rules must be an object of auction rules")
            return house.create_auction(**args)
        if op == "cancel_auction":
            return house.cancel_auction(**args)
        if op == "pause_auction":
            return house.pause_auction(**args)
        if op == "resume_auction":
            return house.resume_auction(**args)
        if op == "tick":
            return len(house.tick())
        if op == "account":
            now = self.clock.now()
            return house.accounts.insert(now=now, **args).to_public()
        if op == "session":
            house.accounts.get(args["account_id"])
            house.accounts.add_session(args["digest"], args["account_id"], args["expires_at"])
            return None
        if op == "logout":  # by the token's digest: tokens never enter the log
            return 0 if house.accounts.logout_digest(args["digest"]) is None else 1
        if op == "logout_everywhere":
            return house.logout_everywhere(args["account_id"])
        if op == "password":  # the hash made by the proposer; every session revoked, one opened
            house.accounts.set_password_hash(args["account_id"], args["password_hash"])
            house.accounts.add_session(args["digest"], args["account_id"], args["expires_at"])
            return None
        if op == "register_key":
            return house.register_key(**args).to_public()
        raise LedgerError(f"no operation {op!r}")

    # ------------------------------------------------------------------ snapshots

    def _serialize(self) -> list[bytes]:
        return list(self.commands)

    def _deserialize(self, data: Any) -> None:
        """Rebuild the house from a snapshot's commands (a restart or a newcomer)."""
        if not isinstance(data, list) or not all(isinstance(b, bytes) for b in data):
            raise LedgerError("a snapshot is not a list of commands")
        started = time.monotonic()
        listeners = list(self.house._listeners)
        self.house.close()
        self.clock = ReplicaClock()
        self.house = self._open_house(self.clock)
        self.house.auto_flush = False
        self.commands = []
        self.results = {}
        self._expiry = deque()
        self.prefetch.clear()
        # Signatures verified ahead on a worker process while the commands before them apply.
        for blob, command, check in verify_in_order(data, self.house.config.verify_workers):
            self.apply_local(blob, (command, check))
        self.house.flush()  # before the listeners: a rebuild is not news to WebSocket clients
        for listener in listeners:
            self.house.subscribe(listener)
        self.rebuilds += 1
        log.info(
            "rebuilt the house from a snapshot of %d commands in %.2f s",
            len(data),
            time.monotonic() - started,
        )
        if self.on_rebuilt is not None:
            self.on_rebuilt(self.house)
