"""A real ``auctionhouse serve`` subprocess on a free loopback port, for end-to-end tests.

The house runs on its SQLite file in tmp with cheap argon2 settings (account creation stays
fast); no ``AUCTIONHOUSE_*`` variable of the caller's environment leaks in. It can be stopped,
killed with -9 and started again on the same port and file (a restart).

Its port is reserved for this test process (tests/free_ports.py: outside the kernel's
ephemeral range, locked against other test processes), so nothing takes it between the pick
and the child's bind, nor between a stop and a restart; the start waits for the child's
``listening on`` line (printed once the socket is bound and the house is open) with a deadline
generous for a loaded machine, and fails at once, with the child's output, if it exits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from free_ports import START_DEADLINE, free_port, wait_listening

FAST_HOUSE_ENV = {
    "AUCTIONHOUSE_HOUSE_ARGON2_TIME_COST": "1",
    "AUCTIONHOUSE_HOUSE_ARGON2_MEMORY_KIB": "1024",
}
RESTART_TRIES = 5
"""Starts on the same port after the child found it still in use (the previous process's
socket not yet released by the kernel after kill -9)."""


def serve_command(db: Path | str, port: int, *options: str) -> list[str]:
    """``python -m auctionhouse serve --db DB --port PORT --log-level warning OPTIONS...``."""
    return [
        *(sys.executable, "-m", "auctionhouse", "serve", "--db", str(db), "--port", str(port)),
        *("--log-level", "warning", *options),
    ]


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
        """Start it and return once it listens (bounded by START_DEADLINE, read at each call:
        benches raise it). ``RuntimeError`` with the house's output if it exits first."""
        for attempt in range(RESTART_TRIES):
            offset = self.log.stat().st_size if self.log.exists() else 0
            with self.log.open("ab") as log:
                self.proc = subprocess.Popen(
                    serve_command(self.db, self.port, "--host", "127.0.0.1"),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                )
            try:
                wait_listening(self.proc, self.log, offset, START_DEADLINE, "the house")
                return self
            except RuntimeError as exc:
                in_use = "address already in use" in str(exc).lower()
                if not in_use or attempt == RESTART_TRIES - 1:
                    raise
            time.sleep(0.2 * 2**attempt)  # the old socket is being released; bounded tries
        raise AssertionError("unreachable")

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
