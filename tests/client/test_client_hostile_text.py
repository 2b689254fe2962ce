"""Untrusted text is printed as text by every CLI verb (issue 10, fault 6).

A seller names items with Rich markup (``[/red]`` once crashed ``list`` and ``show`` for every
user; ``[link=...]`` became a clickable link), terminal escapes (clear screen, set title, C1
CSI), a right-to-left override and zero-width characters. Every verb that prints another
user's text runs as a real subprocess against a real house, on a pipe and on a forced colour
terminal: it must succeed, show the text (escaped) and never pass the hostile bytes on.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Cli, HouseProcess

pytestmark = pytest.mark.e2e
PASSWORD = "a long enough password\n"

MARKUP_CLOSE = "[/red] broken"
MARKUP_LINK = "[link=https://evil.example/]free money[/link]"
ESCAPES = "\x1b[2J\x1b]0;pwned\x07wipe"
BIDI = "\u202etxt.exe"
INVISIBLE = "zero\u200bwidth\x9b31m"
DESCRIPTION = "line one\n[bold]not bold[/bold] \x1b[5mblink"
HOSTILE = [MARKUP_CLOSE, MARKUP_LINK, ESCAPES, BIDI, INVISIBLE]
FORBIDDEN = ["\x1b[2J", "\x1b]0;", "\x1b]8;", "\x07", "\u202e", "\u200b", "\x9b", "\x1b[5m"]


@pytest.fixture(scope="module")
def people(house_server: HouseProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Cli]:
    out = {}
    for name in ("mallory", "victim"):
        cli = Cli(house_server.url, tmp_path_factory.mktemp(f"cfg-{name}"))
        cli.env["COLUMNS"] = "400"  # no wrapping: the text is found whole
        cli.ok("account", "create", name, "--password-stdin", "--no-key", input=PASSWORD)
        out[name] = cli
    return out


@pytest.fixture(scope="module")
def auctions(people: dict[str, Cli]) -> dict[str, str]:
    """One English auction per hostile item name, listed by mallory."""
    ids = {}
    for item in HOSTILE:
        view = json.loads(
            people["mallory"].ok(
                "sell", "--item", item, "--description", DESCRIPTION, "--method", "english",
                "--start-price", "10", "--duration", "1h", "--json",
            )
        )  # fmt: skip
        assert view["item"]["name"] == item  # the house keeps the text as it was typed
        ids[item] = str(view["id"])
    return ids


def shown_safely(output: str, *, colour: bool = False) -> None:
    assert "Traceback" not in output
    for bad in FORBIDDEN:
        assert bad not in output, (bad, output)
    if not colour:
        assert "\x1b" not in output


def both_ways(cli: Cli, *args: str) -> list[str]:
    """The verb's output on a pipe and on a forced colour terminal; both must succeed."""
    outputs = []
    for colour in (False, True):
        env = dict(cli.env)
        if colour:
            env["FORCE_COLOR"] = "1"
            env["TERM"] = "xterm-256color"
        else:
            env.pop("FORCE_COLOR", None)
        done = subprocess.run(
            [sys.executable, "-m", "auctionhouse", *args, "--house", cli.house],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        shown_safely(done.stdout + done.stderr, colour=colour)
        outputs.append(done.stdout)
    return outputs


def test_list_shows_every_hostile_name_as_text(
    people: dict[str, Cli], auctions: dict[str, str]
) -> None:
    plain, _coloured = both_ways(people["victim"], "list", "--limit", "50")
    assert MARKUP_CLOSE in plain
    assert MARKUP_LINK in plain
    assert "\\x1b[2J\\x1b]0;pwned\\x07wipe" in plain
    assert "\\u202etxt.exe" in plain
    assert "zero\\u200bwidth\\x9b31m" in plain


@pytest.mark.parametrize("item", HOSTILE)
def test_show_and_watch_once_show_the_item_as_text(
    people: dict[str, Cli], auctions: dict[str, str], item: str
) -> None:
    for verb in ("show", "watch"):
        args = (verb, auctions[item]) if verb == "show" else (verb, auctions[item], "--once")
        plain, _ = both_ways(people["victim"], *args)
        assert "[bold]not bold[/bold]" in plain
        assert "\\x1b[5mblink" in plain
    if item.startswith("["):
        assert item in plain


def test_bid_and_live_watch_to_the_close_show_text(people: dict[str, Cli]) -> None:
    mallory, victim = people["mallory"], people["victim"]
    view = json.loads(
        mallory.ok(
            "sell", "--item", MARKUP_CLOSE + ESCAPES, "--method", "vickrey",
            "--start-price", "5", "--expected-bids", "1", "--duration", "1h", "--json",
        )
    )  # fmt: skip
    auction = str(view["id"])
    live = victim.popen("watch", auction)
    said = victim.run("bid", auction, "7")
    assert said.returncode == 0, said.stderr
    shown_safely(said.stdout + said.stderr)
    out, err = live.communicate(timeout=60)
    assert live.returncode == 0, err
    shown_safely(out + err)
    assert MARKUP_CLOSE in out


def test_sell_and_error_lines_show_text(people: dict[str, Cli]) -> None:
    said = people["mallory"].run(
        "sell", "--item", ESCAPES + BIDI, "--method", "english", "--duration", "1h"
    )
    assert said.returncode == 0, said.stderr
    shown_safely(said.stdout + said.stderr)
    assert "\\x1b[2J" in said.stdout
    missing = people["victim"].run("show", "[/red]\x1b[2J\u202e")
    assert missing.returncode == 2
    shown_safely(missing.stdout + missing.stderr)
    assert missing.stderr.startswith("error: ")
    assert len(missing.stderr.splitlines()) == 1


def test_audit_of_a_file_with_hostile_ids_shows_text(
    house_server: HouseProcess, tmp_path: Path
) -> None:
    from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig

    db = tmp_path / "house.db"
    house = AuctionHouse.open(db, config=HouseConfig.for_tests(), clock=FakeClock(1e9))
    house.create_account("seller", "correct horse")
    house.create_auction("seller", "lamp", "english", {"duration": 60})
    house.close()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("UPDATE ledger_events SET auction_id = ?", ("[/red]\x1b[2J\u202e",))
    conn.close()
    done = subprocess.run(
        [sys.executable, "-m", "auctionhouse", "audit", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "400", "PATH": "", "HOME": str(tmp_path)},
        check=False,
    )
    assert done.returncode == 1, done.stderr
    shown_safely(done.stdout + done.stderr)
    assert "[/red]\\x1b[2J\\u202e" in done.stdout
