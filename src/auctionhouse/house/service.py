"""HouseService: the async shell around the sync AuctionHouse (STYLE.md: sync core, async shell).

- Write commands go through one bounded queue; a full queue refuses with ``Overloaded`` at once
  (back-pressure instead of unbounded growth).
- One worker on the event loop decides a batch of queued commands against the in-memory states
  (microseconds each), takes the staged events, and hands them to a single writer thread that
  appends them in one fsync'd transaction (group commit). While one transaction is being
  fsync'd, later batches are decided: decisions and disk overlap, and writes stay in order on
  the one thread. As soon as an fsync returns, everything decided meanwhile goes in the next
  transaction (one, however many batches): a command waits for at most the fsync in progress
  and its own.
- A command's caller is answered only after its events are durable; listeners (WebSocket
  fan-out) hear of events only once durable too.
- The ledger's SQLite connection is created and used only on the writer thread.
- A signed bid's signature (a ``CheckedCommand``) goes to a ``BatchVerifier`` as it is queued;
  a batch is decided once its signatures are verified, many per hand-off, on a worker process
  (house/verifier.py). Deciding stays in arrival order on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, TypeVar

from auctionhouse.errors import AuctionhouseError, LedgerError, Overloaded
from auctionhouse.house.house import AuctionHouse
from auctionhouse.house.verifier import BatchVerifier, CheckedCommand, SignatureCheck

T = TypeVar("T")
log = logging.getLogger("auctionhouse.house")

_Item = tuple[Callable[[AuctionHouse], Any], "asyncio.Future[Any]"]


def batch_checks(batch: list[_Item]) -> list[SignatureCheck]:
    """The signature checks the batch's commands carry (``CheckedCommand``)."""
    return [c.check for c, _ in batch if type(c) is CheckedCommand and c.check is not None]


def run_commands(house: AuctionHouse, batch: list[_Item]) -> list[tuple[asyncio.Future[Any], Any]]:
    """Run each queued ``(command, future)`` on ``house`` in order. A refused command's future
    gets its error at once; returns ``(future, result)`` of the rest, to be resolved only once
    their staged events are durable. Signatures verified ahead (``batch_checks``) are used by
    the house for exactly what they verified. Shared by the embedded and the shared house."""
    with house.verdicts(batch_checks(batch)):
        return _run(house, batch)


def _run(house: AuctionHouse, batch: list[_Item]) -> list[tuple[asyncio.Future[Any], Any]]:
    done: list[tuple[asyncio.Future[Any], Any]] = []
    for command, future in batch:
        try:
            result = command(house)
        except AuctionhouseError as exc:
            if not future.done():
                future.set_exception(exc)
            continue
        except Exception as exc:
            log.exception("a house command failed")
            if not future.done():
                future.set_exception(exc)
            continue
        done.append((future, result))
    return done


