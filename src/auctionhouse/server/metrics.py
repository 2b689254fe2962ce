"""Prometheus metrics and the admin's stats, on a registry of the app's own.

- ``auctionhouse_bid_seconds`` (histogram, label ``transport``): a bid from the moment the
  server read it to its answer (ack once durable, or refusal).
- ``auctionhouse_bids_total`` (counter, label ``result``: ``accepted`` or an error code).
- ``auctionhouse_logins_total`` (counter, label ``result``: ``ok`` or an error code such as
  ``unauthorized``, ``login_throttled``): never a name, token or address in a label.
- ``auctionhouse_queue_depth``: commands waiting in the house's bounded queue.
- ``auctionhouse_websocket_connections``: open WebSocket connections.
- ``auctionhouse_auctions`` (label ``state``) and ``auctionhouse_auctions_closed`` (label
  ``outcome``): read from the house at scrape time.
- ``auctionhouse_bid_resends_total``: byte-identical resends of signed bids (a client whose
  answer was lost), answered with the original ack or refusal; they place no bid. (Their
  answers also count in ``auctionhouse_bids_total``.)
- ``auctionhouse_market_orders_total`` and ``auctionhouse_market_cancels_total`` (label
  ``result``: ``accepted`` or an error code): signed orders and cancels answered by this
  server (HTTP and WebSocket).
- ``auctionhouse_markets`` (label ``state``), ``auctionhouse_market_trades_total``,
  ``auctionhouse_market_traded_units_total``, ``auctionhouse_market_cancelled_orders_total``
  (label ``reason``: ``cancel``, ``self_trade``, ``closed``) and
  ``auctionhouse_market_order_resends_total``: read from the house's log at scrape time (so a
  call market's clearings count too; on a shared house every instance reports the house's).
- ``process_*`` and ``python_*``: the default process and platform collectors.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client import (
    Counter as PromCounter,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

BID_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _AuctionCollector(Collector):
    def __init__(self, counts: Callable[[], dict[str, Any]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        counts = self._counts()
        by_state = GaugeMetricFamily(
            "auctionhouse_auctions", "Auctions by state.", labels=["state"]
        )
        for state in ("scheduled", "open", "paused", "closed"):
            by_state.add_metric([state], counts["by_state"].get(state, 0))
        yield by_state
        by_outcome = GaugeMetricFamily(
            "auctionhouse_auctions_closed", "Closed auctions by outcome.", labels=["outcome"]
        )
        for outcome, n in sorted(counts["by_outcome"].items()):
            by_outcome.add_metric([outcome], n)
        yield by_outcome
        yield CounterMetricFamily(
            "auctionhouse_bid_resends",
            "Byte-identical resends of signed bids, answered with the first answer (no new bid).",
            value=counts.get("resent_bids", 0),
        )


class _MarketCollector(Collector):
    def __init__(self, counts: Callable[[], dict[str, Any]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        counts = self._counts()
        by_state = GaugeMetricFamily("auctionhouse_markets", "Markets by state.", labels=["state"])
        for state in ("open", "closed"):
            by_state.add_metric([state], counts["by_state"].get(state, 0))
        yield by_state
        yield CounterMetricFamily(
            "auctionhouse_market_trades", "Trades made in markets.", value=counts["trades"]
        )
        yield CounterMetricFamily(
            "auctionhouse_market_traded_units",
            "Units that changed hands in markets.",
            value=counts["units"],
        )
        cancelled = CounterMetricFamily(
            "auctionhouse_market_cancelled_orders",
            "Orders whose rest left a book, by reason: cancel, self_trade, closed.",
            labels=["reason"],
        )
        for reason in sorted({"cancel", "self_trade", "closed", *counts["cancelled"]}):
            cancelled.add_metric([reason], counts["cancelled"].get(reason, 0))
        yield cancelled
        yield CounterMetricFamily(
            "auctionhouse_market_order_resends",
            "Byte-identical resends of signed orders and cancels, answered again (no new order).",
            value=counts["resent"],
        )


class Metrics:
    def __init__(self, window_seconds: float = 10.0) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.bid_seconds = Histogram(
            "auctionhouse_bid_seconds",
            "Bid handling latency: read to answer (ack once durable, or refusal).",
            ["transport"],
            buckets=BID_BUCKETS,
            registry=self.registry,
        )
        self.bids = PromCounter(
            "auctionhouse_bids",
            "Bids by result: accepted, or the error code of the refusal.",
            ["result"],
            registry=self.registry,
        )
        self.logins = PromCounter(
            "auctionhouse_logins",
            "Login attempts by result: ok, or the error code of the refusal.",
            ["result"],
            registry=self.registry,
        )
        self.market_orders = PromCounter(
            "auctionhouse_market_orders",
            "Signed market orders by result: accepted, or the error code of the refusal.",
            ["result"],
            registry=self.registry,
        )
        self.market_cancels = PromCounter(
            "auctionhouse_market_cancels",
            "Signed order cancels by result: accepted, or the error code of the refusal.",
            ["result"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "auctionhouse_queue_depth",
            "Commands waiting in the house's bounded queue.",
            registry=self.registry,
        )
        self.connections = Gauge(
            "auctionhouse_websocket_connections",
            "Open WebSocket connections.",
            registry=self.registry,
        )
        self._observers = {
            t: self.bid_seconds.labels(transport=t).observe for t in ("http", "websocket")
        }
        self._accepted = self.bids.labels(result="accepted")
        self.rejected: Counter[str] = Counter()
        self._window = window_seconds
        self._recent: deque[tuple[int, int]] = deque()  # (whole second, accepted bids)

    def watch_house(self, counts: Callable[[], dict[str, Any]], depth: Callable[[], int]) -> None:
        self.registry.register(_AuctionCollector(counts))
        self.queue_depth.set_function(lambda: float(depth()))

    def bid(self, transport: str, started: float | None, code: str | None) -> None:
        """Record one bid's answer: ``code`` None for an ack, else the refusal's code.
        ``started`` None: refused before it was read (a malformed body, no token)."""
        if started is not None:
            self._observers[transport](time.perf_counter() - started)
        if code is None:
            self._accepted.inc()
            second = int(time.monotonic())
            if self._recent and self._recent[-1][0] == second:
                self._recent[-1] = (second, self._recent[-1][1] + 1)
            else:
                self._recent.append((second, 1))
        else:
            self.rejected[code] += 1
            self.bids.labels(result=code).inc()

    def watch_markets(self, counts: Callable[[], dict[str, Any]]) -> None:
        self.registry.register(_MarketCollector(counts))

    def market(self, op: str, code: str | None) -> None:
        """Record one signed market write's answer: ``op`` ``order`` or ``cancel``; ``code``
        None for an ack, else the refusal's code."""
        counter = self.market_orders if op == "order" else self.market_cancels
        counter.labels(result=code or "accepted").inc()

    def login(self, code: str | None) -> None:
        """Record one login attempt: ``code`` None for a session opened, else the refusal's."""
        self.logins.labels(result=code or "ok").inc()

    def bids_per_second(self) -> float:
        """Accepted bids a second over the last ``window`` whole seconds."""
        now = int(time.monotonic())
        while self._recent and self._recent[0][0] <= now - self._window:
            self._recent.popleft()
        return round(sum(n for s, n in self._recent if s < now) / self._window, 3)

    def render(self) -> bytes:
        return generate_latest(self.registry)
