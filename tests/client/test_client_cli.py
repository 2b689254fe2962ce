"""The CLI verbs as a user runs them (subprocesses, ``--house``) against a real house."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .conftest import Cli, HouseProcess

pytestmark = pytest.mark.e2e
PASSWORD = "a long enough password\n"


@pytest.fixture(scope="module")
def people(house_server: HouseProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Cli]:
    """seller, alice (with a bid key, the default) and bob (--no-key), each in a config dir."""
    out = {}
    for name, extra in (("seller", ["--no-key"]), ("alice", []), ("bob", ["--no-key"])):
        cli = Cli(house_server.url, tmp_path_factory.mktemp(f"cfg-{name}"))
        said = cli.ok("account", "create", name, "--password-stdin", *extra, input=PASSWORD)
        assert f"created account {name}" in said
        out[name] = cli
    return out


def _sell(cli: Cli, *args: str) -> str:
    view = json.loads(cli.ok("sell", *args, "--json"))
    return str(view["id"])


def _error_line(done: object) -> str:
    stderr = done.stderr.strip()  # type: ignore[attr-defined]
    assert done.returncode == 2, done  # type: ignore[attr-defined]
    assert len(stderr.splitlines()) == 1 and "Traceback" not in stderr
    return stderr


def test_account_key_and_credentials_are_owner_only(
    people: dict[str, Cli], house_server: HouseProcess
) -> None:
    alice = people["alice"]
    config = Path(alice.env["AUCTIONHOUSE_CONFIG_DIR"])
    key = config / "keys" / f"127.0.0.1_{house_server.port}" / "alice.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    assert (config / "credentials.json").stat().st_mode & 0o777 == 0o600
    me = json.loads(alice.ok("account", "show", "--json"))
    assert me["id"] == "alice" and len(me["public_key"]) == 64
    # Logging in again finds the key beside the profile.
    assert "signing bids with" in alice.ok("login", "alice", "--password-stdin", input=PASSWORD)
    bad = alice.run("login", "alice", "--password-stdin", input="wrong password\n")
    assert _error_line(bad).startswith("error: unauthorized: ")


def test_sell_in_all_four_methods_list_and_show(people: dict[str, Cli]) -> None:
    seller, bob = people["seller"], people["bob"]
    english = _sell(
        seller,
        "--method",
        "english",
        "--item",
        "clock",
        "--start-price",
        "100",
        "--increment",
        "10",
        "--duration",
        "10m",
        "--soft-close",
        "30,30,300",
        "--reserve",
        "150",
        "--description",
        "a grandfather clock",
    )
    dutch = _sell(
        seller,
        "--method",
        "dutch",
        "--item",
        "tulips",
        "--start-price",
        "5000",
        "--decrement",
        "100",
        "--tick",
        "1m",
    )
    fpsb = _sell(
        seller,
        "--method",
        "fpsb",
        "--item",
        "painting",
        "--expected-bids",
        "2",
        "--duration",
        "1h",
        "--max-bidders",
        "5",
    )
    vickrey = _sell(
        seller,
        "--method",
        "vickrey",
        "--item",
        "stamp",
        "--expected-bids",
        "2",
        "--closes-at",
        "2999-01-01T00:00:00+00:00",
        "--signed",
    )
    listed = json.loads(bob.ok("list", "--json"))
    ids = {a["id"]: a for a in listed["auctions"]}
    assert {english, dutch, fpsb, vickrey} <= set(ids)
    assert ids[english]["rules"]["soft_close"] == {"window": 30, "extension": 30, "cap": 300}
    assert ids[vickrey]["rules"]["signed_bids"] is True
    only_dutch = json.loads(bob.ok("list", "--method", "dutch", "--json"))["auctions"]
    assert dutch in {a["id"] for a in only_dutch} and all(
        a["method"] == "dutch" for a in only_dutch
    )
    mine = json.loads(seller.ok("list", "--mine", "--json"))["auctions"]
    assert {english, dutch, fpsb, vickrey} <= {a["id"] for a in mine}
    assert json.loads(bob.ok("list", "--mine", "--json"))["auctions"] == []
    assert "painting" in bob.ok("list", "--state", "open")

    panel = bob.ok("show", english)
    for text in (
        "clock",
        "a grandfather clock",
        "english",
        "minimum increment €10.00",
        "reserve: not met",
        "closes in",
    ):
        assert text in panel, panel
    assert "sealed bids: 0 in" in bob.ok("show", fpsb)
    assert "clock price €5,000.00" in bob.ok("show", dutch)
    assert json.loads(bob.ok("show", vickrey, "--json"))["method"] == "vickrey"

    assert _error_line(bob.run("sell", "--method", "auction", "--item", "x")).startswith(
        "error: invalid_request: --method must be one of"
    )
    assert _error_line(seller.run("sell", "--method", "dutch", "--item", "x")).startswith(
        "error: invalid_rules: "
    )
    assert _error_line(bob.run("show", "424242")).startswith("error: not_found: ")


def test_bid_errors_and_nonces_across_runs(people: dict[str, Cli]) -> None:
    seller, alice, bob = people["seller"], people["alice"], people["bob"]
    auction = _sell(
        seller,
        "--method",
        "english",
        "--item",
        "bike",
        "--start-price",
        "100",
        "--increment",
        "10",
        "--duration",
        "1h",
    )
    first = json.loads(alice.ok("bid", auction, "100", "--json"))
    assert first["leader"] == "alice"
    nonce_file = next(Path(alice.env["AUCTIONHOUSE_CONFIG_DIR"]).glob("keys/*/alice.pem.nonce"))
    n1 = int(nonce_file.read_text())
    low = _error_line(bob.run("bid", auction, "105"))
    assert low.startswith("error: bid_too_low: ") and "€110.00" in low
    assert "you lead" in bob.ok("bid", auction, "120")
    said = alice.ok("bid", auction, "150", "--ws")
    assert "you lead" in said and "price €150.00" in said
    n2 = int(nonce_file.read_text())
    assert n2 > n1  # a second run never reuses the first run's nonce (the house would refuse it)
    assert _error_line(seller.run("bid", auction, "500")).startswith("error: seller_cannot_bid: ")
    assert _error_line(seller.run("cancel", auction)).startswith("error: cannot_cancel: ")
    assert "your bids €100.00, €150.00" in alice.ok("show", auction)


def test_watch_to_the_close(people: dict[str, Cli]) -> None:
    seller, alice, bob = people["seller"], people["alice"], people["bob"]
    auction = _sell(
        seller,
        "--method",
        "vickrey",
        "--item",
        "coin",
        "--start-price",
        "50",
        "--expected-bids",
        "2",
        "--duration",
        "1h",
    )
    watcher = bob.popen("watch", auction, "--json")
    live = bob.popen("watch", auction)
    assert _error_line(bob.run("bid", auction, "40")).startswith("error: bid_too_low: ")
    alice.ok("bid", auction, "300")
    assert "SOLD to alice for €200.00" in bob.ok("bid", auction, "200")  # the second bid closes it

    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    messages = [json.loads(line) for line in out.splitlines()]
    events = [m for m in messages if m["type"] == "event"]
    assert [m["seq"] for m in events] == list(range(1, len(events) + 1))
    closed = events[-1]["event"]
    assert (closed["type"], closed["winner"], closed["price"]) == ("AuctionClosed", "alice", 20000)
    shown, err = live.communicate(timeout=60)
    assert live.returncode == 0, err
    assert "SOLD to alice for €200.00" in shown
    assert "SOLD to alice for €200.00" in bob.ok("watch", auction, "--once")
    assert json.loads(bob.ok("watch", auction, "--once", "--json"))["result"]["price"] == 20000


def test_cancel_and_an_unreadable_key(people: dict[str, Cli]) -> None:
    seller, alice = people["seller"], people["alice"]
    auction = _sell(seller, "--method", "fpsb", "--item", "rug", "--duration", "1h")
    assert _error_line(alice.run("cancel", auction)).startswith("error: forbidden: ")
    assert f"auction {auction} cancelled" in seller.ok(
        "cancel", auction, "--reason", "sold elsewhere"
    )
    assert json.loads(seller.ok("show", auction, "--json"))["result"]["outcome"] == "cancelled"
    assert _error_line(alice.run("bid", auction, "100")).startswith("error: auction_closed: ")

    key = next(Path(alice.env["AUCTIONHOUSE_CONFIG_DIR"]).glob("keys/*/alice.pem"))
    os.chmod(key, 0o644)
    try:
        refused = _error_line(alice.run("bid", auction, "100"))
        assert refused.startswith("error: config_error: ") and "chmod 600" in refused
    finally:
        os.chmod(key, 0o600)


def test_logged_out_and_unreachable(house_server: HouseProcess, tmp_path: Path) -> None:
    nobody = Cli(house_server.url, tmp_path / "cfg")
    assert _error_line(nobody.run("bid", "1", "100")).startswith("error: unauthorized: ")
    gone = Cli("http://127.0.0.1:9", tmp_path / "cfg")
    assert _error_line(gone.run("list")).startswith("error: house_unreachable: ")


def test_impossible_rules_are_refused_naming_the_field(people: dict[str, Cli]) -> None:
    """Issue 9, fault 5: a wrong year or time zone is refused at creation, never shown open."""
    seller = people["seller"]
    seller.env["TZ"] = "America/New_York"
    try:
        times = ["--opens-at", "2020-01-31T09:00", "--closes-at", "2020-01-31T18:00"]
        done = seller.run("sell", "--method", "english", "--item", "lamp", *times)
    finally:
        seller.env.pop("TZ")
    assert _error_line(done).startswith("error: invalid_rules: closes_at is in the past")
    clock = ["--start-price", "100", "--decrement", "1", "--tick", "10s", "--duration", "5s"]
    done = seller.run("sell", "--method", "dutch", "--item", "tulips", *clock)
    assert _error_line(done).startswith("error: invalid_rules: closes_at leaves a window")
    # 0 is "no reserve"
    pen = ["--item", "pen", "--reserve", "0", "--duration", "1h", "--json"]
    view = json.loads(seller.ok("sell", "--method", "english", *pen))
    assert view["rules"]["has_reserve"] is False and view["state"] == "open"