class HouseService:
    def __init__(
        self,
        factory: Callable[[], AuctionHouse],
        *,
        max_pending: int | None = None,
        max_batch: int = 512,
        max_inflight_writes: int = 2,
        timer_resolution: float = 0.05,
    ) -> None:
        self._factory = factory
        self._max_pending = max_pending
        self._max_batch = max_batch
        self._inflight = max_inflight_writes
        self._timer_resolution = timer_resolution
        self._house: AuctionHouse | None = None
        self._queue: asyncio.Queue[_Item] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="ledger-writer")
        # Decided batches not yet written: (events, decided commands, commands taken), in order.
        self._unwritten: list[tuple[list[Any], list[tuple[asyncio.Future[Any], Any]], int]] = []
        self._unwritten_commands = 0
        self._to_write: asyncio.Event | None = None  # set when _unwritten has something
        self._written: asyncio.Event | None = None  # set when a write ended
        self._closing = False
        self.verifier: BatchVerifier | None = None
        self.failure: BaseException | None = None
        self.on_failure: Callable[[BaseException], None] | None = None
        # Told when another instance of a shared house revoked a session (its token digest;
        # None: some may have been missed, check them all), so its sockets here close at once.
        self.on_session_revoked: Callable[[str | None], None] | None = None

    @property
    def house(self) -> AuctionHouse:
        if self._house is None:
            raise RuntimeError("the house service is not started")
        return self._house

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._house = await loop.run_in_executor(self._writer, self._factory)
        self._house.auto_flush = False
        maxsize = self._max_pending or self._house.config.max_pending
        self._queue = asyncio.Queue(maxsize=maxsize)
        self._to_write = asyncio.Event()
        self._written = asyncio.Event()
        self.verifier = BatchVerifier(self._house.config.verify_workers)
        self._tasks = [
            asyncio.create_task(self._work(), name="house-worker"),
            asyncio.create_task(self._write_loop(), name="house-writer"),
            asyncio.create_task(self._timers(), name="house-timers"),
        ]
        # Auctions that passed their close while the house was down close now.
        await self.call(lambda h: h.tick())

    async def stop(self) -> None:
        """Refuse new work, finish what is queued, write it, checkpoint and close the ledger."""
        self._closing = True
        if self._queue is not None:
            await self._queue.join()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.verifier is not None:
            await self.verifier.close()
        if self._house is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._writer, self._house.close)
        self._writer.shutdown(wait=True)

    async def call(self, command: Callable[[AuctionHouse], T]) -> T:
        """Run ``command(house)`` in order with every other write; return once durable."""
        return await self.submit(command)

    def submit(self, command: Callable[[AuctionHouse], T]) -> asyncio.Future[T]:
        """``call`` without a coroutine: queue ``command`` and return the future that gets its
        result once durable (the WebSocket's hot path answers from the future's callback,
        no task per bid). Raises ``Overloaded``/``LedgerError`` at once, as ``call`` does."""
        if self._queue is None:
            raise RuntimeError("the house service is not started")
        if self._closing:
            raise Overloaded("the house is shutting down")
        if self.failure is not None:
            raise LedgerError("the house stopped after a ledger failure")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((command, future))
        except asyncio.QueueFull:
            raise Overloaded("the house is overloaded; retry shortly") from None
        if type(command) is CheckedCommand and self.verifier is not None:
            self._check_ahead(command)
        return future

    def _check_ahead(self, command: CheckedCommand[Any]) -> None:
        """Send the command's signature check to the batch verifier (a failure to make one
        only means the house verifies it itself, as it always may)."""
        assert self.verifier is not None
        try:
            command.check = command.prepare(self.house)
        except AuctionhouseError:
            return
        if command.check is not None:
            self.verifier.submit(command.check)

    async def run_blocking(
        self, fn: Callable[[AuctionHouse], T], executor: Executor | None = None
    ) -> T:
        """Run slow work that touches no auction state (argon2 hashing) off the event loop, on
        ``executor`` (the server's bounded password workers) or the loop's default one."""
        return await asyncio.get_running_loop().run_in_executor(executor, fn, self.house)

    async def _work(self) -> None:
        assert self._queue is not None and self._to_write is not None
        assert self._written is not None
        house = self.house
        queue = self._queue
        # Decided but not yet durable, at most this many commands (back-pressure: the queue
        # fills and refuses with Overloaded while the disk is behind).
        most = self._max_batch * self._inflight
        while True:
            first = await queue.get()
            batch = [first]
            while len(batch) < self._max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            await BatchVerifier.settle(batch_checks(batch))
            done = run_commands(house, batch)
            self._unwritten.append((house.staged(), done, len(batch)))
            self._unwritten_commands += len(batch)
            self._to_write.set()
            while self._unwritten_commands >= most:
                self._written.clear()
                await self._written.wait()

    async def _write_loop(self) -> None:
        """Write what is decided, in order: each time the writer thread is free, everything
        decided since the last write goes in one transaction (group commit)."""
        assert self._to_write is not None and self._written is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._to_write.wait()
            self._to_write.clear()
            while self._unwritten:
                parts, self._unwritten = self._unwritten, []
                events = [event for part in parts for event in part[0]]
                try:
                    if self.failure is None:
                        await loop.run_in_executor(self._writer, self.house.persist, events)
                except BaseException as exc:
                    self.failure = exc
                    log.critical("ledger write failed; the house stops taking commands: %r", exc)
                    if self.on_failure is not None:
                        self.on_failure(exc)
                self._wrote(parts, events)

    def _wrote(
        self,
        parts: list[tuple[list[Any], list[tuple[asyncio.Future[Any], Any]], int]],
        events: list[Any],
    ) -> None:
        """Answer the commands of a write: their results once durable, else the failure
        (nothing after a failed write is written: memory is ahead of the disk)."""
        assert self._queue is not None and self._written is not None
        taken = sum(part[2] for part in parts)
        self._unwritten_commands -= taken
        self._written.set()
        if self.failure is None:
            self.house.notify(events)
        for _events, done, _taken in parts:
            for future, result in done:
                if future.done():
                    continue
                if self.failure is None:
                    future.set_result(result)
                else:
                    future.set_exception(LedgerError("the ledger could not record this command"))
        for _ in range(taken):
            self._queue.task_done()

    async def _timers(self) -> None:
        house = self.house
        clock = house.clock
        while True:
            wake = house.next_wakeup()
            delay = self._timer_resolution * 10
            if wake is not None:
                delay = min(delay, max(0.0, wake - clock.now()))
            await asyncio.sleep(max(delay, 0.001))
            wake = house.next_wakeup()
            try:
                if wake is not None and wake <= clock.now():
                    await self.call(lambda h: h.tick())
                elif house._checkpoint_due():
                    await self.call(lambda h: [])
            except Overloaded:
                continue
            except AuctionhouseError:
                log.exception("the timer could not close auctions")
