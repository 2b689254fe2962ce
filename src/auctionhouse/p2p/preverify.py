"""Signed bids' signatures verified ahead of their apply, off the peer's event loop.

Every replica verifies every signed bid when it applies it (the audit layer), and that verify
(Ed25519, 50-170 us on the shared machine) was a quarter of each peer's CPU per bid, all of it on
the loop that also runs Raft and the API. Here it is moved to the house's batched worker process
(house/verifier.py) and started as early as the bid is known:

- **On the proposer**, before proposing (``ReplicatedService``): a forged bid is refused there
  and never enters the log. Its verdict is *vouched* for the same bytes arriving in this peer's
  log, so the proposer's replica does not verify it a second time.
- **On every replica, when an entry is added to its Raft log** (``Prefetch.added``, hooked on the
  library's journal ``add``: the leader's append, a follower's ``append_entries``): the entry's
  commands are decoded once and each signed bid's check is sent to the worker. The entry
  commits one round trip later, so its verdicts are usually in when it is applied.
- **A rebuild from a snapshot** (a restart, a newcomer; ``verify_in_order``): the whole list of
  commands is checked ahead in chunks, dealt to worker processes of its own (one a core), while
  the replica applies the chunks before (every core at work instead of one).

A verdict is only a cache of a pure function: the house trusts it only for the exact public key,
signed bytes and signature it was computed for (``AuctionHouse.verdicts``) and verifies anything
else itself, as before. A verdict not back yet, a worker down, a key changed between the log
append and the apply: the replica verifies on the loop, and the answer is the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from auctionhouse.errors import AuctionhouseError
from auctionhouse.house.accounts import normalize_name
from auctionhouse.house.verifier import WORKER, SignatureCheck, encode_batch, make_check
from auctionhouse.p2p.codec import decode, restricted_loads

if TYPE_CHECKING:
    from auctionhouse.house import AuctionHouse
    from auctionhouse.house.verifier import BatchVerifier

log = logging.getLogger("auctionhouse.p2p")

REGULAR = 0  # pysyncobj 0.3.17 _COMMAND_TYPE.REGULAR: the first byte of a replicated call
MAX_AHEAD = 50_000  # commands decoded ahead and not applied yet (a cache: cleared past this)
CHUNK = 2_000  # checks per hand-off in a rebuild
MAX_REBUILD_WORKERS = 4  # signature workers of a rebuild (one a core)


def bid_check(house: AuctionHouse, args: dict[str, Any]) -> SignatureCheck | None:
    """The signature check of a ``place_bid`` command's arguments on ``house`` (None: unsigned
    or malformed; the house refuses those itself when it applies them)."""
    try:
        return house.signature_check(
            args["bidder_id"],
            args["auction_id"],
            args["amount"],
            proxy_max=args.get("proxy_max"),
            nonce=args.get("nonce"),
            ts=args.get("ts"),
            signature=args.get("signature"),
        )
    except (AuctionhouseError, KeyError, TypeError, ValueError):
        return None


def entry_commands(entry: bytes) -> list[bytes]:
    """The command blobs of one of pysyncobj's log entries (``apply_batch``'s list), or [] for
    a membership change, a no-op, or anything else."""
    if not entry or entry[0] != REGULAR:
        return []
    try:
        call = restricted_loads(entry[1:])
    except Exception:  # refused or not a pickle: the library's apply will say so
        return []
    if not isinstance(call, tuple) or len(call) < 2 or not isinstance(call[1], tuple):
        return []
    args = call[1]
    if len(args) != 1 or not isinstance(args[0], list):
        return []
    return [b for b in args[0] if isinstance(b, bytes)]


class Prefetch:
    """Commands decoded, and their bids' signatures verified on ``verifier``'s worker, from the
    moment they are in this replica's log until ``take`` hands them to the apply."""

    def __init__(self, verifier: BatchVerifier | None, house: Callable[[], AuctionHouse]) -> None:
        self.verifier = verifier
        self._house = house
        self._ahead: dict[bytes, tuple[dict[str, Any], SignatureCheck | None]] = {}
        self._vouched: dict[str, SignatureCheck] = {}  # by signature: checked by our proposer
        self.submitted = 0  # checks sent to the worker (bench/tests)
        self.reused = 0  # checks answered by the proposer's own verdict
        self.missed = 0  # checks without a verdict when applied (the apply verifies them)
        self.unseen = 0  # commands applied that were not seen ahead

    def vouch(self, check: SignatureCheck) -> None:
        """``check`` was verified on this peer before its command was proposed."""
        if len(self._vouched) >= MAX_AHEAD:
            self._vouched.clear()
        self._vouched[check.signature] = check

    def added(self, entry: bytes) -> asyncio.Future[None] | None:
        """An entry was appended to this replica's Raft log (on the event loop). Returns the
        worker batch that the last of its checks went in while it is not answered (the entry's
        verdicts are all in once it is: batches are answered in order), else None."""
        blobs = entry_commands(entry)
        if not blobs:
            return None
        if len(self._ahead) + len(blobs) > MAX_AHEAD:
            self._ahead.clear()  # entries appended and never applied (a new leader cut them)
        house = self._house()
        last: asyncio.Future[None] | None = None
        for blob in blobs:
            if blob in self._ahead:
                continue
            try:
                command = decode(blob)
            except AuctionhouseError:
                continue  # the apply refuses it
            check = bid_check(house, command["args"]) if command["op"] == "place_bid" else None
            self._ahead[blob] = (command, check)
            if check is not None:
                self._verify(check)
                if check.valid is None and check.batch is not None:
                    last = check.batch
        return last if last is not None and not last.done() else None

    def _verify(self, check: SignatureCheck) -> None:
        known = self._vouched.pop(check.signature, None)
        if (
            known is not None
            and known.valid is not None
            and known.public_key == check.public_key
            and known.message == check.message
        ):
            check.valid = known.valid
            self.reused += 1
            return
        if self.verifier is not None and self.verifier.enabled:
            self.verifier.submit(check)
            self.submitted += 1

    def take(self, blob: bytes) -> tuple[dict[str, Any], SignatureCheck | None] | None:
        """The command decoded ahead for ``blob`` and its bid's check (its ``valid`` is None
        while the worker has not answered), once; None if it was not seen ahead."""
        ahead = self._ahead.pop(blob, None)
        if ahead is None:
            self.unseen += 1
        elif ahead[1] is not None and ahead[1].valid is None:
            self.missed += 1
        return ahead

    def clear(self) -> None:
        self._ahead.clear()


