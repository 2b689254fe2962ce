"""Password work (argon2id: deliberately slow, 64 MiB a hash by default) off the event loop, on
a small bounded pool, so a guessing flood neither takes every core from bids nor grows memory.

Two lanes, each its own threads and a bounded wait:

- ``trusted``: logins where neither the account nor the address has recent failed logins:
  the honest majority. ``workers`` threads.
- ``suspect``: logins of an account or from an address with recent failures, account
  creation and password changes (the work an attacker can ask for at will). One thread.

A guessing flood so queues behind itself: honest logins of other accounts keep their own lane.
``workers`` defaults to one less than the cores (at least 1, at most 4), so with the suspect
lane busy a core is left for the event loop (bids). At most ``max_waiting`` calls wait per
lane; more are refused at once with ``Overloaded`` (503 + Retry-After), never queued without
bound. Peak memory is about (workers + 1) x argon2_memory_kib.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, TypeVar

from auctionhouse.errors import Overloaded

T = TypeVar("T")
Lane = Literal["trusted", "suspect"]


def default_workers() -> int:
    cores = os.cpu_count() or 1
    return max(1, min(4, cores - 1))


class PasswordWorkers:
    def __init__(self, workers: int = 0, max_waiting: int = 32) -> None:
        self.workers = workers or default_workers()
        self.max_waiting = max_waiting
        self._pools: dict[Lane, ThreadPoolExecutor] = {
            "trusted": ThreadPoolExecutor(self.workers, thread_name_prefix="argon2"),
            "suspect": ThreadPoolExecutor(1, thread_name_prefix="argon2-suspect"),
        }
        self._waiting: dict[Lane, int] = {"trusted": 0, "suspect": 0}

    async def run(self, lane: Lane, fn: Callable[[], T]) -> T:
        """``fn()`` on a worker of ``lane``; ``Overloaded`` if too many calls wait already."""
        if self._waiting[lane] >= self.max_waiting:
            raise Overloaded("too many logins are being checked; retry in a moment")
        self._waiting[lane] += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pools[lane], fn)
        finally:
            self._waiting[lane] -= 1

    def waiting(self, lane: Lane) -> int:
        return self._waiting[lane]

    def shutdown(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
