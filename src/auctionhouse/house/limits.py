"""Token-bucket rate limits on the house clock (per account and per network address)."""

from __future__ import annotations

from auctionhouse.errors import RateLimited


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
