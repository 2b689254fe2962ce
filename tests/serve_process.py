"""A real ``auctionhouse serve`` subprocess on a free loopback port, for end-to-end tests.

The house runs on its SQLite file in tmp with cheap argon2 settings (account creation stays
fast); no ``AUCTIONHOUSE_*`` variable of the caller's environment leaks in. It can be stopped,
killed with -9 and started again on the same port and file (a restart).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

START_DEADLINE = 30.0
FAST_HOUSE_ENV = {
    "AUCTIONHOUSE_HOUSE_ARGON2_TIME_COST": "1",
    "AUCTIONHOUSE_HOUSE_ARGON2_MEMORY_KIB": "1024",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without ``AUCTIONHOUSE_*``, plus the fast house settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUCTIONHOUSE_")}
    env.update(FAST_HOUSE_ENV)
    env.update(extra or {})
    return env


class ServeProcess:
    """``auctionhouse serve --db DB --port PORT``, its output appended to ``log``."""

    def __init__(self, db: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.db = db
        self.log = log
        self.env = clean_env(env)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServeProcess:
        """Start it and return once ``/api/v1/time`` answers (bounded by START_DEADLINE)."""
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
                env=self.env,
            )
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the house exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/api/v1/time", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)  # polling a starting server, bounded by the deadline above
        self.stop()
        raise RuntimeError(f"the house did not answer /api/v1/time within {START_DEADLINE} s")

    def kill(self) -> None:
        """kill -9, and wait until it is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (a clean shutdown); kill -9 if it does not end within ``timeout``."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
