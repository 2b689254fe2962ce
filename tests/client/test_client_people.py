"""What people coming from other auction sites expect of the CLI (issue 17), each verb run as a
real subprocess against a real house: money in the house's currency, times as people write
them, accept, whoami, my-bids, logout, the admin verbs, watch's lines and the bid history."""

from __future__ import annotations

import datetime as dt
import json
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from serve_process import ServeProcess, clean_env

from .conftest import Cli

pytestmark = pytest.mark.e2e
PASSWORD = "a long enough password\n"


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """A house (EUR, English locale) with an admin account ``root``."""
    tmp = tmp_path_factory.mktemp("people-house")
    db = tmp / "house.db"
    create = ["admin", "create", "root", "--db", str(db), "--password-stdin"]
    made = subprocess.run(
        [sys.executable, "-m", "auctionhouse", *create],
        input=PASSWORD,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    server = ServeProcess(db, tmp / "serve.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def people(house: ServeProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Cli]:
    out = {}
    for name in ("seller", "alice", "bob"):
        cli = Cli(house.url, tmp_path_factory.mktemp(f"cfg-{name}"))
        cli.ok("account", "create", name, "--password-stdin", "--no-key", input=PASSWORD)
        out[name] = cli
    root = Cli(house.url, tmp_path_factory.mktemp("cfg-root"))
    root.ok("login", "root", "--password-stdin", input=PASSWORD)
    out["root"] = root
    return out


def _sell(cli: Cli, *args: str) -> dict[str, object]:
    view: dict[str, object] = json.loads(cli.ok("sell", *args, "--json"))
    return view


def _error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done
    stderr = done.stderr.strip()
    assert len(stderr.splitlines()) == 1 and "Traceback" not in stderr, stderr
    return stderr


def test_version(people: dict[str, Cli]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "auctionhouse", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.strip() == "auctionhouse 0.1.0"


def test_whoami_and_account_show_as_a_table(people: dict[str, Cli], house: ServeProcess) -> None:
    alice = people["alice"]
    assert alice.ok("whoami").strip() == f"alice on {house.url} (user, no bid key)"
    assert people["root"].ok("whoami").startswith("root on ")
    table = alice.ok("account", "show")
    assert "{" not in table
    for words in ("name", "alice", "role", "user", "bid key", "reputation", "session ends"):
        assert words in table
    assert json.loads(alice.ok("account", "show", "--json"))["id"] == "alice"


def test_money_is_typed_as_decimals_and_shown_in_the_house_currency(
    people: dict[str, Cli],
) -> None:
    seller, alice = people["seller"], people["alice"]
    view = _sell(
        seller,
        "--method",
        "english",
        "--item",
        "lamp",
        "--start-price",
        "10.50",
        "--increment",
        "0.50",
        "--reserve",
        "12",
        "--duration",
        "10m",
    )
    rules = view["rules"]
    assert isinstance(rules, dict)
    assert (rules["starting_price"], rules["min_increment"]) == (1050, 50)
    assert view["currency"] == "EUR"
    aid = str(view["id"])
    too_fine = seller.run("sell", "--method", "english", "--item", "x", "--start-price", "10.505")
    assert _error(too_fine) == (
        "error: invalid_amount: --start-price 10.505 has more decimals than EUR has (2 decimals)"
    )
    not_money = alice.run("bid", aid, "ten")
    assert _error(not_money).startswith("error: invalid_amount: amount must be an amount like 10")
    said = alice.ok("bid", aid, "10.50")
    assert "price €10.50, you lead" in said
    low = alice.run("bid", aid, "10.75")  # under the next bid of €11.00
    assert "€11.00" in _error(low)
    bob_low = people["bob"].run("bid", aid, "10.60")
    assert _error(bob_low) == "error: bid_too_low: the next bid must be at least €11.00"
    shown = people["bob"].ok("show", aid)
    assert "starting price €10.50" in shown and "minimum increment €0.50" in shown
    assert "1050" not in shown


def test_increment_table_and_every_bid_is_a_maximum(people: dict[str, Cli]) -> None:
    seller, alice, bob = people["seller"], people["alice"], people["bob"]
    view = _sell(
        seller,
        "--method",
        "english",
        "--item",
        "atlas",
        "--start-price",
        "0.50",
        "--increment-table",
        "1:0.05,5:0.25,*:0.50",
        "--bids-are-maxima",
        "--duration",
        "10m",
    )
    aid = str(view["id"])
    rules = view["rules"]
    assert isinstance(rules, dict) and rules["bids_are_maxima"] is True
    assert rules["increment_table"] == [
        {"below": 100, "increment": 5},
        {"below": 500, "increment": 25},
        {"below": None, "increment": 50},
    ]
    assert "price €0.50, you lead" in alice.ok("bid", aid, "4.00")  # a maximum, not a price
    said = bob.ok("bid", aid, "2")
    assert "price €2.25" in said and "outbid: alice's maximum answered, alice leads" in said
    shown = bob.ok("show", aid)
    for band in ("under €1.00: +€0.05", "under €5.00: +€0.25", "increment above: +€0.50"):
        assert band in shown
    assert "every bid is a maximum" in shown
    assert "bob bid €2.00; alice's maximum answered: alice leads at €2.25" in shown
    assert "€4.00" not in shown  # alice's maximum stays secret
    assert "your maximum €4.00" in alice.ok("show", aid)
    bad = seller.run(
        "sell", "--method", "english", "--item", "x", "--increment-table", "5:0.25,1:0.05"
    )
    assert "error: invalid_rules: increment_table" in _error(bad)
    pct = _sell(
        seller, "--method", "english", "--item", "y", "--increment-percent", "5", "--duration", "5m"
    )
    assert "increment 5% of the price" in seller.ok("show", str(pct["id"]))


def test_times_as_people_write_them(people: dict[str, Cli]) -> None:
    seller = people["seller"]
    before = time.time()
    said = seller.ok(
        "sell", "--method", "english", "--item", "later", "--opens-at", "2m", "--duration", "1h"
    )
    assert ", scheduled, opens at " in said and ", closes at " in said
    assert "." not in said.split("opens at ")[1].split(",")[0]  # a local time, not epoch seconds
    aid = said.split(":")[0].split()[-1]
    view = json.loads(seller.ok("show", aid, "--json"))
    assert before + 110 <= view["opens_at"] <= time.time() + 130
    asked = time.time()
    listed = seller.ok("list")
    row = next((line for line in listed.splitlines() if "later" in line), "")
    shown = re.search(r"opens in (\d+):(\d\d)", row)
    assert shown, listed
    left = int(shown[1]) * 60 + int(shown[2])  # what was left when the list was made
    assert view["opens_at"] - time.time() - 1 <= left <= view["opens_at"] - asked + 1, listed
    tomorrow = _sell(seller, "--method", "fpsb", "--item", "t", "--closes-at", "tomorrow 18:00")
    closes = dt.datetime.fromtimestamp(float(tomorrow["closes_at"]))  # type: ignore[arg-type]
    assert (closes.date(), closes.hour, closes.minute) == (
        dt.date.today() + dt.timedelta(days=1),
        18,
        0,
    )
    bad = seller.run("sell", "--method", "fpsb", "--item", "t", "--closes-at", "whenever")
    assert "--closes-at takes a time like 2m, 1h30m, 'tomorrow 18:00'" in _error(bad)


def test_accept_takes_a_dutch_auction_at_the_clock_price(people: dict[str, Cli]) -> None:
    seller, alice, bob = people["seller"], people["alice"], people["bob"]
    view = _sell(
        seller,
        "--method",
        "dutch",
        "--item",
        "tulips",
        "--start-price",
        "80",
        "--decrement",
        "1",
        "--tick",
        "1h",
        "--floor",
        "10",
    )
    aid = str(view["id"])
    low = bob.run("bid", aid, "50")
    assert _error(low) == (
        "error: bid_too_low: the clock price is €80.00 now, above your €50.00; bid at least"
        f" that, or take it with: auctionhouse accept {aid}"
    )
    english = _sell(seller, "--method", "english", "--item", "e", "--duration", "5m")
    wrong = alice.run("accept", str(english["id"]))
    assert "accept takes a Dutch auction at its clock price" in _error(wrong)
    assert alice.ok("accept", aid).strip() == f"you won auction {aid} for €80.00"
    assert "SOLD to alice for €80.00" in bob.ok("show", aid)
    mine = alice.ok("my-bids")
    assert "tulips" in mine and "you won" in mine
    assert "lamp" in mine and "you lead" in mine


def test_admin_pause_resume_and_stats(people: dict[str, Cli]) -> None:
    seller, root = people["seller"], people["root"]
    aid = str(_sell(seller, "--method", "english", "--item", "p", "--duration", "10m")["id"])
    assert _error(seller.run("pause", aid)).startswith("error: forbidden: ")
    assert root.ok("pause", aid).strip() == f"auction {aid} paused"
    assert "paused" in _error(people["bob"].run("bid", aid, "5"))
    assert root.ok("resume", aid).startswith(f"auction {aid} resumed (open, closes at ")
    stats = root.ok("stats")
    assert "bids per second" in stats and "open auctions" in stats
    assert _error(seller.run("stats")).startswith("error: forbidden: ")


class Lines:
    """The lines a process prints, read on a thread (a pipe read with select would miss lines
    already in the file object's buffer)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        assert proc.stdout is not None
        stdout = proc.stdout

        def pump() -> None:
            for line in stdout:
                self.queue.put(line)
            self.queue.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def until(self, words: str, deadline: float) -> str:
        """The next line containing ``words`` (bounded by ``deadline``, monotonic time)."""
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if words in line:
                return line
        raise AssertionError(f"no line with {words!r} in {self.seen}")


def test_watch_prints_one_line_per_change_with_your_part(people: dict[str, Cli]) -> None:
    seller, alice, bob = people["seller"], people["alice"], people["bob"]
    aid = str(_sell(seller, "--method", "english", "--item", "w", "--duration", "10m")["id"])
    alice.ok("bid", aid, "1")
    watcher = alice.popen("watch", aid)  # stdout is a pipe: lines, not a redrawn screen
    try:
        deadline = time.monotonic() + 60
        lines = Lines(watcher)
        first = lines.until("auction", deadline)
        assert f"auction {aid} (w): open, price €1.00  leader alice (you lead)" in first
        bob.ok("bid", aid, "2")
        outbid = lines.until("(outbid)", deadline)
        assert outbid.endswith(f"auction {aid}: bob bid €2.00: bob leads at €2.00 (outbid)\n")
    finally:
        watcher.kill()
        watcher.wait(timeout=10)
    dutch = _sell(
        seller,
        "--method",
        "dutch",
        "--item",
        "d",
        "--start-price",
        "9",
        "--decrement",
        "1",
        "--tick",
        "1h",
    )
    did = str(dutch["id"])
    bob.ok("bid", did, "9")
    watcher = bob.popen("watch", did)  # closed already: the snapshot says the result, then exits
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    assert f"auction {did} (d): closed, SOLD to bob for €9.00 (you won)" in out
    assert "\x1b" not in out


def test_logout_ends_the_session(people: dict[str, Cli], tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    cli = Cli(people["seller"].house, tmp_path_factory.mktemp("cfg-carol"))
    cli.ok("account", "create", "carol", "--password-stdin", "--no-key", input=PASSWORD)
    assert cli.ok("logout").startswith("logged out carol from ")
    assert "error: " in _error(cli.run("whoami"))


def test_refusals_say_times_as_local_times(people: dict[str, Cli]) -> None:
    """The house says "opens at 2030-... UTC" (and ``opens_at`` in seconds); the CLI shows
    the reader's local time, here Tokyo's, for a scheduled and for a closed auction."""
    from zoneinfo import ZoneInfo

    seller, alice = people["seller"], people["alice"]
    tokyo = Cli(alice.house, Path(alice.env["AUCTIONHOUSE_CONFIG_DIR"]))
    tokyo.env["TZ"] = "Asia/Tokyo"
    view = _sell(
        seller, "--method", "english", "--item", "soon", "--opens-at", "1h", "--start-price", "12.5"
    )
    aid = str(view["id"])
    row = next(
        line for line in tokyo.ok("list", "--seller", "seller").splitlines() if " soon " in line
    )
    assert "€12.50" in row  # no bid yet: the starting price the list sorts by, not "-"

    def local(epoch: object) -> str:
        moment = dt.datetime.fromtimestamp(float(epoch), tz=ZoneInfo("Asia/Tokyo"))  # type: ignore[arg-type]
        return moment.strftime("%Y-%m-%d %H:%M:%S JST")

    said = _error(tokyo.run("bid", aid, "5"))
    assert said == f"error: auction_not_open: auction {aid} opens at {local(view['opens_at'])}"
    seller.ok("cancel", aid)
    closed = json.loads(seller.ok("show", aid, "--json"))
    said = _error(tokyo.run("bid", aid, "5"))
    at = local(closed["result"]["closed_at"])
    assert said == f"error: auction_closed: auction {aid} closed at {at} (cancelled)"
