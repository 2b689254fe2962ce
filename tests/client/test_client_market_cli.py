"""``auctionhouse market ...`` as a user runs it (subprocesses, ``--house``) on a real house."""

from __future__ import annotations

import json

import pytest

from .conftest import Cli, HouseProcess

pytestmark = pytest.mark.e2e
PASSWORD = "a long enough password\n"


@pytest.fixture(scope="module")
def traders(house_server: HouseProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Cli]:
    out = {}
    for name in ("mcli-ann", "mcli-bob"):
        cli = Cli(house_server.url, tmp_path_factory.mktemp(f"cfg-{name}"))
        cli.ok("account", "create", name, "--password-stdin", input=PASSWORD)
        out[name] = cli
    return out


def _error_line(done: object) -> str:
    stderr = done.stderr.strip()  # type: ignore[attr-defined]
    assert done.returncode == 2, done  # type: ignore[attr-defined]
    assert len(stderr.splitlines()) == 1 and "Traceback" not in stderr
    return stderr


def test_market_create_order_cancel_book_watch_close(traders: dict[str, Cli]) -> None:
    ann, bob = traders["mcli-ann"], traders["mcli-bob"]
    view = json.loads(ann.ok("market", "create", "apples", "--max-price", "50.00", "--json"))
    mid = view["id"]
    assert view["state"] == "open" and view["max_price"] == 5000
    watcher = bob.popen("market", "watch", mid, "--json", "--count", "4")
    assert watcher.stdout is not None
    first = json.loads(watcher.stdout.readline())  # the snapshot: subscribed
    assert first["type"] == "market" and first["market"] == mid
    said = ann.ok("market", "order", mid, "sell", "1.20", "5")
    assert "order 1 accepted" in said and "resting: 5" in said
    said = bob.ok("market", "order", mid, "buy", "1.25", "2")
    # one line each (the lines were once joined and escaped into one: "...\x0a  traded ...")
    assert "  traded 2 at €1.20 (mcli-bob <- mcli-ann)" in said.splitlines()
    assert said.splitlines()[-1] == "  resting: 0"
    book = ann.ok("market", "book", mid)
    assert f"{'€1.20':>12} {3:>10} {1:>7}  ask" in book.splitlines()
    assert "  #1 2 at €1.20" in book.splitlines() and "\\x0a" not in book
    assert _error_line(bob.run("market", "cancel", mid, "1")).startswith("error: not_your_order: ")
    assert _error_line(bob.run("market", "order", mid, "buy", "0", "1")).startswith(
        "error: invalid_order: "
    )
    assert _error_line(bob.run("market", "order", mid, "buy", "50.01", "1")).startswith(
        "error: invalid_order: "
    )
    # a price with more decimals than the house's currency is refused before anything is sent
    assert _error_line(bob.run("market", "order", mid, "buy", "1.205", "1")).startswith(
        "error: invalid_amount: "
    )
    assert "order 1 cancelled (3 units)" in ann.ok("market", "cancel", mid, "1")
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    events = [json.loads(line)["event"]["type"] for line in out.splitlines()]
    assert events == ["OrderPlaced", "OrderPlaced", "Trade", "OrderCancelled"]
    trades = json.loads(ann.ok("market", "trades", mid, "--json"))
    assert [(t["price"], t["quantity"]) for t in trades] == [(120, 2)]
    assert f"market {mid} closed" in ann.ok("market", "close", mid)
    assert _error_line(bob.run("market", "order", mid, "buy", "0.01", "1")).startswith(
        "error: market_closed: "
    )
    listed = ann.ok("market", "list", "--state", "closed")
    assert mid in listed and "apples" in listed


def test_market_traders_run_registered_strategies_live(traders: dict[str, Cli]) -> None:
    ann = traders["mcli-ann"]
    mid = json.loads(ann.ok("market", "create", "pears", "--max-price", "2.00", "--json"))["id"]
    out = ann.ok(
        "market",
        "traders",
        mid,
        "--trader",
        "zic:buy:1.50:1:2",
        "--trader",
        "gvwy:sell:0.50:1:2",
        "--for",
        "4s",
        "--period",
        "0.1",
        "--prefix",
        "cli-t",
        "--password-stdin",
        "--json",
        input=PASSWORD,
    )
    report = json.loads(out)
    assert report["max_surplus"] == 200 and report["trades"] >= 1
    assert [t["name"] for t in report["traders"]] == [
        "cli-t-1-zic-buy",
        "cli-t-2-zic-buy",
        "cli-t-3-gvwy-sell",
        "cli-t-4-gvwy-sell",
    ]
    assert report["surplus"] == sum(t["profit"] for t in report["traders"]) > 0
    # a limit with more decimals than the currency has is refused before any trader starts
    said = ann.run("market", "traders", mid, "--trader", "zic:buy:1.505", input=PASSWORD)
    assert _error_line(said).startswith("error: invalid_amount: ")
