"""Password work (argon2id: deliberately slow, 64 MiB a hash by default) off the event loop, on
a small bounded pool, so a guessing flood neither takes every core from bids nor grows memory.

Two lanes, each its own threads and a bounded wait:

- ``trusted``: logins from an address that has logged into that account before (a returning
  owner: a guesser cannot be one without the password). ``workers`` threads.
- ``suspect``: every other login, account creation and password changes (the work anyone can
  ask for at will). One thread, at a lower CPU priority (nice 10). At most
  ``PER_ACCOUNT_IN_FLIGHT`` logins of one account are checked or waiting at once (more: 429
  ``login_throttled``, retry in 1 s), so a flood's first burst, before any failure is
  recorded, cannot queue ahead of everyone. Logins of different accounts from one address
  (many agents on one host) are not capped.

A guessing flood so queues behind itself, a few requests deep: returning users keep their own
lane, and everyone else waits behind at most a few guesses.
``workers`` defaults to one less than the cores (at least 1, at most 4), so with the suspect
lane busy a core is left for the event loop (bids). At most ``max_waiting`` calls wait per
lane; more are refused at once with ``Overloaded`` (503 + Retry-After), never queued without
bound. Peak memory is about (workers + 1) x argon2_memory_kib.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, TypeVar

from auctionhouse.errors import LoginThrottled, Overloaded
from auctionhouse.house import AuctionHouse
from auctionhouse.house.service import HouseService

T = TypeVar("T")
Lane = Literal["trusted", "suspect"]
PER_ACCOUNT_IN_FLIGHT = 2


SUSPECT_NICENESS = 10


def _lower_priority() -> None:
    """Run this worker thread at a lower CPU priority (Linux: per-thread nice), so guesses
    yield the CPU to bids and returning logins, and use it fully when nothing else runs."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SUSPECT_NICENESS)
    except (AttributeError, OSError):  # not Linux, or not allowed: normal priority
        pass


def default_workers() -> int:
    cores = os.cpu_count() or 1
    return max(1, min(4, cores - 1))


class PasswordWorkers:
    """The lanes' threads; the work itself goes through ``service.run_blocking`` (a replicated
    peer's service turns a login or a sign-up into a replicated command there)."""

    def __init__(self, service: HouseService, workers: int = 0, max_waiting: int = 256) -> None:
        self.service = service
        self.workers = workers or default_workers()
        self.max_waiting = max_waiting
        self._pools: dict[Lane, ThreadPoolExecutor] = {
            "trusted": ThreadPoolExecutor(self.workers, thread_name_prefix="argon2"),
            "suspect": ThreadPoolExecutor(
                1, thread_name_prefix="argon2-suspect", initializer=_lower_priority
            ),
        }
        self._waiting: dict[Lane, int] = {"trusted": 0, "suspect": 0}
        self._in_flight: dict[str, int] = {}

    async def run(self, lane: Lane, fn: Callable[[AuctionHouse], T]) -> T:
        """``fn(house)`` on a worker of ``lane``; ``Overloaded`` if too many calls wait."""
        if self._waiting[lane] >= self.max_waiting:
            raise Overloaded("too many logins are being checked; retry in a moment")
        self._waiting[lane] += 1
        try:
            return await self.service.run_blocking(fn, self._pools[lane])
        finally:
            self._waiting[lane] -= 1

    async def login(self, trusted: bool, account: str, fn: Callable[[AuctionHouse], T]) -> T:
        """A login's password work: on the trusted lane, or on the suspect lane with at most
        PER_ACCOUNT_IN_FLIGHT logins of ``account`` checked or waiting at once."""
        if trusted:
            return await self.run("trusted", fn)
        if self._in_flight.get(account, 0) >= PER_ACCOUNT_IN_FLIGHT:
            raise LoginThrottled(
                "a login for this account is already being checked; retry in 1 s",
                retry_after=1.0,
            )
        self._in_flight[account] = self._in_flight.get(account, 0) + 1
        try:
            return await self.run("suspect", fn)
        finally:
            left = self._in_flight[account] - 1
            if left:
                self._in_flight[account] = left
            else:
                del self._in_flight[account]

    def waiting(self, lane: Lane) -> int:
        return self._waiting[lane]

    def shutdown(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
