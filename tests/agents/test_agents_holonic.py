"""Seed 001: the auctioneer holon and its three bidders, on a FakeClock and as a command."""

from __future__ import annotations

import subprocess
import sys

import pytest
from agents_helpers import T0, run

from auctionhouse.agents.holonic import Auctioneer, HolonResult
from auctionhouse.agents.runtime import Runtime
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig

RAISE_MAX = 5_000


async def holon(
    seed: int, quiet: float = 10.0, bidders: int = 3
) -> tuple[HolonResult, Runtime, list[str], AuctionHouse]:
    clock = FakeClock(T0)
    house = AuctionHouse.in_memory(config=HouseConfig.for_tests(), clock=clock)
    said: list[str] = []
    rt = Runtime(clock, manual=True, seed=seed)
    auctioneer = Auctioneer(house, bidders=bidders, quiet=quiet, say=said.append)
    rt.spawn(auctioneer)
    await rt.idle()
    await rt.advance(quiet * 3)
    assert rt.addresses == [], "everyone stopped"
    assert auctioneer.result is not None and not rt.failures
    return auctioneer.result, rt, said, house


@pytest.mark.parametrize("seed", range(8))
def test_the_holonic_auction_follows_the_rules(seed: int) -> None:
    result, rt, said, house = run(holon(seed))
    assert result.outcome == "sold" and result.winner is not None
    maxima = result.maxima
    assert set(maxima) == {"bidder-1", "bidder-2", "bidder-3"}
    assert all(10_000 <= m < 100_000 for m in maxima.values())
    price = result.price
    assert price is not None and 5_000 < price <= maxima[result.winner]
    # nobody left out could have raised: each loser's maximum is under price + one raise
    for name, maximum in maxima.items():
        if name != result.winner:
            assert maximum < price + RAISE_MAX
    assert (
        said[-2]
        == f"The winner is {result.winner} with the bid of €{price // 100:,}.{price % 100:02d}"
    )
    # closed by the quiet period: exactly 10 s after the last accepted bid
    state = house.state(house.auction_ids()[0])
    assert state.closed_at == pytest.approx(state.last_bid_at + 10.0)
    # members stop, then the auctioneer
    stopped = [a for a, what in rt.lifecycle if what == "stopped"]
    assert stopped[-1] == "auctioneer" and sorted(stopped[:-1]) == [
        "auctioneer/bidder-1",
        "auctioneer/bidder-2",
        "auctioneer/bidder-3",
    ]


def test_the_same_seed_gives_the_same_auction() -> None:
    a, b, c = run(holon(5)), run(holon(5)), run(holon(6))
    assert (a[0].winner, a[0].price, a[0].maxima) == (b[0].winner, b[0].price, b[0].maxima)
    assert a[0].maxima != c[0].maxima


def test_without_bidders_there_is_no_winner() -> None:
    result, rt, said, _ = run(holon(1, bidders=0))
    assert result.winner is None and "No winner" in said
    assert [a for a, what in rt.lifecycle if what == "stopped"] == ["auctioneer"]


@pytest.mark.e2e
def test_demo_holonic_command_runs_on_the_real_clock() -> None:
    # The quiet period is on the real clock: 0.3 s closed the auction before a bidder of a
    # loaded machine had bid ("No winner"); 2 s leaves them time and still ends in seconds.
    command = [sys.executable, "-m", "auctionhouse", "demo", "holonic", "--quiet", "2"]
    proc = subprocess.run([*command, "--seed", "4"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "The winner is bidder-" in out
    lines = out.splitlines()
    stops = [i for i, line in enumerate(lines) if "stopped" in line]
    assert stops and "auctioneer" in lines[stops[-1]]
    again = subprocess.run([*command, "--seed", "4"], capture_output=True, text=True, timeout=120)
    winner = [line for line in lines if line.startswith("The winner")]
    assert winner == [line for line in again.stdout.splitlines() if line.startswith("The winner")]


def test_demo_holonic_refuses_a_bad_quiet_period() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "auctionhouse", "demo", "holonic", "--quiet", "-1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "quiet" in proc.stderr
    assert "Traceback" not in proc.stderr
