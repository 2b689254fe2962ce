"""A real ``auctionhouse classic serve`` subprocess and raw-socket peers, with bounded waits."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from auctionhouse.auction import AuctionState, replay
from auctionhouse.ledger import SQLiteStore, decode_event
from free_ports import START_DEADLINE

TIMEOUT = 30.0  # seconds: every wait ends as soon as what it waits for comes; generous for load
COMMAND = [sys.executable, "-m", "auctionhouse", "classic"]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class ServerProcess:
    """``auctionhouse classic serve 0 --db DB``; its stdout lines are collected by a thread."""

    def __init__(self, db: Path, *options: str) -> None:
        self.db = db
        self.proc = subprocess.Popen(
            [*COMMAND, "serve", "0", "--db", str(db), *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )
        self.lines: list[str] = []
        self._seen = 0
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        # Port 0: the server binds a free port itself and prints it (no pick-then-bind race);
        # the start may be slow on a loaded machine, so its deadline is generous.
        listening = self.expect("Listening on ", START_DEADLINE)
        self.port = int(listening.split()[2].rsplit(":", 1)[1])
        self.expect("Auctioneer is ready for hosting auctions!", START_DEADLINE)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def expect(self, text: str, timeout: float = TIMEOUT) -> str:
        """The next log line (after those already matched) that contains ``text``."""
        deadline = time.monotonic() + timeout
        while True:
            for index in range(self._seen, len(self.lines)):
                if text in self.lines[index]:
                    self._seen = index + 1
                    return self.lines[index]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"server never printed {text!r}; log: {self.lines}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"server exited before printing {text!r}; log: {self.lines}")
            self.lines.append(line)

    def auction_id(self) -> str:
        """The id of the next auction the log announces (``>> Auction N: ...``)."""
        return self.expect(">> Auction ").split()[2].rstrip(":")

    def connect(self) -> Peer:
        return Peer(self.port)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=TIMEOUT)
        self.expect_end()
        return code

    def expect_end(self) -> None:
        """Collect the remaining log lines (the pump thread ends at EOF)."""
        while True:
            line = self._queue.get(timeout=TIMEOUT)
            if line is None:
                return
            self.lines.append(line)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=TIMEOUT)


class Peer:
    """A raw TCP client, like ``nc``: send lines, read with bounded timeouts."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buffer = b""
        self.closed = False

    def send(self, line: str, end: str = "\n") -> None:
        self.sock.sendall((line + end).encode())

    def _fill(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.closed:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return False
        if not data:
            self.closed = True
            return False
        self.buffer += data
        return True

    def read_until(self, text: str, timeout: float = TIMEOUT) -> str:
        """Everything up to and including ``text`` (then consumed)."""
        deadline = time.monotonic() + timeout
        wanted = text.encode()
        while wanted not in self.buffer:
            if not self._fill(deadline):
                raise AssertionError(f"never received {text!r}; got {self.buffer.decode()!r}")
        end = self.buffer.index(wanted) + len(wanted)
        out, self.buffer = self.buffer[:end], self.buffer[end:]
        return out.decode()

    def read_to_close(self, timeout: float = TIMEOUT) -> str:
        """Everything until the server closes the connection (which it must, in time)."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            if not self._fill(deadline) and not self.closed:
                raise AssertionError(f"the server did not disconnect; got {self.buffer!r}")
        out, self.buffer = self.buffer, b""
        return out.decode()

    def close(self) -> None:
        self.sock.close()


def ledger_state(db: Path, auction_id: str) -> AuctionState:
    """An auction rebuilt from the server's ledger file (read-only)."""
    store = SQLiteStore(db, readonly=True)
    try:
        state = replay(decode_event(r.body) for r in store.records_for(auction_id))
    finally:
        store.close()
    assert state is not None, f"auction {auction_id} is not in the ledger"
    return state


SELLER_GREETING = "Connected to the Auctioneer server.\n\nYour role is: [Seller]\nPlease submit auction request:\n"
BUYER_GREETING = (
    "Connected to the Auctioneer server.\n\nYour role is: [Buyer]\n"
    "The Auctioneer is still waiting for other Buyers to connect...\n"
)
BUSY = "Connected to the Auctioneer server.\n\nServer is busy. Try to connect again later.\n"
BIDDING = "\nThe bidding has started!\nPlease submit your bid:\n"
GOODBYE = "Disconnecting from the Auctioneer server. Auction is over!\n"


def open_round(server: ServerProcess, request: str, buyers: int) -> tuple[Peer, list[Peer], str]:
    """A seller with ``request`` and ``buyers`` buyers, all at the bid prompt."""
    seller = server.connect()
    assert seller.read_until("request:\n") == SELLER_GREETING
    server.expect("Seller is connected from 127.0.0.1:")  # log lines of earlier rounds are past
    seller.send(request)
    assert seller.read_until("\n") == "Server: Auction start.\n"
    auction_id = server.auction_id()
    peers = []
    for k in range(1, buyers + 1):
        buyer = server.connect()
        assert buyer.read_until("connect...\n") == BUYER_GREETING
        server.expect(f"Buyer {k} is connected from 127.0.0.1:")
        peers.append(buyer)
    server.expect("Requested number of bidders arrived. Let's start bidding!")
    for buyer in peers:
        assert buyer.read_until("bid:\n") == BIDDING
    return seller, peers, auction_id


def place_bids(server: ServerProcess, buyers: list[Peer], amounts: list[int]) -> None:
    for k, (buyer, amount) in enumerate(zip(buyers, amounts, strict=True), start=1):
        buyer.send(str(amount))
        assert buyer.read_until("\n") == "Server: Bid received. Please wait...\n"
        server.expect(f">> Buyer {k} bid ${amount}")
