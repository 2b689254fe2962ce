"""A real ``auctionhouse serve`` process on a free loopback port, and a CLI runner.

The house runs on its SQLite file in tmp; cheap argon2 settings keep account creation fast.
Every CLI run gets its own config dir through ``AUCTIONHOUSE_CONFIG_DIR`` (never the user's).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

T = TypeVar("T")
START_DEADLINE = 30.0
FAST_HOUSE_ENV = {
    "AUCTIONHOUSE_HOUSE_ARGON2_TIME_COST": "1",
    "AUCTIONHOUSE_HOUSE_ARGON2_MEMORY_KIB": "1024",
}


def run_async(coro: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
    """``asyncio.run(coro)`` on a fresh thread: the main thread may already run a loop (the
    browser tests' Playwright keeps one there for the session)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HouseProcess:
    """``auctionhouse serve --db DB --port PORT``; can be killed (-9) and started again."""

    def __init__(self, db: Path, log: Path) -> None:
        self.db = db
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUCTIONHOUSE_")}
        env.update(FAST_HOUSE_ENV)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "auctionhouse",
                    "serve",
                    "--db",
                    str(self.db),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the house exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/api/v1/time", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the house did not answer /api/v1/time within {START_DEADLINE} s")

    def kill(self) -> None:
        """kill -9, and wait until it is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="module")
def house_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HouseProcess]:
    """One house for a test module (tests use their own account names)."""
    tmp = tmp_path_factory.mktemp("house")
    server = HouseProcess(tmp / "house.db", tmp / "serve.log")
    server.start()
    yield server
    server.stop()


class Cli:
    """Runs ``python -m auctionhouse ...`` against a house with a private config dir."""

    def __init__(self, house: str, config_dir: Path) -> None:
        self.house = house
        self.env = {**os.environ, "AUCTIONHOUSE_CONFIG_DIR": str(config_dir)}
        self.env.pop("AUCTIONHOUSE_ACCOUNT", None)
        self.env.pop("AUCTIONHOUSE_HOUSE", None)

    def run(
        self, *args: str, input: str | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "auctionhouse", *args, "--house", self.house],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
        )

    def ok(self, *args: str, input: str | None = None) -> str:
        done = self.run(*args, input=input)
        assert done.returncode == 0, f"{args}: rc={done.returncode}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "auctionhouse", *args, "--house", self.house],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )
