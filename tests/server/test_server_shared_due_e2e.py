"""Due work of the shared house (house/shared_due.py) across two real ``serve`` processes: the
instance holding a job is killed with kill -9 mid-job, and the other takes the job over and
finishes it; while one holds a job, the other skips it (``SKIP LOCKED``) instead of waiting.

To catch an instance *holding* the job, the test locks one of the rows the job must delete: the
instance that claimed the job then waits inside its transaction (its connection names it in
``pg_stat_activity``), and is killed there."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg
import pytest
from server_helpers import LiveServer, write_config

import http_helpers
import pg_cluster

pytestmark = pytest.mark.e2e

DEADLINE = 30.0
STALE = 500  # stale rate-limit buckets left by a long-gone client


def poll(
    conn: psycopg.Connection, sql: str, what: str, params: tuple[object, ...] = ()
) -> tuple[object, ...]:
    """The first row of ``sql`` once there is one (bounded)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        row = conn.execute(sql, params or None).fetchone()
        if row is not None:
            return tuple(row)
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)


def test_a_job_held_by_a_killed_instance_is_taken_over(tmp_path: Path) -> None:
    url = pg_cluster.new_database()
    config = write_config(tmp_path / "house.toml", {"key_file": str(tmp_path / "house.key")})
    servers = [LiveServer(url, config).start()]
    servers.append(LiveServer(url, config).start())
    try:
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(
                "INSERT INTO house_shared (kind, key, value, stamp, at)"
                " SELECT 'address', '10.0.' || n, '0.0 0.0', 0, 0 FROM generate_series(1, %s) n",
                (STALE,),
            )
            with psycopg.connect(url) as blocker:  # a transaction holding one doomed row
                blocker.execute(
                    "SELECT 1 FROM house_shared WHERE kind = 'address' AND key = '10.0.7'"
                    " FOR UPDATE"
                )
                db.execute("UPDATE house_due SET due_at = 0 WHERE job = 'prune-shared'")
                (holder,) = poll(
                    db,
                    "SELECT application_name FROM pg_stat_activity"
                    " WHERE application_name LIKE 'auctionhouse due %' AND wait_event_type = 'Lock'",
                    "an instance claims the job and waits inside it",
                )
                pid = int(str(holder).split(":")[1])
                victim = next(s for s in servers if s.proc is not None and s.proc.pid == pid)
                survivor = next(s for s in servers if s is not victim)
                assert survivor.proc is not None
                name = f"auctionhouse due {os.uname().nodename}:{survivor.proc.pid}:%"
                (seen,) = db.execute("SELECT clock_timestamp()").fetchone() or (None,)
                poll(  # the survivor looked again after the job was held: skipped it, idle
                    db,
                    "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE %s"
                    " AND state = 'idle' AND query_start > %s",
                    "the survivor looks for due work without waiting for the held job",
                    (name, seen),
                )
                victim.kill9()
                blocker.rollback()  # the dead instance's DELETE ends; its transaction aborts
            done_by, done = poll(
                db,
                "SELECT done_by, done FROM house_due WHERE job = 'prune-shared' AND done > 0",
                "the survivor takes the job over",
            )
            assert str(done_by).startswith(f"{os.uname().nodename}:{survivor.proc.pid}:")
            assert done == 1  # once: the dead instance's work was rolled back, not half done
            left = db.execute(  # the stale buckets are gone (live ones, 127.0.0.1, stay)
                "SELECT count(*) FROM house_shared WHERE kind = 'address' AND key LIKE '10.0.%'"
            )
            assert left.fetchone() == (0,)
        assert http_helpers.get(f"{survivor.url}/api/v1/time").status_code == 200  # still serving
    finally:
        for server in servers:
            server.stop()