def verify_in_order(
    blobs: list[bytes], workers: int
) -> Iterator[tuple[bytes, dict[str, Any] | None, SignatureCheck | None]]:
    """For a rebuild: yield each blob with its decoded command (None: not a command) and its
    bid's check, verified ahead on worker processes (``workers`` 0: none; ``valid`` stays None).

    Verifying was the rebuild's critical path (the applying thread waited on one worker), so
    the chunks are dealt round-robin to ``rebuild_workers(workers)`` processes, one a core: a
    rebuild happens before the peer serves, and both cores of a 2-core machine verify while
    this thread applies.

    The account keys are followed through the commands themselves (an ``account`` command's
    key, a ``register_key``), since the house being rebuilt has none yet; a check made with a
    key the house does not hold when it applies the bid is simply not trusted by it."""
    keys: dict[str, str | None] = {}
    decoded: list[tuple[bytes, dict[str, Any] | None, SignatureCheck | None]] = []
    checks: list[SignatureCheck] = []
    for blob in blobs:
        try:
            command = decode(blob)
        except AuctionhouseError:
            decoded.append((blob, None, None))
            continue
        check = _follow(keys, command["op"], command["args"])
        if check is not None:
            checks.append(check)
        decoded.append((blob, command, check))
    chunks = [checks[i : i + CHUNK] for i in range(0, len(checks), CHUNK)]
    wanted = min(rebuild_workers(workers), len(chunks))
    procs = [proc for proc in (_start_worker() for _ in range(wanted)) if proc is not None]
    if not procs:
        yield from decoded
        return
    feeders = [
        threading.Thread(
            target=_feed, args=(proc, chunks[k :: len(procs)]), name="rebuild-verify", daemon=True
        )
        for k, proc in enumerate(procs)
    ]
    for feeder in feeders:
        feeder.start()
    try:
        read = 0  # chunks whose verdicts are in (chunk i is worker i % len(procs)'s)
        for item in decoded:
            if read < len(chunks) and item[2] is not None and item[2] is chunks[read][0]:
                # The first check of the next chunk: its verdicts are needed from here on.
                if _read_verdicts(procs[read % len(procs)], chunks[read]):
                    read += 1
                else:
                    read = len(chunks)  # a worker failed: the house verifies the rest
            yield item
    finally:
        for proc in procs:
            if proc.stdout is not None:
                with contextlib.suppress(OSError):
                    proc.stdout.close()
            proc.kill()
            proc.wait()
        for feeder in feeders:
            feeder.join(timeout=5)


