"""Rate limits on the house clock: token buckets per account and per network address, and the
login throttle (failed logins per address and per account, growing backoff)."""

from __future__ import annotations

import math
import threading

from auctionhouse.errors import LoginThrottled, RateLimited


class RateLimiter:
    """One bucket per key: ``rate`` tokens a second up to ``burst``; each request takes one."""

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, now: float, what: str = "requests") -> None:
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            retry_after = (1.0 - tokens) / self.rate
            raise RateLimited(
                f"too many {what}; retry in {retry_after:.2f} s", retry_after=retry_after
            )
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._evict(now)
        self._buckets[key] = (tokens - 1.0, now)

    def _evict(self, now: float) -> None:
        # Buckets that would be full again carry no information: drop them.
        full_after = self.burst / self.rate
        stale = [k for k, (_, last) in self._buckets.items() if now - last >= full_after]
        for k in stale:
            del self._buckets[k]
        if len(self._buckets) >= self.max_keys:
            self._buckets.clear()


class _Failures:
    __slots__ = ("blocked_until", "count", "last")

    def __init__(self) -> None:
        self.count = 0
        self.last = 0.0
        self.blocked_until = 0.0


class LoginThrottle:
    """Failed logins counted per network address and per account name, with a growing backoff.

    After ``free`` failures (within ``forget_after`` seconds of each other) each further failure
    blocks the key for ``base * 2**k`` seconds (k = 0, 1, 2, ...) up to its cap; an attempt
    while blocked is refused with :class:`LoginThrottled` (and ``retry_after``) before any
    password work. A record is forgotten ``forget_after`` seconds after its last failure.

    Why two keys: the address key stops one machine guessing many accounts; the account key
    stops many machines (a botnet) guessing one account. The account key is what an attacker
    could use to lock an honest user out, so it is generous (more free failures, a short cap),
    and an address that has logged into the account before (``known_for`` seconds) is exempt
    from it: the owner can still log in from where they usually do while the account is under
    attack. Failures from such an address still count against the address. See
    docs/operations.md "Login throttling" for the trade-off.

    Thread-safe (logins are checked on the password workers). Memory is bounded by
    ``max_keys`` per table: stale records go first, then the oldest.
    """

    def __init__(
        self,
        *,
        address_free: int = 10,
        account_free: int = 20,
        base: float = 1.0,
        address_cap: float = 300.0,
        account_cap: float = 60.0,
        forget_after: float = 900.0,
        known_for: float = 30 * 24 * 3600.0,
        max_keys: int = 100_000,
    ) -> None:
        self.address_free = address_free
        self.account_free = account_free
        self.base = base
        self.address_cap = address_cap
        self.account_cap = account_cap
        self.forget_after = forget_after
        self.known_for = known_for
        self.max_keys = max_keys
        self._addresses: dict[str, _Failures] = {}
        self._accounts: dict[str, _Failures] = {}
        self._known: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def check(self, name: str, address: str | None, now: float) -> None:
        """Raise :class:`LoginThrottled` if a login of ``name`` from ``address`` must wait."""
        with self._lock:
            wait = 0.0
            if address:
                wait = self._wait(self._addresses.get(address), now)
            if not self._is_known(name, address, now):
                wait = max(wait, self._wait(self._accounts.get(name), now))
        if wait > 0:
            raise LoginThrottled(
                f"too many failed logins; retry in {math.ceil(wait)} s", retry_after=wait
            )

    def failed(self, name: str, address: str | None, now: float) -> None:
        with self._lock:
            if address:
                self._count(self._addresses, address, now, self.address_free, self.address_cap)
            if not self._is_known(name, address, now):
                self._count(self._accounts, name, now, self.account_free, self.account_cap)

    def succeeded(self, name: str, address: str | None, now: float) -> None:
        """A good password: ``address`` becomes known for ``name``. Counters are kept (an
        attacker's own good logins must not reset what their guesses cost)."""
        if not address:
            return
        with self._lock:
            key = (name, address)
            self._known.pop(key, None)
            if len(self._known) >= self.max_keys:
                self._known.pop(next(iter(self._known)))
            self._known[key] = now

    def known(self, name: str, address: str | None, now: float) -> bool:
        """Has ``address`` logged into ``name`` within ``known_for`` seconds (a returning
        owner, whom no guessing flood can imitate without the password)?"""
        with self._lock:
            return self._is_known(name, address, now)

    def blocked(self, now: float) -> dict[str, int]:
        """How many addresses and accounts are blocked now (for metrics; no names)."""
        with self._lock:
            return {
                "address": sum(1 for f in self._addresses.values() if f.blocked_until > now),
                "account": sum(1 for f in self._accounts.values() if f.blocked_until > now),
            }

    def _is_known(self, name: str, address: str | None, now: float) -> bool:
        if not address:
            return False
        seen = self._known.get((name, address))
        return seen is not None and now - seen < self.known_for

    def _wait(self, record: _Failures | None, now: float) -> float:
        if record is None or now - record.last >= self.forget_after:
            return 0.0
        return max(0.0, record.blocked_until - now)

    def _count(
        self, table: dict[str, _Failures], key: str, now: float, free: int, cap: float
    ) -> None:
        record = table.get(key)
        if record is None or now - record.last >= self.forget_after:
            if record is None and len(table) >= self.max_keys:
                self._evict(table, now)
            record = table[key] = _Failures()
        record.count += 1
        record.last = now
        over = record.count - free
        if over > 0:
            delay = min(cap, self.base * 2.0 ** min(over - 1, 40))
            record.blocked_until = max(record.blocked_until, now + delay)

    def _evict(self, table: dict[str, _Failures], now: float) -> None:
        stale = [k for k, r in table.items() if now - r.last >= self.forget_after]
        for k in stale:
            del table[k]
        while len(table) >= self.max_keys:
            del table[next(iter(table))]
