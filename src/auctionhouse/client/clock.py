"""The house clock as a client sees it: an offset from the local clock.

The house decides every deadline; a client needs its time only to stamp signed bids (``ts`` must
be within the house's skew window) and to draw countdowns. ``GET /api/v1/time`` gives a sample
``now`` taken somewhere between sending and receiving: the estimate is the midpoint, and the
sample with the shortest round trip wins (its error is at most half that round trip). Pushed
``server_time`` values are lower bounds on the house's time at arrival, so one that is ahead of
the estimate moves it forward.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class ServerClock:
    def __init__(self, local: Callable[[], float] = time.time) -> None:
        self._local = local
        self.offset = 0.0
        self.synced = False
        self._best_rtt = float("inf")
        self._best_at = 0.0
        self._observed = False

    def local(self) -> float:
        return self._local()

    def now(self) -> float:
        """Estimated house time."""
        return self._local() + self.offset

    def sample(self, sent: float, server_now: float, received: float) -> None:
        """Record one ``/time`` answer (local send and receive times around it)."""
        rtt = max(0.0, received - sent)
        # Old samples age: after a minute a worse round trip may replace the best (clock drift).
        if rtt <= self._best_rtt or received - self._best_at > 60.0 or not self.synced:
            self._best_rtt = rtt
            self._best_at = received
            self.offset = server_now - (sent + rtt / 2)
            self.synced = True

    def observe(self, server_time: float) -> None:
        """A pushed ``server_time`` (the house's time when it sent the message)."""
        floor = server_time - self._local()
        if floor > self.offset or not (self.synced or self._observed):
            self.offset = floor
        self._observed = True

    def remaining(self, deadline: float | None) -> float | None:
        """Seconds of house time left until ``deadline`` (never negative)."""
        if deadline is None:
            return None
        return max(0.0, deadline - self.now())
