"""The shared house: instances of one house on one PostgreSQL database (real server, started by
the tests). Two or three ``SharedHouseService`` instances run in this process, each with its
own connections, writer thread and LISTEN connection, on one FakeClock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import psycopg
import pytest
from nacl.signing import SigningKey

import pg_cluster
from auctionhouse.auction import AuctionClosed
from auctionhouse.errors import (
    BadSignature,
    LedgerError,
    NotFound,
    QuotaExceeded,
    RateLimited,
    ReplayedNonce,
    Unauthorized,
)
from auctionhouse.house import HouseConfig, bid_message, sign
from auctionhouse.house.clock import FakeClock
from auctionhouse.house.shared import SharedAccountStore, SharedAuctionHouse, SharedHouseService
from auctionhouse.house.verifier import place_bid_command
from auctionhouse.ledger import audit_database
from auctionhouse.ledger.postgres import LEDGER_LOCK

T0 = 1_000_000.0
DEADLINE = 10.0


class Cluster:
    """N instances on one database, each with a log of what its listeners were told."""

    def __init__(self, url: str, key: Path, clock: FakeClock, config: HouseConfig) -> None:
        self.url, self.key, self.clock, self.config = url, key, clock, config
        self.services: list[SharedHouseService] = []
        self.seen: list[list[tuple[str, int, str]]] = []

    async def add(self) -> SharedHouseService:
        def factory() -> SharedAuctionHouse:
            return SharedAuctionHouse.open_shared(
                self.url, key_path=self.key, config=self.config, clock=self.clock
            )

        service = SharedHouseService(factory, self.url, resync_seconds=0.5)
        await service.start()
        log: list[tuple[str, int, str]] = []
        service.house.subscribe(lambda e, _s: log.append((e.auction_id, e.seq, type(e).__name__)))
        self.services.append(service)
        self.seen.append(log)
        return service

    async def stop(self) -> None:
        services, self.services = self.services, []
        for service in services:
            await service.stop()


def run(
    tmp_path: Path,
    body: Callable[[Cluster], Coroutine[Any, Any, None]],
    config: HouseConfig | None = None,
) -> None:
    """Run ``body`` on a fresh database with its instances stopped at the end (no plugin:
    one event loop per test)."""
    config = config or HouseConfig.for_tests(account_burst=1_000, account_rate=1_000)
    c = Cluster(pg_cluster.new_database(), tmp_path / "house.key", FakeClock(T0), config)

    async def main() -> None:
        try:
            await body(c)
        finally:
            await c.stop()

    asyncio.run(main())


async def until(what: Callable[[], bool], deadline: float = DEADLINE) -> None:
    """Wait for a condition the instances reach by themselves (bounded, never a fixed sleep)."""
    end = time.monotonic() + deadline
    while not what():
        assert time.monotonic() < end, "the condition was not reached in time"
        await asyncio.sleep(0.005)


def in_order(log: list[tuple[str, int, str]], auction_id: str) -> list[int]:
    return [seq for aid, seq, _ in log if aid == auction_id]


async def _bidders_on_every_instance_share_one_auction_without_gap_or_double(
    cluster: Cluster,
) -> None:
    a, b, c = [await cluster.add() for _ in range(3)]
    a.house.create_account("seller", "password123")
    for i in range(6):
        a.house.create_account(f"b{i}", "password123")
    aid = (await b.call(lambda h: h.create_auction("seller", "lamp", "english", {"duration": 60})))[
        "id"
    ]
    acks: list[dict[str, Any]] = []

    async def bidder(service: SharedHouseService, who: str, offset: int) -> None:
        for k in range(25):
            amount = 100 + 10 * k + offset
            try:
                acks.append(
                    await service.call(lambda h, m=amount: h.place_bid(who, aid, m))  # type: ignore[misc]
                )
            except Exception as exc:  # bids below the price are refused: that is fine
                assert getattr(exc, "code", "") == "bid_too_low", exc

    await asyncio.gather(*(bidder(cluster.services[i % 3], f"b{i}", i) for i in range(6)))
    seqs = sorted(ack["seq"] for ack in acks)
    assert seqs == list(range(2, 2 + len(acks))), "an acknowledged bid was lost or doubled"
    last = 1 + len(acks)
    for service in cluster.services:
        await until(lambda s=service: s.house.state(aid).seq == last)  # type: ignore[misc]
    states = [s.house.state(aid).snapshot() for s in cluster.services]
    assert states[0] == states[1] == states[2]
    for log in cluster.seen:  # every listener, on every instance: every event, in order
        await until(lambda log=log: len(in_order(log, aid)) == last)  # type: ignore[misc]
        assert in_order(log, aid) == list(range(1, last + 1))
    assert a.shared.absorbed > 0 and b.shared.absorbed > 0 and c.shared.absorbed > 0
    await cluster.stop()
    report = audit_database(cluster.url, key_path=cluster.key)
    assert report.ok and report.events == last, report.findings[:3]


async def _an_auction_made_on_one_instance_is_at_once_on_the_others(cluster: Cluster) -> None:
    a, b = [await cluster.add() for _ in range(2)]
    a.house.create_account("seller", "password123")
    for _ in range(5):  # read-your-writes behind a proxy: no wait for the notification
        aid = (await a.call(lambda h: h.create_auction("seller", "lamp", "english", {})))["id"]
        assert b.house.view(aid)["id"] == aid
    with pytest.raises(NotFound):
        b.house.view("no-such-auction")


def test_an_auction_made_on_one_instance_is_at_once_on_the_others(tmp_path: Path) -> None:
    run(tmp_path, _an_auction_made_on_one_instance_is_at_once_on_the_others)


async def _a_due_close_is_made_once_whoever_ticks(cluster: Cluster) -> None:
    a, b = [await cluster.add() for _ in range(2)]
    a.house.create_account("seller", "password123")
    a.house.create_account("ann", "password123")
    ids = []
    for i in range(5):
        view = await (a, b)[i % 2].call(
            lambda h: h.create_auction("seller", "lamp", "english", {"duration": 30})
        )
        ids.append(view["id"])
        await b.call(lambda h, aid=view["id"]: h.place_bid("ann", aid, 50))  # type: ignore[misc]
    cluster.clock.advance(31)
    closed = await asyncio.gather(*(s.call(lambda h: h.tick()) for s in (a, b, a, b)))
    made = [e for batch in closed for e in batch if isinstance(e, AuctionClosed)]
    assert sorted(e.auction_id for e in made) == sorted(ids), "each auction closes exactly once"
    with psycopg.connect(cluster.url) as conn:
        rows = conn.execute(
            "SELECT auction_id, COUNT(*) FROM ledger_events WHERE body LIKE %s GROUP BY 1",
            (b'%"AuctionClosed"%',),
        ).fetchall()
        seals = conn.execute("SELECT COUNT(*) FROM ledger_seals").fetchone()
    assert sorted(rows) == sorted((aid, 1) for aid in ids) and seals == (5,)
    for service in (a, b):
        await until(lambda s=service: all(s.house.outcome(i) is not None for i in ids))  # type: ignore[misc]


async def _a_nonce_spent_on_one_instance_is_spent_on_all(cluster: Cluster) -> None:
    a, b = [await cluster.add() for _ in range(2)]
    key = SigningKey.generate()
    a.house.create_account("seller", "password123")
    a.house.create_account("ann", "password123", public_key=key.verify_key.encode().hex())
    aid = (await a.call(lambda h: h.create_auction("seller", "lamp", "english", {"duration": 60})))[
        "id"
    ]
    now = cluster.clock.now()

    def signed(amount: int, nonce: int) -> Callable[[Any], Any]:
        sig = sign(key, bid_message(aid, "ann", amount, nonce, now))
        return lambda h: h.place_bid("ann", aid, amount, nonce=nonce, ts=now, signature=sig)

    first = await a.call(signed(20, 5))  # accepted on a
    again = await b.call(signed(20, 5))  # the same bytes resent to b: the first answer, no bid
    assert again["seq"] == first["seq"] and b.house.state(aid).seq == first["seq"]
    with pytest.raises(ReplayedNonce):
        await b.call(signed(25, 5))  # another bid with the spent nonce: a replay, on b too
    with pytest.raises(Exception, match="at least"):
        await b.call(signed(1, 9))  # refused by the rules on b, but its nonce is spent
    with pytest.raises(ReplayedNonce):
        await a.call(signed(30, 9))
    await a.call(signed(30, 10))


async def _sessions_keys_and_logouts_hold_on_every_instance(cluster: Cluster) -> None:
    a, b = [await cluster.add() for _ in range(2)]
    a.house.create_account("ann", "password123")
    token = b.house.login("ann", "password123")
    assert a.house.authenticate(token).id == "ann"
    assert b.house.authenticate(token).id == "ann"
    a.house.create_account("seller", "password123")
    aid = (await b.call(lambda h: h.create_auction("seller", "lamp", "english", {"duration": 60})))[
        "id"
    ]
    assert b.house.accounts.get("ann").public_key is None  # b caches ann without a key
    key = SigningKey.generate()
    a.house.register_key("ann", key.verify_key.encode().hex())
    now = cluster.clock.now()
    sig = sign(key, bid_message(aid, "ann", 20, 1, now))
    ack = await b.call(  # at once on b: its cached copy is read again, not trusted
        lambda h: h.place_bid("ann", aid, 20, nonce=1, ts=now, signature=sig)
    )
    assert ack["accepted"]
    a.house.accounts.logout(token)

    def refused() -> bool:
        try:
            b.house.authenticate(token)
        except Unauthorized:
            return True
        return False

    await until(refused)


async def _rate_limits_and_quotas_count_across_instances(cluster: Cluster) -> None:
    if True:
        a, b = [await cluster.add() for _ in range(2)]
        a.house.create_account("seller", "password123")
        a.house.create_account("ann", "password123")

        def create(h: Any) -> Any:
            return h.create_auction("seller", "lamp", "english", {"duration": 60})

        aid = (await a.call(create))["id"]
        await b.call(create)
        await a.call(create)
        with pytest.raises(QuotaExceeded):  # the seller's 3 open auctions, made on two instances
            await b.call(create)
        accepted = 0
        with pytest.raises(RateLimited):
            for k in range(12):
                await (a, b)[k % 2].call(
                    lambda h, k=k: h.place_bid("ann", aid, 10 + k)  # type: ignore[misc]
                )
                accepted += 1
        assert accepted == 6  # one bucket of 6 for both instances, not 6 on each


def test_rate_limits_and_quotas_count_across_instances(tmp_path: Path) -> None:
    config = HouseConfig.for_tests(account_rate=0.001, account_burst=6, max_concurrent_auctions=3)
    run(tmp_path, _rate_limits_and_quotas_count_across_instances, config)


async def _an_address_limit_holds_across_instances_serving_only_reads(cluster: Cluster) -> None:
    a, b = [await cluster.add() for _ in range(2)]
    limiters = [s.house._address_limiter for s in (a, b)]

    def pushed() -> bool:
        return not limiters[1]._buckets.dirty  # type: ignore[attr-defined]

    for _ in range(4):  # reads on a: no command, no round of their own
        a.house.check_address("10.9.9.9")
    with psycopg.connect(cluster.url, autocommit=True) as db:

        def committed() -> bool:  # a's idle sync round pushed its bucket
            row = db.execute(
                "SELECT value FROM house_shared WHERE kind = 'address' AND key = '10.9.9.9'"
            ).fetchone()
            return row is not None and float(row[0].split()[0]) < 3

        await until(committed)
    b.house.check_address("10.9.9.9")  # b's own copy is full: one request passes on it
    await until(pushed)  # b's sync round pulled a's bucket, less b's own request
    b.house.check_address("10.9.9.9")
    with pytest.raises(RateLimited):  # 4 + 1 + 1: the burst, not the 6 + 6 of two buckets
        b.house.check_address("10.9.9.9")


def test_an_address_limit_holds_across_instances_serving_only_reads(tmp_path: Path) -> None:
    config = HouseConfig.for_tests(address_rate=0.001, address_burst=6)
    run(tmp_path, _an_address_limit_holds_across_instances_serving_only_reads, config)


async def _requests_on_two_instances_at_once_count_on_both(cluster: Cluster) -> None:
    """Both instances take from one address's bucket before either has synced: each of their
    requests counts once (keeping the emptier of two buckets counted only one side's), and
    the one that took last learns of the other's requests without a command of its own."""
    a, b = [await cluster.add() for _ in range(2)]
    for _ in range(4):  # one stretch on the loop: no sync round can run in between
        a.house.check_address("10.8.8.8")
        b.house.check_address("10.8.8.8")
    limiters = [s.house._address_limiter for s in (a, b)]

    def level(limiter: Any) -> float:
        tokens, _last = limiter._buckets["10.8.8.8"]
        return float(tokens)

    # 8 requests on a burst of 10: both instances end at 2, however their syncs interleave
    await until(lambda: all(abs(level(x) - 2) < 0.01 for x in limiters))
    a.house.check_address("10.8.8.8")
    b.house.check_address("10.8.8.8")
    await until(lambda: all(level(x) < 0.01 for x in limiters))  # the burst is spent on both
    for service in (a, b):
        with pytest.raises(RateLimited):
            service.house.check_address("10.8.8.8")


def test_requests_on_two_instances_at_once_count_on_both(tmp_path: Path) -> None:
    config = HouseConfig.for_tests(address_rate=1e-6, address_burst=10)
    run(tmp_path, _requests_on_two_instances_at_once_count_on_both, config)


async def _signatures_verified_ahead_hold_only_for_the_key_of_the_round(
    cluster: Cluster,
) -> None:
    """Signed bids go through the batch verifier (house/verifier.py) before the round takes
    the writer lock; its verdicts count only for the key they were made with."""
    a, b = [await cluster.add() for _ in range(2)]
    old, new = SigningKey.generate(), SigningKey.generate()
    a.house.create_account("seller", "password123")
    a.house.create_account("ann", "password123", public_key=old.verify_key.encode().hex())
    aid = (await a.call(lambda h: h.create_auction("seller", "lamp", "english", {"duration": 60})))[
        "id"
    ]
    now = cluster.clock.now()

    def bid(key: SigningKey, amount: int, nonce: int) -> Any:
        signature = sign(key, bid_message(aid, "ann", amount, nonce, now))
        return place_bid_command("ann", aid, amount, nonce=nonce, ts=now, signature=signature)

    assert (await b.call(bid(old, 10, 1)))["accepted"]
    # on a (a worker thread, as the server does); b decides next
    await a.run_blocking(lambda h: h.register_key("ann", new.verify_key.encode().hex()))
    with pytest.raises(BadSignature):  # the old key signs nothing any more, on any instance
        await b.call(bid(old, 20, 2))
    assert (await b.call(bid(new, 30, 3)))["accepted"]
    with pytest.raises(BadSignature):
        await a.call(lambda h: h.place_bid("ann", aid, 40, nonce=4, ts=now, signature="00" * 64))
    assert a.house.accounts.get("ann").strikes == 2


def test_signatures_verified_ahead_hold_only_for_the_key_of_the_round(tmp_path: Path) -> None:
    run(tmp_path, _signatures_verified_ahead_hold_only_for_the_key_of_the_round)


def _mark_stamp(url: str, account: str) -> int | None:
    """The stamp of ``account``'s ``changed`` mark in house_shared (None: no mark)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT stamp FROM house_shared WHERE kind = 'changed' AND key = %s", (account,)
        ).fetchone()
    return None if row is None else int(row[0])


def _waiting_on_a_lock(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ).fetchone()
    return row is not None and int(row[0]) > 0


async def _account_change_marks_are_written_under_the_writer_lock(cluster: Cluster) -> None:
    """Rounds read ``house_shared`` by stamp: a mark whose stamp was taken outside the writer
    lock could commit after a round with a higher stamp had been read, and be missed by every
    instance. So a key change's mark waits for the round under way, and a strike's mark goes
    out with the round that decided it."""
    a, _b = [await cluster.add() for _ in range(2)]
    a.house.create_account("ann", "password123")
    key = SigningKey.generate().verify_key.encode().hex()
    with psycopg.connect(cluster.url, autocommit=True) as round_, round_.transaction():
        round_.execute("SELECT pg_advisory_xact_lock(%s)", (LEDGER_LOCK,))  # a round under way
        change = asyncio.ensure_future(a.run_blocking(lambda h: h.register_key("ann", key)))
        await until(lambda: change.done() or _waiting_on_a_lock(cluster.url))
        assert not change.done(), "the key change's mark did not wait for the writer lock"
        await asyncio.to_thread(a.house.accounts.add_strike, "ann")  # decided meanwhile
        assert _mark_stamp(cluster.url, "ann") is None  # no mark written while the lock is held
        accounts = a.house.accounts
        assert isinstance(accounts, SharedAccountStore)
        assert accounts.marks == ["ann"]  # the strike's mark waits for a round (none can run)
    await asyncio.wait_for(change, DEADLINE)
    assert _mark_stamp(cluster.url, "ann") is not None
    await a.call(lambda h: None)  # a round (this one, or one that ran first) pushed it
    assert accounts.marks == []


def test_account_change_marks_are_written_under_the_writer_lock(tmp_path: Path) -> None:
    run(tmp_path, _account_change_marks_are_written_under_the_writer_lock)


async def _a_lost_listener_connection_is_repaired_and_no_event_is_missed(cluster: Cluster) -> None:
    a, b = [await cluster.add() for _ in range(2)]
    a.house.create_account("seller", "password123")
    a.house.create_account("ann", "password123")
    aid = (await a.call(lambda h: h.create_auction("seller", "lamp", "english", {"duration": 60})))[
        "id"
    ]
    await until(lambda: in_order(cluster.seen[1], aid) == [1])
    with psycopg.connect(cluster.url, autocommit=True) as conn:  # cut every LISTEN connection
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE query LIKE 'LISTEN%%' AND pid <> pg_backend_pid()"
        )
    for k in range(5):
        await a.call(lambda h, k=k: h.place_bid("ann", aid, 10 + k))  # type: ignore[misc]
    await until(lambda: in_order(cluster.seen[1], aid) == [1, 2, 3, 4, 5, 6])
    await until(lambda: b.listener_connections >= 2)


async def _a_lost_database_session_is_reopened_and_the_house_goes_on(cluster: Cluster) -> None:
    a, b = [await cluster.add() for _ in range(2)]
    a.house.create_account("seller", "password123")
    a.house.create_account("ann", "password123")
    aid = (await a.call(lambda h: h.create_auction("seller", "lamp", "english", {"duration": 60})))[
        "id"
    ]
    with psycopg.connect(cluster.url, autocommit=True) as conn:  # every session but this one
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    try:  # the first command may find its session gone: refused, nothing decided
        await a.call(lambda h: h.place_bid("ann", aid, 10))
    except LedgerError:
        pass
    assert a.failure is None
    ack = await a.call(lambda h: h.place_bid("ann", aid, 20))
    assert a.house.authenticate(a.house.login("ann", "password123")).id == "ann"
    await until(lambda: aid in b.house.auction_ids() and b.house.state(aid).seq == ack["seq"])


def test_bidders_on_every_instance_share_one_auction_without_gap_or_double(tmp_path: Path) -> None:
    run(tmp_path, _bidders_on_every_instance_share_one_auction_without_gap_or_double)


def test_a_due_close_is_made_once_whoever_ticks(tmp_path: Path) -> None:
    run(tmp_path, _a_due_close_is_made_once_whoever_ticks)


def test_a_nonce_spent_on_one_instance_is_spent_on_all(tmp_path: Path) -> None:
    run(tmp_path, _a_nonce_spent_on_one_instance_is_spent_on_all)


def test_sessions_keys_and_logouts_hold_on_every_instance(tmp_path: Path) -> None:
    run(tmp_path, _sessions_keys_and_logouts_hold_on_every_instance)


def test_a_lost_listener_connection_is_repaired_and_no_event_is_missed(tmp_path: Path) -> None:
    run(tmp_path, _a_lost_listener_connection_is_repaired_and_no_event_is_missed)


def test_a_lost_database_session_is_reopened_and_the_house_goes_on(tmp_path: Path) -> None:
    run(tmp_path, _a_lost_database_session_is_reopened_and_the_house_goes_on)


async def _a_catch_up_longer_than_a_page_reads_every_record(cluster: Cluster) -> None:
    a, b = [await cluster.add() for _ in range(2)]
    a.house.create_account("seller", "password123")
    a.house.create_account("ann", "password123")
    aid = (await a.call(lambda h: h.create_auction("seller", "lamp", "english", {"duration": 60})))[
        "id"
    ]
    await until(lambda: aid in b.house.auction_ids())
    start = b.shared.pos
    for k in range(7):
        await a.call(lambda h, k=k: h.place_bid("ann", aid, 10 + k))  # type: ignore[misc]
    records = b.shared.read_new(start)  # three pages of 3 (PAGE is 3 here)
    assert [(r.auction_id, r.seq) for r in records] == [(aid, s) for s in range(2, 9)]


def test_a_catch_up_longer_than_a_page_reads_every_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import auctionhouse.house.shared as shared

    monkeypatch.setattr(shared, "PAGE", 3)
    run(tmp_path, _a_catch_up_longer_than_a_page_reads_every_record)
