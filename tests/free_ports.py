"""Loopback ports for the servers the tests and benches start, that nobody else takes meanwhile.

A port picked with ``bind(("127.0.0.1", 0))`` and closed comes from the kernel's ephemeral
range, and stays free only until the server binds it: in between, the kernel may give it to
another ``bind(0)`` or to the local end of any outgoing connection (an HTTP client, a
PostgreSQL connection), so a loaded machine running many tests at once saw "address already in
use". A port reserved here is

- outside the ephemeral range (``/proc/sys/net/ipv4/ip_local_port_range``): the kernel never
  hands it out by itself;
- locked for this process's lifetime by an ``flock`` on a file named after it in a directory
  every test process shares: two pytest workers, or two test runs at once, never pick the same
  one (the lock dies with the process: no stale reservation);
- free at the moment it is picked (``bind`` succeeds).

So a server can be told its port before it starts (peers must know each other's addresses;
a restarted house keeps its URL) and bind it later without a race. ``wait_listening`` waits,
with a deadline, for the ``listening on http://HOST:PORT`` line ``serve`` and ``peer`` print
once their socket is bound, failing at once with the child's output if it exits.
"""

from __future__ import annotations

import fcntl
import os
import random
import socket
import subprocess
import tempfile
import time
from pathlib import Path

LOCKS = Path(tempfile.gettempdir()) / "auctionhouse-test-ports"
LOWEST = 20_000  # below: well-known and registered services (PostgreSQL's 5432, ...)
START_DEADLINE = 120.0
"""Seconds a server may take to start: generous, a loaded 2-core machine starts Python slowly
(a failed start still fails fast: the helpers watch the child and report its output)."""

_held: dict[int, int] = {}  # port -> the fd of its lock file, open for this process's lifetime


def _ephemeral_low() -> int:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32_768  # Linux's default
    return max(low, LOWEST + 1_000)


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on ``host``, outside the ephemeral range, reserved for this process."""
    LOCKS.mkdir(parents=True, exist_ok=True)
    high = _ephemeral_low()
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(2_000):  # bounded: with ~12,000 candidates a free one is found at once
        port = rng.randrange(LOWEST, high)
        if port in _held:
            continue
        fd = os.open(LOCKS / str(port), os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # another test process holds it
            os.close(fd)
            continue
        if _bindable(host, port):
            _held[port] = fd
            return port
        os.close(fd)  # something outside the tests listens there
    raise RuntimeError(f"no free loopback port between {LOWEST} and {high}")


def wait_listening(
    proc: subprocess.Popen[bytes] | subprocess.Popen[str],
    log: Path,
    offset: int = 0,
    deadline: float = START_DEADLINE,
    what: str = "the server",
) -> str:
    """Wait until ``log`` (the child's stdout and stderr, from byte ``offset``) has the
    ``listening on http://HOST:PORT`` line; returns that URL. ``RuntimeError`` with the
    child's output if it exits first or the deadline passes (it is then killed)."""
    end = time.monotonic() + deadline
    while True:
        text = log.read_bytes()[offset:].decode(errors="replace")
        for line in text.splitlines():
            if line.startswith("listening on "):
                return line.removeprefix("listening on ").strip()
        if proc.poll() is not None:
            raise RuntimeError(
                f"{what} exited ({proc.returncode}) before listening: {text[-3000:]}"
            )
        if time.monotonic() > end:
            proc.kill()
            proc.wait(timeout=30)
            raise RuntimeError(f"{what} was not listening within {deadline} s: {text[-3000:]}")
        time.sleep(0.05)  # polling the child's log, bounded by the deadline above
