"""A throwaway PostgreSQL 15 cluster for the tests and benchmarks: real server, real fsync.

``shared()`` starts one cluster per process on first use (each pytest-xdist worker gets its own:
``initdb`` takes about a second, far less than coordinating workers through a lock file would
cost in complexity) and ``stop_shared()`` stops it (conftest calls it at the end of the session;
``atexit`` is the backstop). ``Cluster.new_database()`` gives each test a fresh database, so
tests never see each other's tables, advisory locks or notifications.

initdb refuses to run as root: as root the cluster runs as the ``postgres`` system user (the
Debian package creates it) in a temporary directory chowned to it. The server listens on a unix
socket in that directory and on 127.0.0.1 at a free port, with ``fsync`` and
``synchronous_commit`` on (the durability the house promises is the one measured), trust
authentication on loopback only.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from free_ports import free_port

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)  # Debian's layout
START_TIMEOUT = 120  # seconds; initdb and a start are slow on a loaded machine
PORT_TRIES = 3


def pg_bin(name: str) -> str:
    for directory in PG_BIN_DIRS:
        if (directory / name).is_file():
            return str(directory / name)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(
            f"PostgreSQL's {name} is not installed: run .ci/system-packages.sh (package postgresql)"
        )
    return found


class Cluster:
    """One PostgreSQL server in a temporary directory; ``url`` reaches its ``postgres`` db."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="auctionhouse-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._names = itertools.count(1)
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self.running = False

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [*self._as, *args], capture_output=True, text=True, timeout=START_TIMEOUT, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}")

    def start(self) -> Cluster:
        self._run(
            pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--no-locale", "--no-instructions",
        )  # fmt: skip
        for attempt in range(PORT_TRIES):
            options = " ".join(
                [
                    "-c listen_addresses=127.0.0.1",
                    f"-c port={self.port}",
                    f"-c unix_socket_directories={self.root}",
                    "-c fsync=on",
                    "-c synchronous_commit=on",
                    "-c max_connections=200",
                    "-c shared_buffers=32MB",
                ]
            )
            try:
                self._run(
                    pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                    str(self.root / "server.log"), "-w", "-t", str(START_TIMEOUT), "start",
                )  # fmt: skip
            except RuntimeError:
                log = self.root / "server.log"
                in_use = log.exists() and "already in use" in log.read_text(errors="replace")
                if not in_use or attempt == PORT_TRIES - 1:
                    raise
                # Something outside the tests took the port (ours are reserved): another one.
                self.port = free_port()
                self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
                log.unlink()
                continue
            self.running = True
            return self
        raise AssertionError("unreachable")

    def new_database(self, prefix: str = "t") -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def stop(self) -> None:
        if self.running:
            self.running = False
            with contextlib.suppress(Exception):
                self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


_shared: Cluster | None = None


def shared() -> Cluster:
    """This process's cluster, started on first use."""
    global _shared
    if _shared is None:
        cluster = Cluster()
        try:
            cluster.start()
        except BaseException:
            cluster.stop()
            raise
        _shared = cluster
        atexit.register(stop_shared)
    return _shared


def stop_shared() -> None:
    global _shared
    if _shared is not None:
        _shared.stop()
        _shared = None


def new_database(prefix: str = "t") -> str:
    """A fresh database on this process's cluster (started if needed)."""
    return shared().new_database(prefix)
