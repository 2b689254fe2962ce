"""A real ``auctionhouse serve`` process on a free loopback port, and a CLI runner.

The house runs on its SQLite file in tmp; cheap argon2 settings keep account creation fast.
Every CLI run gets its own config dir through ``AUCTIONHOUSE_CONFIG_DIR`` (never the user's).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from serve_process import ServeProcess

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
    """``asyncio.run(coro)`` on a fresh thread: the main thread may already run a loop (the
    browser tests' Playwright keeps one there for the session)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=timeout)


# The house process is shared with the browser tests (tests/serve_process.py).
HouseProcess = ServeProcess


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
