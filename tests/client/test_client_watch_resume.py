"""Watching survives a kill -9 of the house: the SDK and ``auctionhouse watch --json`` reconnect
to the restarted house and resume after the last seq they saw, with no gap and no duplicate."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest

from auctionhouse.client import Client

from .conftest import Cli, HouseProcess

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery"
DEADLINE = 30.0


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _read_lines(stream: IO[str] | None, into: queue.Queue[str]) -> None:
    assert stream is not None
    for line in stream:
        into.put(line)


def _seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [m["seq"] for m in messages if m.get("type") == "event"]


def test_watchers_resume_after_kill_9_without_gap_or_duplicate(tmp_path: Path) -> None:
    house = HouseProcess(tmp_path / "house.db", tmp_path / "serve.log")
    house.start()
    try:
        with Client(house.url) as seller, Client(house.url) as viewer:
            seller.create_account("seller", PASSWORD)
            seller.login("seller", PASSWORD)
            # Sealed, closing on the sixth bid: the test decides when it ends, not a clock.
            auction = seller.create_auction(
                "piano", "fpsb", {"expected_bids": 6, "duration": 3600}
            )["id"]
            for n in range(1, 7):
                with Client(house.url) as bidder:
                    bidder.create_account(f"bidder{n}", PASSWORD)

            def bid(n: int) -> None:  # bidder n bids 10 * n (seq n + 1)
                with Client(house.url) as bidder:
                    bidder.login(f"bidder{n}", PASSWORD)
                    bidder.bid(auction, 10 * n)

            sdk_seen: list[dict[str, Any]] = []
            failure: list[BaseException] = []

            def follow() -> None:
                try:
                    for message in viewer.watch([auction], until_closed=True, give_up_after=30):
                        sdk_seen.append(message)
                except BaseException as exc:  # reported by the assertion below
                    failure.append(exc)

            sdk = threading.Thread(target=follow, daemon=True)
            sdk.start()
            cli = Cli(house.url, tmp_path / "cfg").popen("watch", auction, "--json")
            cli_lines: queue.Queue[str] = queue.Queue()
            reader = threading.Thread(target=_read_lines, args=(cli.stdout, cli_lines), daemon=True)
            reader.start()
            cli_seen: list[dict[str, Any]] = []

            def cli_has(seq: int) -> bool:
                while not cli_lines.empty():
                    cli_seen.append(json.loads(cli_lines.get()))
                return seq in _seqs(cli_seen)

            for n in (1, 2, 3):  # seqs 2, 3, 4
                bid(n)
            _wait_for(lambda: 4 in _seqs(sdk_seen) and cli_has(4), "both watchers to see seq 4")

            house.kill()
            house.start()  # same db, same port
            for n in (4, 5):  # while the watchers are still reconnecting: seqs 5, 6
                bid(n)
            _wait_for(lambda: 6 in _seqs(sdk_seen) and cli_has(6), "both watchers to catch up")
            bid(6)  # live again: seq 7, and the close (seq 8)

            sdk.join(timeout=DEADLINE)
            assert not sdk.is_alive() and not failure, failure
            assert cli.wait(timeout=DEADLINE) == 0, cli.stderr.read() if cli.stderr else ""
            reader.join(timeout=DEADLINE)
            cli_has(0)  # drain what is left

            logged = viewer.events(auction)["events"]
            assert [e["type"] for e in logged][-1] == "AuctionClosed"
            expected = [e["seq"] for e in logged]
            assert expected == list(range(1, 9))
            for seen in (sdk_seen, cli_seen):
                events = [m for m in seen if m.get("type") == "event"]
                assert _seqs(seen) == expected  # every event once, in order
                # (sealed amounts were hidden live and are revealed in the log after the close)
                assert [m["event"]["type"] for m in events] == [e["type"] for e in logged]
            assert logged[-1]["winner"] == "bidder6" and logged[-1]["price"] == 60
    finally:
        house.stop()
