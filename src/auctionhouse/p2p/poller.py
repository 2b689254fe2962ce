"""An epoll poller for pysyncobj whose file descriptor the asyncio loop can watch.

pysyncobj 0.3.17 polls its sockets with ``select.poll`` (no descriptor of its own), so a tick
could only be driven by a timer. With this poller the peer's event loop calls ``doTick(0)`` as
soon as any of the library's sockets (or its command pipe) is ready: commands are sent and
answered without a timer's delay, and everything (ticks, applies, HTTP) runs on one thread.
"""

from __future__ import annotations

import contextlib
import select
from collections.abc import Callable
from typing import Any

from pysyncobj.poller import POLL_EVENT_TYPE


class EpollPoller:
    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._callbacks: dict[int, Callable[[int, int], Any]] = {}

    def fileno(self) -> int:
        return self._epoll.fileno()

    def subscribe(self, descr: int, callback: Callable[[int, int], Any], mask: int) -> None:
        events = 0
        if mask & POLL_EVENT_TYPE.READ:
            events |= select.EPOLLIN
        if mask & POLL_EVENT_TYPE.WRITE:
            events |= select.EPOLLOUT
        if mask & POLL_EVENT_TYPE.ERROR:
            events |= select.EPOLLERR
        if descr in self._callbacks:
            try:
                self._epoll.modify(descr, events)
            except FileNotFoundError:
                self._epoll.register(descr, events)
        else:
            try:
                self._epoll.register(descr, events)
            except FileExistsError:
                self._epoll.modify(descr, events)
        self._callbacks[descr] = callback

    def unsubscribe(self, descr: int) -> None:
        self._callbacks.pop(descr, None)
        with contextlib.suppress(OSError, ValueError, KeyError):
            self._epoll.unregister(descr)

    def poll(self, timeout: float) -> None:
        for descr, event in self._epoll.poll(max(0.0, timeout)):
            mask = 0
            if event & select.EPOLLIN:
                mask |= POLL_EVENT_TYPE.READ
            if event & select.EPOLLOUT:
                mask |= POLL_EVENT_TYPE.WRITE
            if event & (select.EPOLLERR | select.EPOLLHUP):
                mask |= POLL_EVENT_TYPE.ERROR
            callback = self._callbacks.get(descr)
            if callback is not None:
                callback(descr, mask)

    def close(self) -> None:
        self._epoll.close()


def install_epoll_poller() -> None:
    """Make every SyncObj created from now on in this process use ``EpollPoller``."""
    import pysyncobj.syncobj as syncobj_module

    syncobj_module.createPoller = lambda _kind: EpollPoller()
