"""Agent documents: the examples load; every bad field is named; ``agent run`` runs a seller
and bidders, and traders in a market, from their documents against a real house over the
network."""

from __future__ import annotations

import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from auctionhouse.agents.document import load_document
from auctionhouse.commands.demo import HouseServer, demo_house_config
from auctionhouse.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

BIDDER = """
owner = "Test"
house = "http://127.0.0.1:8000"
role = "bidder"
budget = 50000
[account]
name = "tester"
password = "tester-password"
[strategy]
name = "truthful"
[[items]]
name = "*"
value = 12000
"""


def write(tmp_path: Path, text: str, name: str = "agent.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_every_example_document_loads() -> None:
    examples = sorted((ROOT / "examples" / "agents").glob("*.toml"))
    assert len(examples) >= 5
    roles = {load_document(path).role for path in examples}
    assert roles == {"bidder", "seller", "trader"}
    erin = load_document(ROOT / "examples" / "agents" / "erin-evolved.toml")
    assert erin.bidder_strategy().limit  # the embedded evolved chromosome is usable


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (('role = "bidder"', 'role = "buyer"'), "role"),
        (("budget = 50000", "budget = 500.50"), "budget"),
        (("budget = 50000", "budget = -3"), "budget"),
        (("budget = 50000\n", ""), "budget: is missing"),
        (('owner = "Test"', 'owner = "Test"\ncolour = "red"'), "colour: unknown field"),
        (('name = "truthful"', 'name = "greedy"'), "strategy.name"),
        (('name = "truthful"', 'name = "smart"\nparams = { low = "x" }'), "strategy.params.low"),
        (('name = "truthful"', 'name = "smart"\nparams = { pace = 1 }'), "strategy.params.pace"),
        (
            ('name = "truthful"', 'name = "fuzzy-genetic"\nparams = { file = "missing.json" }'),
            "strategy.params.file",
        ),
        (("value = 12000", "value = 0"), "items[0].value"),
        (("value = 12000", 'value = 12000\nmethods = ["auction"]'), "items[0].methods"),
        (
            ('password = "tester-password"', 'password_env = "NO_SUCH_VARIABLE_X"'),
            "account.password_env",
        ),
        (
            ('password = "tester-password"', 'password = "p"\npassword_env = "X"'),
            "account.password",
        ),
        (('house = "http://127.0.0.1:8000"', 'house = "ftp://x"'), "house"),
        (("[account]", "[acount]"), "account"),
        (("budget = 50000", 'budget = "500.505"'), "budget: 500.505 has more decimals than EUR"),
        (("budget = 50000", 'budget = "1,500"'), "budget: must be an amount like 10"),
        (("budget = 50000", 'budget = "500.5"\ncurrency = "JPY"'), "more decimals than JPY"),
        (("budget = 50000", 'budget = "5"\ncurrency = "EURO"'), "currency"),
    ],
)
def test_a_bad_document_names_the_field(
    tmp_path: Path, change: tuple[str, str], field: str
) -> None:
    old, new = change
    assert old in BIDDER
    path = write(tmp_path, BIDDER.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_document(path)
    assert str(path) in info.value.message
    assert field in info.value.message, info.value.message


def test_seller_documents_are_checked_too(tmp_path: Path) -> None:
    seller = """
        house = "http://127.0.0.1:8000"
        role = "seller"
        [account]
        name = "shop"
        password = "shop-password"
        [strategy]
        name = "fixed"
        [[items]]
        name = "Lamp"
        method = "english"
        value = 10000
        rules = { duration = 10, colour = 3 }
    """
    with pytest.raises(ConfigError, match=r"items\[0\]\.rules: unknown rule"):
        load_document(write(tmp_path, seller))
    with pytest.raises(ConfigError, match=r"items\[0\]\.method"):
        load_document(write(tmp_path, seller.replace('"english"', '"silent"')))
    with pytest.raises(ConfigError, match=r"budget: is a bidder's field"):
        load_document(
            write(
                tmp_path,
                seller.replace('role = "seller"', 'role = "seller"\nbudget = 5').replace(
                    ", colour = 3", ""
                ),
            )
        )


def test_agent_check_and_run_refuse_bad_documents_in_one_line(tmp_path: Path) -> None:
    bad = write(tmp_path, "role = 'bidder'\nhouse = [1")
    for verb in ("check", "run"):
        proc = subprocess.run(
            [sys.executable, "-m", "auctionhouse", "agent", verb, str(bad)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2
        assert proc.stderr.startswith("error: config_error: ") and "not valid TOML" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


@pytest.mark.e2e
def test_agent_run_trades_from_documents_over_the_network(tmp_path: Path) -> None:
    seller = write(
        tmp_path,
        """
        house = "http://127.0.0.1:1"
        role = "seller"
        [account]
        name = "shop"
        password = "shop-password"
        create = true
        [strategy]
        name = "fixed"
        params = { starting = 0.5 }
        [[items]]
        name = "Lamp"
        method = "english"
        value = 10000
        rules = { duration = 3, min_increment = 100 }
        [[items]]
        name = "Book"
        method = "vickrey"
        value = 10000
        rules = { duration = 3 }
        """,
        "seller.toml",
    )
    bidders = []
    for name, strategy, value in (("ann", "truthful", 12000), ("ben", "market-value", 9000)):
        text = BIDDER.replace('name = "tester"', f'name = "{name}"').replace("truthful", strategy)
        text = text.replace("value = 12000", f"value = {value}").replace(
            'password = "tester-password"',
            f'password = "{name}-password"\nkey_file = "{name}.pem"\ncreate = true',
        )
        bidders.append(write(tmp_path, text, f"{name}.toml"))
    with HouseServer(
        tmp_path / "house.db", demo_house_config(bid_verification_required=True)
    ) as server:
        run = [sys.executable, "-m", "auctionhouse", "agent", "run", "--house", server.url]
        procs = [
            subprocess.Popen(
                [*run, str(b), "--for", "8"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for b in bidders
        ]
        shop = subprocess.run([*run, str(seller)], capture_output=True, text=True, timeout=60)
        outs = [p.communicate(timeout=60) for p in procs]
    assert shop.returncode == 0, shop.stderr
    assert "Lamp listed (english, from €50.00)" in shop.stdout
    assert (
        "(Lamp): sold to ann for" in shop.stdout and "(Book): sold to ann for €90.00" in shop.stdout
    )
    lamp_price = shop.stdout.split("(Lamp): sold to ann for ")[1].split()[0]
    assert float(lamp_price.lstrip("€").replace(",", "")) <= 91.00  # ben's 90.00 + one increment
    ann_out, ann_err = outs[0]
    assert procs[0].returncode == 0, ann_err
    assert "ann won Lamp" in ann_out and "ann won Book" in ann_out
    assert "2 won" in ann_out.splitlines()[-1]
    for name in ("ann", "ben"):  # keys were created, readable by their owner only
        mode = stat.S_IMODE((tmp_path / f"{name}.pem").stat().st_mode)
        assert mode == 0o600


def test_amounts_in_a_document_are_decimals_of_its_currency(tmp_path: Path) -> None:
    text = BIDDER.replace("budget = 50000", 'budget = "500.50"').replace(
        "value = 12000", 'value = "120"'
    )
    doc = load_document(write(tmp_path, text))
    assert (doc.budget, doc.wants[0].value) == (50050, 12000)
    yen = load_document(write(tmp_path, text.replace('"500.50"', '"5000"\ncurrency = "JPY"')))
    assert yen.budget == 5000
    assert load_document(write(tmp_path, BIDDER)).budget == 50000  # whole numbers: minor units


def test_example_accounts_are_not_the_walkthroughs_names() -> None:
    """Someone who followed docs/cli.md (or docs/peers.md) and then runs an example agent on
    the same house must not collide with an account the walkthrough made."""
    import re

    taken = set()
    for doc in ("cli.md", "peers.md", "agents.md"):
        text = (ROOT / "docs" / doc).read_text()
        taken |= set(re.findall(r"(?:account create|login) ([a-z][a-z0-9_.-]*)", text))
    assert {"sam", "alice"} <= taken
    examples = sorted((ROOT / "examples" / "agents").glob("*.toml"))
    names = {load_document(path).account for path in examples}
    assert not names & taken, names & taken


@pytest.mark.e2e
def test_agent_run_with_a_wrong_password_says_so_in_one_line(tmp_path: Path) -> None:
    good = BIDDER.replace(
        'password = "tester-password"', 'password = "tester-password"\ncreate = true'
    )
    wrong = good.replace('password = "tester-password"', 'password = "not-the-password"')
    with HouseServer(tmp_path / "house.db", demo_house_config()) as server:
        run = [sys.executable, "-m", "auctionhouse", "agent", "run", "--house", server.url]
        first = subprocess.run(
            [*run, str(write(tmp_path, good, "good.toml")), "--for", "1"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert first.returncode == 0, first.stderr
        for text, says in (
            (wrong, "its password is not the one in the agent document"),
            (wrong.replace("create = true", "create = false"), "wrong name or password"),
        ):
            proc = subprocess.run(
                [*run, str(write(tmp_path, text, "wrong.toml")), "--for", "1"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert proc.returncode == 2
            assert proc.stderr.startswith("error: unauthorized: the agent tester: ")
            assert says in proc.stderr
            assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_strategies_read_as_plain_words() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "auctionhouse", "agent", "strategies"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    for markup in ("``", ":meth:", ":class:", "Seed 00", "THESIS-MODEL", "\\x0a", "belief:"):
        assert markup not in proc.stdout, markup
    assert "Stays under its value and bids only the minimum." in proc.stdout
    assert "factor (0.85)" in proc.stdout


TRADER = """
house = "http://127.0.0.1:8000"
role = "trader"
market = "m1"
side = "buy"
limit = "1.50"
units = 2
[account]
name = "trader"
password = "trader-password"
key_file = "trader.pem"
[strategy]
name = "zip"
params = { beta = 0.3 }
"""


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (('market = "m1"\n', ""), "market: is missing"),
        (('side = "buy"', 'side = "bid"'), "side: must be"),
        (('limit = "1.50"', 'limit = "1.505"'), "limit"),
        (('limit = "1.50"', "limit = 0"), "limit: must be a positive amount"),
        (("units = 2", "units = 0"), "units: must be a whole number"),
        (('key_file = "trader.pem"\n', ""), "account.key_file: is missing"),
        (('name = "zip"', 'name = "zap"'), "strategy.name"),
        (("beta = 0.3", "beta = 3"), "strategy.params.beta"),
        (("units = 2", "units = 2\nbudget = 5"), "budget: is not a trader's field"),
    ],
)
def test_a_bad_trader_document_names_the_field(
    tmp_path: Path, change: tuple[str, str], field: str
) -> None:
    old, new = change
    assert old in TRADER
    path = write(tmp_path, TRADER.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_document(path)
    assert str(path) in info.value.message and field in info.value.message, info.value.message


def test_a_trader_document_reads_as_a_trader(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, TRADER))
    assert (doc.role, doc.market, doc.side, doc.limit, doc.units) == ("trader", "m1", "buy", 150, 2)
    brain = doc.trader(max_price=10_000)
    assert (brain.side, brain.limit, brain.units_left) == ("buy", 150, 2)
    with pytest.raises(ConfigError, match="market: is a trader's field"):
        load_document(write(tmp_path, BIDDER.replace("budget", 'market = "m1"\nbudget')))


@pytest.mark.e2e
def test_agent_run_trades_in_a_market_from_trader_documents(tmp_path: Path) -> None:
    from auctionhouse.client import Client
    from auctionhouse.client.keys import BidKey
    from auctionhouse.ledger import audit_database

    docs = []
    for name, strategy, side, limit in (
        ("tb", "zic", "buy", "1.50"),
        ("ts", "gvwy", "sell", "0.80"),
    ):
        text = TRADER.replace('name = "trader"', f'name = "{name}"').replace(
            'name = "zip"\nparams = { beta = 0.3 }', f'name = "{strategy}"'
        )
        text = text.replace('side = "buy"', f'side = "{side}"').replace('"1.50"', f'"{limit}"')
        text = text.replace("trader.pem", f"{name}.pem").replace(
            'password = "trader-password"', f'password = "{name}-password"\ncreate = true'
        )
        text = text.replace("units = 2", "units = 2\npoll = 0.1")
        docs.append(write(tmp_path, text, f"{name}.toml"))
    with HouseServer(tmp_path / "house.db", demo_house_config()) as server:
        owner = Client(server.url, key=BidKey.generate())
        owner.create_account("market-owner", "owner-password")
        owner.login("market-owner", "owner-password")
        market = owner.create_market("copper", max_price=1000, duration=30)["id"]
        assert market == "m1"
        run = [sys.executable, "-m", "auctionhouse", "agent", "run", "--house", server.url]
        procs = [
            subprocess.Popen(
                [*run, str(d), "--for", "20"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for d in docs
        ]
        outs = [p.communicate(timeout=90) for p in procs]
        trades = owner.trades(market, 0, 100)["trades"]
        owner.close()
    for proc, (_, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err
    buyer_out, seller_out = outs[0][0], outs[1][0]
    assert "tb (zic) buys 2 in market m1" in buyer_out
    assert "traded 2 of 2 units in m1" in buyer_out.splitlines()[-1]
    assert "traded 2 of 2 units in m1" in seller_out.splitlines()[-1]
    assert [(t["buyer"], t["seller"]) for t in trades] == [("tb", "ts"), ("tb", "ts")]
    assert all(80 <= t["price"] <= 150 for t in trades)  # within both limits
    assert buyer_out.count(" bought 1 at ") == 2 and seller_out.count(" sold 1 at ") == 2
    assert audit_database(tmp_path / "house.db").ok
