"""Signed bids' Ed25519 checks, batched off the event loop (docs/decisions/0017-batched-verify.md).

The verify (~43-100 us) was most of a signed bid's cost on the event loop. A ``BatchVerifier``
collects the checks of the bids that arrived during one loop iteration (and while its worker was
busy) and sends them to a worker process in one hand-off: one pipe write and one read per batch,
the worker verifying with its own interpreter (no GIL shared with the loop). The service waits
for the verdicts of a batch of queued commands before deciding them, in arrival order.

A verdict is only ever a cache of a pure function: the house trusts it only for the exact
``(public key, signed bytes, signature)`` it was computed for (``AuctionHouse._verify_signature``)
and verifies anything else itself, on the loop, as before. So a worker that is starting, slow,
dead or disabled (``HouseConfig.verify_workers = 0``) changes the speed, never an answer: a bad
signature is refused with ``bad_signature`` before the rules see the bid, the nonce is spent at
the same point, and a resend is answered as before (decisions 0004, 0008).

Why a process and not a thread: PyNaCl releases the GIL inside the C verify, but a thread must take
the GIL back after each signature, and a busy event loop holds it for up to the switch interval
(5 ms): measured, a verifying thread next to a busy thread ran at a quarter of its own rate, and
one hand-off per bid on a thread pool made the whole server slower (0.26x, p99 > 100 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Generic, TypeVar

from auctionhouse.house.signing import bid_message
from auctionhouse.house.verify_worker import HEADER, LENGTH, holds

log = logging.getLogger("auctionhouse.house")
T = TypeVar("T")

MAX_MESSAGE = 0xFFFF  # longer signed messages are verified on the loop (none are this long)
SETTLE_TIMEOUT = 5.0  # seconds the service waits for verdicts before verifying on the loop
RESTART_AFTER = 5.0  # seconds before a worker that died or failed to start is started again
WORKER = Path(__file__).with_name("verify_worker.py")  # run by path: imports no house
INLINE_CHECKS = 2
"""A batch this small, with the worker idle, is verified on the loop: a hand-off costs the loop
a pipe write and a wake-up to read the answer (~25 us, about one verify) and the bids a round
trip through another process, which a loaded machine may not schedule for milliseconds. Under
load the batches are larger and go to the worker (issue 14: ack p99 at half load)."""


Bid = tuple[str, str, int, int, "float | int", "int | None"]
"""A signed bid's fields, as ``bid_message`` takes them: auction, bidder, amount, nonce, ts,
proxy_max."""


class SignatureCheck:
    """One signed bid's check: the account's key (hex, as registered), the bid's fields and
    their canonical signed bytes, the signature (hex, as sent) and, once verified, ``valid``.
    ``batch`` resolves when the batch it went in is answered (``valid`` stays None if the
    worker failed)."""

    __slots__ = ("batch", "bid", "key", "message", "public_key", "raw", "signature", "valid")

    def __init__(
        self, public_key: str, key: bytes, bid: Bid, message: bytes, signature: str, raw: bytes
    ) -> None:
        self.public_key = public_key
        self.key = key
        self.bid = bid
        self.message = message
        self.signature = signature
        self.raw = raw  # the signature's 64 bytes
        self.valid: bool | None = None
        self.batch: asyncio.Future[None] | None = None

    def same_bid(self, bid: Bid) -> bool:
        """Are ``bid``'s fields the very ones this check signed (so that ``bid_message`` of them
        is ``message``)? Numbers by identity (``1 == 1.0 == True``, but their JSON differs),
        strings by value: cheaper than building the bytes again on the loop."""
        mine = self.bid
        return (
            mine[2] is bid[2]
            and mine[3] is bid[3]
            and mine[4] is bid[4]
            and mine[5] is bid[5]
            and mine[0] == bid[0]
            and mine[1] == bid[1]
            and type(mine[0]) is type(bid[0])
            and type(mine[1]) is type(bid[1])
        )


def make_check(public_key: str | None, bid: Bid, signature: object) -> SignatureCheck | None:
    """A check of ``signature`` (hex) over the canonical bytes of ``bid`` with ``public_key``
    (hex), or None when it cannot be checked ahead (no key, malformed hex: the house refuses
    those itself)."""
    raw = _raw(public_key, signature)
    if raw is None:
        return None
    assert public_key is not None and type(signature) is str
    message = bid_message(*bid)
    if len(message) > MAX_MESSAGE:
        return None
    return SignatureCheck(public_key, raw[0], bid, message, signature, raw[1])


def _raw(public_key: str | None, signature: object) -> tuple[bytes, bytes] | None:
    """The key's 32 and the signature's 64 bytes from their hex, or None (malformed)."""
    if public_key is None or type(signature) is not str:
        return None
    # Exactly 2n hex digits: fromhex skips whitespace, so n bytes out of 2n characters means
    # none was skipped (what strict_hex checks with a regular expression, at a third the cost).
    if len(public_key) != 64 or len(signature) != 128:
        return None
    try:
        key = bytes.fromhex(public_key)
        raw = bytes.fromhex(signature)
    except ValueError:
        return None
    if len(key) != 32 or len(raw) != 64:
        return None
    return key, raw


_NO_BID: Bid = ("", "", 0, 0, 0, None)


class MessageCheck(SignatureCheck):
    """The check of other signed bytes (a market order or cancel, house/markets.py): its
    verdict is trusted only for exactly its bytes (``AuctionHouse._verify_message`` compares
    them), never for a bid."""

    __slots__ = ()

    def same_bid(self, bid: Bid) -> bool:
        return False


def make_message_check(
    public_key: str | None, message: bytes, signature: object
) -> SignatureCheck | None:
    """A check of ``signature`` (hex) over ``message`` with ``public_key`` (hex), or None
    (nothing to check ahead: the house refuses malformed ones itself)."""
    raw = _raw(public_key, signature)
    if raw is None or len(message) > MAX_MESSAGE:
        return None
    assert public_key is not None and type(signature) is str
    return MessageCheck(public_key, raw[0], _NO_BID, message, signature, raw[1])


class CheckedCommand(Generic[T]):
    """A house command (``command(house)``) with the signature check of the bid it places,
    made by ``prepare(house)`` when the service queues it (None: nothing to check ahead).
    Called like the plain command, so a service that does not batch (peers) just runs it."""

    __slots__ = ("check", "command", "prepare")

    def __init__(
        self,
        command: Callable[[Any], T],
        prepare: Callable[[Any], SignatureCheck | None],
    ) -> None:
        self.command = command
        self.prepare = prepare
        self.check: SignatureCheck | None = None

    def __call__(self, house: Any) -> T:
        return self.command(house)


def place_bid_command(
    bidder_id: str,
    auction_id: str,
    amount: int,
    *,
    proxy_max: int | None = None,
    nonce: int | None = None,
    ts: float | None = None,
    signature: str | None = None,
    mandate: tuple[str, str] | None = None,
) -> Callable[[Any], dict[str, Any]]:
    """The service command ``house.place_bid(...)`` with these arguments; for a signed bid a
    ``CheckedCommand`` whose signature the service verifies ahead, in a batch. Every face that
    places bids builds its command here (WebSocket, HTTP, embedded agents, mobile agents), so
    every signed bid is verified the same way. ``mandate``: a mobile agent's ``(digest,
    document)`` (``AuctionHouse.mandated``; such bids carry no signature of their own)."""
    fields: dict[str, Any] = {
        "proxy_max": proxy_max,
        "nonce": nonce,
        "ts": ts,
        "signature": signature,
    }
    if mandate is not None:
        fields["mandate"] = mandate

    def place(house: Any) -> dict[str, Any]:
        return house.place_bid(bidder_id, auction_id, amount, **fields)  # type: ignore[no-any-return]

    if signature is None:
        return place
    return CheckedCommand(
        place,
        lambda house: house.signature_check(
            bidder_id,
            auction_id,
            amount,
            proxy_max=proxy_max,
            nonce=nonce,
            ts=ts,
            signature=signature,
        ),
    )


def encode_batch(checks: list[SignatureCheck]) -> bytes:
    """The worker's request: a header, then per check key (32 bytes), signature (64), message
    length (2, little-endian) and message."""
    parts = []
    for check in checks:
        parts.append(check.key)
        parts.append(check.raw)
        parts.append(LENGTH.pack(len(check.message)))
        parts.append(check.message)
    body = b"".join(parts)
    return HEADER.pack(len(body), len(checks)) + body


class BatchVerifier:
    """Verifies signed bids' checks in batches on one worker process (``workers`` 0: never;
    the house then verifies on the loop). ``submit`` queues a check; the checks submitted in one
    loop iteration, or while the worker is busy with the previous batch, go in one hand-off.

    The worker starts at the first check; until it is up (or after it died), batches are
    answered at once with no verdict, so the house verifies those itself. ``max_batch``: checks
    per hand-off (as many as the service decides at once: a batch waits for no later bids)."""

    def __init__(
        self, workers: int = 1, *, max_batch: int = 512, inline: int = INLINE_CHECKS
    ) -> None:
        self.enabled = workers > 0
        self.max_batch = max_batch
        self.inline = inline  # batches of at most this many checks are verified on the loop
        self.batches = 0  # hand-offs made (for tests and the bench)
        self.checks = 0  # checks submitted
        self.verified = 0  # checks the worker answered
        self.verified_here = 0  # checks verified on the loop (small batches, worker idle)
        self._pending: list[SignatureCheck] = []
        self._pending_done: asyncio.Future[None] | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._starting: asyncio.Task[None] | None = None
        self._down_until = 0.0
        self._closed = False

    def submit(self, check: SignatureCheck) -> None:
        """Queue ``check`` for the next batch (on the event loop)."""
        if not self.enabled or self._closed:
            return
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._run(), name="signature-verifier")
        if self._pending_done is None:
            self._pending_done = loop.create_future()
        check.batch = self._pending_done
        self._pending.append(check)
        self.checks += 1
        assert self._wake is not None
        self._wake.set()

    @staticmethod
    async def settle(checks: Iterable[SignatureCheck], timeout: float = SETTLE_TIMEOUT) -> None:
        """Wait until every batch these checks went in is answered (at most ``timeout``
        seconds: a check still unanswered is then verified by the house itself)."""
        waiting = {c.batch for c in checks if c.batch is not None and not c.batch.done()}
        if waiting:
            await asyncio.wait(waiting, timeout=timeout)

    @property
    def running(self) -> bool:
        """Is a worker process up (batches go to it)?"""
        return self._proc is not None and self._proc.returncode is None

    async def warm(self, timeout: float = 10.0) -> bool:
        """Start the worker now rather than at the first check; True once it is up."""
        if not self.enabled or self._closed:
            return False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._down_until = 0.0
        while not self.running and loop.time() < deadline:
            self._worker(loop)
            if self._starting is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(self._starting), deadline - loop.time())
            else:
                await asyncio.sleep(0.01)
        return self.running

    async def close(self) -> None:
        """Answer what is pending (without verdicts), stop the task and the worker."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._starting is not None:
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._starting
        self._answer(self._take())
        await self._stop_worker()

    # ------------------------------------------------------------------ the hand-offs

    def _take(self) -> tuple[list[SignatureCheck], asyncio.Future[None] | None]:
        batch, done = self._pending[: self.max_batch], self._pending_done
        del self._pending[: self.max_batch]
        if self._pending:  # the rest go in the next hand-off, with a future of their own
            rest = asyncio.get_running_loop().create_future()
            for check in self._pending:
                check.batch = rest
            self._pending_done = rest
        else:
            self._pending_done = None
        return batch, done

    @staticmethod
    def _answer(taken: tuple[list[SignatureCheck], asyncio.Future[None] | None]) -> None:
        done = taken[1]
        if done is not None and not done.done():
            done.set_result(None)

    async def _run(self) -> None:
        assert self._wake is not None
        wake = self._wake
        loop = asyncio.get_running_loop()
        while True:
            # What the loop's last iteration queued goes at once (the worker is idle: waiting
            # for more would only delay these); what comes while it verifies goes next.
            await wake.wait()
            wake.clear()
            while self._pending:
                taken = self._take()
                try:
                    proc = self._worker(loop)  # started at the first check in any case
                    if len(taken[0]) <= self.inline:
                        self._verify_here(taken[0])
                    elif proc is not None:
                        await self._hand_off(proc, taken[0])
                finally:
                    self._answer(taken)

    def _verify_here(self, checks: list[SignatureCheck]) -> None:
        for check in checks:
            check.valid = holds(check.key, check.raw, check.message)
        self.verified_here += len(checks)

    def _worker(self, loop: asyncio.AbstractEventLoop) -> asyncio.subprocess.Process | None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            return proc
        if self._starting is None and loop.time() >= self._down_until:
            self._starting = loop.create_task(self._start_worker(), name="verifier-start")
        return None

    async def _start_worker(self) -> None:
        try:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-P",  # not its own folder on sys.path: the house's modules stay out
                str(WORKER),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            log.warning("the signature worker did not start (%s); verifying on the loop", exc)
            self._down_until = asyncio.get_running_loop().time() + RESTART_AFTER
        finally:
            self._starting = None

    async def _hand_off(
        self, proc: asyncio.subprocess.Process, checks: list[SignatureCheck]
    ) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(encode_batch(checks))
            await proc.stdin.drain()
            verdicts = await proc.stdout.readexactly(len(checks))
        except (OSError, asyncio.IncompleteReadError) as exc:  # died: the loop verifies
            log.warning("the signature worker stopped (%r); verifying on the loop", exc)
            self._down_until = asyncio.get_running_loop().time() + RESTART_AFTER
            await self._stop_worker()
            return
        self.batches += 1
        self.verified += len(checks)
        for check, verdict in zip(checks, verdicts, strict=True):
            check.valid = verdict == 1

    async def _stop_worker(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 5.0)
        except TimeoutError:
            proc.kill()
            await proc.wait()
