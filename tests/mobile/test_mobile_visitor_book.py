"""The visitor book contract (house/visitors.py): every keeping of a site (memory, SQLite, the
shared house's PostgreSQL) refuses a replayed hop, an agent visiting already and one past
``max_agents``, records nothing it refused, and keeps its hops across a reopen. On PostgreSQL,
two instances are one site: a hop taken by one is a replay on the other, ``max_agents`` counts
both, and a dead instance's visitors stop counting once its lease runs out."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import pg_cluster
from auctionhouse.errors import Conflict, QuotaExceeded, ReplayedHop
from auctionhouse.house.visitors import LocalVisitors, VisitorBook

T0 = 1_000_000.0
LATER = T0 + 3600  # a mandate's expiry
Opener = Callable[[], VisitorBook]


class _Shared:
    """Instances of a shared house on one fresh database, each alive by its own lease."""

    def __init__(self, lease_seconds: float = 15.0) -> None:
        from auctionhouse.house.shared_leases import ConnectionLeases

        self.url = pg_cluster.new_database()
        self.lease_seconds = lease_seconds
        self._leases: list[ConnectionLeases] = []
        self._books: list[VisitorBook] = []

    def instance(self) -> VisitorBook:
        from auctionhouse.house.shared_leases import ConnectionLeases
        from auctionhouse.house.shared_visitors import SharedVisitors

        leases = ConnectionLeases(self.url, self.lease_seconds)
        self._leases.append(leases)
        book = SharedVisitors(self.url, leases.instance)
        self._books.append(book)
        return book

    def close(self) -> None:
        for book in self._books:
            book.close()
        for leases in self._leases:
            leases.close()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the same site again (a restart) each time it is called."""
    opened: list[VisitorBook] = []
    shared = _Shared() if request.param == "postgres" else None
    memory = LocalVisitors()

    def open_again() -> VisitorBook:
        if request.param == "memory":
            return memory
        if shared is not None:
            book = shared.instance()
        else:
            book = LocalVisitors(tmp_path / "site.agents", T0)
        opened.append(book)
        return book

    yield open_again
    for book in opened:
        if request.param == "sqlite":
            book.close()
    if shared is not None:
        shared.close()


def test_a_hop_at_or_below_the_last_one_is_a_replay(opener: Opener) -> None:
    book = opener()
    assert book.last_hop("agent-a") is None
    book.admit("agent-a", 3, LATER, T0, stay=False, max_agents=5)
    assert book.last_hop("agent-a") == 3
    for hop in (3, 2):
        with pytest.raises(ReplayedHop):
            book.admit("agent-a", hop, LATER, T0, stay=False, max_agents=5)
    book.admit("agent-a", 4, LATER, T0, stay=False, max_agents=5)
    assert book.last_hop("agent-a") == 4


def test_a_visiting_agent_is_not_taken_twice_and_leaves(opener: Opener) -> None:
    book = opener()
    book.admit("agent-a", 1, LATER, T0, stay=True, max_agents=5)
    with pytest.raises(Conflict):
        book.admit("agent-a", 2, LATER, T0, stay=True, max_agents=5)
    assert book.last_hop("agent-a") == 1  # the refusal recorded nothing
    assert book.visiting() == 1
    book.leave("agent-a")
    book.leave("agent-a")  # idempotent
    assert book.visiting() == 0
    book.admit("agent-a", 2, LATER, T0, stay=True, max_agents=5)
    assert book.visiting() == 1


def test_max_agents_is_the_most_visiting_at_once(opener: Opener) -> None:
    book = opener()
    book.admit("agent-a", 1, LATER, T0, stay=True, max_agents=2)
    book.admit("agent-b", 1, LATER, T0, stay=True, max_agents=2)
    with pytest.raises(QuotaExceeded):
        book.admit("agent-c", 1, LATER, T0, stay=True, max_agents=2)
    assert book.last_hop("agent-c") is None  # refused: its hop is not spent
    book.admit("agent-c", 1, LATER, T0, stay=False, max_agents=2)  # going home: not a visit
    book.leave("agent-a")
    book.admit("agent-d", 1, LATER, T0, stay=True, max_agents=2)
    assert book.visiting() == 2


def test_hops_survive_a_reopen_until_their_mandate_expires(opener: Opener) -> None:
    book = opener()
    book.admit("agent-a", 5, LATER, T0, stay=False, max_agents=5)
    book.admit("agent-b", 1, T0 + 10, T0, stay=False, max_agents=5)
    again = opener()
    assert again.last_hop("agent-a") == 5
    with pytest.raises(ReplayedHop):
        again.admit("agent-a", 5, LATER, T0 + 50, stay=False, max_agents=5)
    # agent-b's mandate expired at T0 + 10: its old hop no longer counts (the site refuses an
    # expired mandate before it asks the book)
    again.admit("agent-b", 1, T0 + 100, T0 + 50, stay=False, max_agents=5)


def test_two_instances_are_one_site() -> None:
    shared = _Shared()
    try:
        a, b = shared.instance(), shared.instance()
        a.admit("agent-a", 3, LATER, T0, stay=True, max_agents=2)
        with pytest.raises(ReplayedHop):  # the same document replayed to the other instance
            b.admit("agent-a", 3, LATER, T0, stay=True, max_agents=2)
        with pytest.raises(Conflict):  # a later hop while it visits on a
            b.admit("agent-a", 4, LATER, T0, stay=True, max_agents=2)
        b.admit("agent-b", 1, LATER, T0, stay=True, max_agents=2)
        for book in (a, b):
            assert book.visiting() == 2
            with pytest.raises(QuotaExceeded):  # 2 in all, not 2 per instance
                book.admit("agent-c", 1, LATER, T0, stay=True, max_agents=2)
        b.leave("agent-a")  # only a's instance ends a's visit
        assert a.visiting() == 2
        a.leave("agent-a")
        a.admit("agent-c", 1, LATER, T0, stay=True, max_agents=2)
    finally:
        shared.close()


def test_a_dead_instances_visitors_stop_counting_when_its_lease_ends() -> None:
    lease = 0.6
    shared = _Shared(lease_seconds=lease)
    try:
        a, b = shared.instance(), shared.instance()
        a.admit("agent-a", 1, LATER, T0, stay=True, max_agents=1)
        with pytest.raises(QuotaExceeded):
            b.admit("agent-b", 1, LATER, T0, stay=True, max_agents=1)
        # a stops renewing (as if killed): b renews its own lease and takes the place once a's
        # lease has run out, within a deadline
        deadline = time.monotonic() + 30 * lease
        while True:
            shared._leases[1].renew()
            try:
                b.admit("agent-b", 1, LATER, T0, stay=True, max_agents=1)
                break
            except QuotaExceeded:
                assert time.monotonic() < deadline, "a dead instance's visit kept counting"
                time.sleep(lease / 6)
        assert b.visiting() == 1
    finally:
        shared.close()
