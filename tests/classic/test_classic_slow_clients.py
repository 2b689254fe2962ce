"""Slow and silent clients of the classic protocol (issue 10, faults 1 and 5), on a real server:
a seller or buyer the auctioneer waits on is let go after ``--idle-timeout`` so nobody can keep
the auctioneer busy, a client that never reads is cut after ``--send-timeout``, and connections
are capped. Small configured timeouts; every wait has a deadline."""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

import pytest
from classic_helpers import SELLER_GREETING, ServerProcess, ledger_state, open_round

from auctionhouse.auction import Outcome

pytestmark = pytest.mark.e2e

LIMITS = ("--idle-timeout", "1", "--send-timeout", "1", "--max-connections", "3")


def test_silent_sellers_and_buyers_are_let_go_and_the_next_seller_is_served(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path / "classic.db", *LIMITS)
    try:
        silent = server.connect()
        assert silent.read_until("request:\n") == SELLER_GREETING
        started = time.monotonic()
        assert "No answer for 1 seconds" in silent.read_to_close()
        assert time.monotonic() - started < 10
        server.expect("Seller disconnected before sending a request.")

        # A buyer that never bids: the auction is cancelled, everyone is told.
        seller, (quick, slow), auction = open_round(server, "2 10 2 Lamp", 2)
        quick.send("20")
        quick.read_until("Please wait...\n")
        assert "No answer for 1 seconds" in slow.read_to_close()
        server.expect("Buyer 2 disconnected before bidding.")
        assert "cancelled" in seller.read_to_close()
        assert ledger_state(server.db, auction).outcome is Outcome.CANCELLED

        # The next client is a seller again.
        nxt = server.connect()
        assert nxt.read_until("request:\n") == SELLER_GREETING
        nxt.close()
    finally:
        server.kill()


def test_connections_are_capped(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "classic.db", "--max-connections", "3")
    try:
        seller = server.connect()
        seller.read_until("request:\n")
        seller.send("2 10 5 Rug")
        seller.read_until("Auction start.\n")
        buyers = [server.connect() for _ in range(2)]
        for buyer in buyers:
            buyer.read_until("connect...\n")
        over = server.connect()
        assert "Too many connections" in over.read_to_close()
        server.expect(">> Too many connections: refused")
        # A place that frees up is a buyer's again; then the cap holds once more.
        buyers.pop().close()
        server.expect("Buyer 2 disconnected")
        extra = server.connect()
        extra.read_until("connect...\n")
        assert "Too many connections" in server.connect().read_to_close()
    finally:
        server.kill()


def test_a_client_that_never_reads_is_cut(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "classic.db", "--send-timeout", "1")
    try:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.settimeout(30)
        sock.connect(("127.0.0.1", server.port))
        server.expect("Seller is connected")
        started = time.monotonic()
        try:  # bad requests, each answered with an error and a prompt, never read
            for _ in range(200):
                sock.sendall(b"x\n" * 5000)
        except OSError:
            pass
        server.expect("reads nothing: disconnected", timeout=30)
        assert time.monotonic() - started < 30
        sock.close()
        server.expect("Seller disconnected before sending a request.")
        nxt = server.connect()
        assert nxt.read_until("request:\n") == SELLER_GREETING
        nxt.close()
    finally:
        server.kill()
