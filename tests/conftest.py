"""Shared fixtures. Tests run on the injected FakeClock; real sockets only in e2e tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from auctionhouse.house.clock import FakeClock

T0 = 1_000_000.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def house(tmp_path: Path, clock: FakeClock) -> Iterator[object]:
    from auctionhouse.house import AuctionHouse, HouseConfig

    h = AuctionHouse.open(tmp_path / "house.db", config=HouseConfig.for_tests(), clock=clock)
    yield h
    h.close()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop this process's throwaway PostgreSQL cluster, if a test started one."""
    import pg_cluster

    pg_cluster.stop_shared()