def rebuild_workers(workers: int) -> int:
    """Worker processes a rebuild verifies on: one a core (at most ``MAX_REBUILD_WORKERS``)
    when ``workers`` (the house's ``verify_workers``) is at least 1, else none."""
    if workers <= 0:
        return 0
    return max(workers, min(os.cpu_count() or 1, MAX_REBUILD_WORKERS))


def _follow(keys: dict[str, str | None], op: str, args: dict[str, Any]) -> SignatureCheck | None:
    """Track account keys through ``account``/``register_key`` commands; a bid's check."""
    try:
        if op in ("account", "register_key"):
            name = args.get("name", args.get("account_id"))
            if isinstance(name, str) and "public_key" in args:
                keys[normalize_name(name)] = args["public_key"]
            return None
        if op != "place_bid" or not isinstance(args.get("bidder_id"), str):
            return None
        bidder = normalize_name(args["bidder_id"])
        key, nonce, ts = keys.get(bidder), args.get("nonce"), args.get("ts")
        if not isinstance(nonce, int) or isinstance(nonce, bool):
            return None
        if not isinstance(ts, int | float) or isinstance(ts, bool):
            return None
        bid = (args["auction_id"], bidder, args["amount"], nonce, ts, args.get("proxy_max"))
        return make_check(key, bid, args.get("signature"))
    except (AuctionhouseError, KeyError, TypeError, ValueError):
        return None


def _start_worker() -> subprocess.Popen[bytes] | None:
    try:
        return subprocess.Popen(
            [sys.executable, "-P", str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
    except OSError as exc:
        log.warning("no signature worker for the rebuild (%s): verifying in line", exc)
        return None


def _feed(proc: subprocess.Popen[bytes], chunks: list[list[SignatureCheck]]) -> None:
    assert proc.stdin is not None
    try:
        for chunk in chunks:
            proc.stdin.write(encode_batch(chunk))
            proc.stdin.flush()
    except (OSError, ValueError):
        return  # the reader stopped (or the worker died): the house verifies what is left
    finally:
        with contextlib.suppress(OSError, ValueError):
            proc.stdin.close()


def _read_verdicts(proc: subprocess.Popen[bytes], chunk: list[SignatureCheck]) -> bool:
    assert proc.stdout is not None
    try:
        verdicts = proc.stdout.read(len(chunk))
    except (OSError, ValueError):
        return False
    if len(verdicts) != len(chunk):
        return False
    for check, verdict in zip(chunk, verdicts, strict=True):
        check.valid = verdict == 1
    return True
