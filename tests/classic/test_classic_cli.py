"""``auctionhouse classic connect`` as a subprocess against a real server (stdin in, stdout
checked), and the verbs' errors as one ``error: code: message`` line with exit 2."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from classic_helpers import COMMAND, GOODBYE, TIMEOUT, ServerProcess, cli_env, ledger_state

from auctionhouse.auction import Outcome
from auctionhouse.ledger import audit_database

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "classic.db")
    try:
        yield proc
    finally:
        proc.kill()


def start_client(port: int, stdin_text: str, tmp_path: Path) -> subprocess.Popen[str]:
    """``classic connect`` reading ``stdin_text`` from a file: its lines wait for the prompts
    they answer, then standard input is at its end."""
    script = tmp_path / f"stdin-{len(list(tmp_path.glob('stdin-*')))}.txt"
    script.write_text(stdin_text)
    with script.open() as stdin:
        return subprocess.Popen(
            [*COMMAND, "connect", "127.0.0.1", str(port)],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )


def finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    assert err == ""
    return out


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, timeout=TIMEOUT, env=cli_env()
    )


def test_connect_plays_seller_and_buyer_like_the_seeds_client(
    server: ServerProcess, tmp_path: Path
) -> None:
    seller = start_client(server.port, "some wrong input\n2 100 2 WolfPackSword\n", tmp_path)
    server.expect("Auction request received. Now waiting for Buyers.")
    auction_id = server.auction_id()
    buyer = start_client(server.port, "some wrong bid\n0\n120\n", tmp_path)
    server.expect("Buyer 1 is connected")
    rival = server.connect()
    rival.read_until("bid:\n")
    server.expect(">> Buyer 1 bid $120")  # the client's bad lines never reached the server
    rival.send("180")

    assert finish(seller) == (
        "Connected to the Auctioneer server.\n\nYour role is: [Seller]\n"
        "Please submit auction request:\n"
        "Invalid auction request! Expected 'type min_price #bids name', "
        "e.g. '2 100 3 WolfPackSword'.\n"
        "Please submit auction request:\n"
        "Server: Auction start.\n\n"
        "Auction finished!\nSuccess! Your item WolfPackSword has been sold for $120.\n" + GOODBYE
    )
    assert finish(buyer) == (
        "Connected to the Auctioneer server.\n\nYour role is: [Buyer]\n"
        "The Auctioneer is still waiting for other Buyers to connect...\n\n"
        "The bidding has started!\nPlease submit your bid:\n"
        "Invalid bid. Please submit a positive integer!\nPlease submit your bid:\n"
        "Invalid bid. Please submit a positive integer!\nPlease submit your bid:\n"
        "Server: Bid received. Please wait...\n\n"
        "Server: Auction finished!\nUnfortunately you did not win in the last round.\n" + GOODBYE
    )
    assert "You won the item 'WolfPackSword'! Your payment due is $120" in rival.read_to_close()
    state = ledger_state(server.db, auction_id)
    assert (state.outcome, state.final_price) == (Outcome.SOLD, 120_00)
    assert [b.amount for b in state.bids] == [120_00, 180_00]
    assert audit_database(server.db).ok


def test_connect_when_busy_and_when_input_runs_out(server: ServerProcess, tmp_path: Path) -> None:
    holder = server.connect()
    holder.read_until("request:\n")
    assert finish(start_client(server.port, "2 100 2 Sword\n", tmp_path)) == (
        "Connected to the Auctioneer server.\n\nServer is busy. Try to connect again later.\n"
    )
    holder.close()
    server.expect("Waiting for the next Seller.")
    # A prompt that finds standard input at its end: nothing could ever answer it.
    assert finish(start_client(server.port, "", tmp_path)) == (
        "Connected to the Auctioneer server.\n\nYour role is: [Seller]\n"
        "Please submit auction request:\nNo more input: disconnecting.\n"
    )
    server.expect("Seller disconnected before sending a request.")


def test_bad_ports_a_port_in_use_and_no_server(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    for port in ("abc", "70000", "-1"):
        result = run_cli("serve", "--db", db, "--", port)
        assert result.returncode == 2
        assert result.stderr == (
            f"error: invalid_request: PORT must be a whole number from 0 to 65535, not '{port}'\n"
        )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", str(port), "--db", db)
        assert result.returncode == 2
        assert result.stderr == f"error: config_error: port {port} on 127.0.0.1 is in use\n"
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: connecting is refused
        port = closed.getsockname()[1]
        result = run_cli("connect", "127.0.0.1", str(port))
        assert result.returncode == 2
        assert result.stderr == (
            f"error: config_error: cannot connect to 127.0.0.1:{port}: Connection refused\n"
        )
    result = run_cli("connect", "127.0.0.1", "0")
    assert (result.returncode, result.stderr) == (
        2,
        "error: invalid_request: PORT must be from 1 to 65535 to connect\n",
    )
    (tmp_path / "adir").mkdir()
    result = run_cli("serve", "0", "--db", str(tmp_path / "adir"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
