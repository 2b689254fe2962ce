"""The seller side of seed 004 on real houses: seller agents (``auctionhouse agent run``, one
with a fixed strategy, one with a strategy evolved by the simulator) list items in all four
methods at two sites, and a visiting mobile agent finds every one of them and buys one.

The auctions close within 20 s, before the agent's return-by (30 s): an auction the agent
could not see through is not an option for it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mobile_helpers import home_again, launch, mandate_for, sites, wait_record

import http_helpers
from auctionhouse.commands.demo import evolved_strategies
from auctionhouse.ledger.mandate import owner_account
from serve_process import clean_env

pytestmark = pytest.mark.e2e

GALLERY = """\
owner = "The Gallery"
house = "{url}"
role = "seller"
[account]
name = "gallery"
password = "gallery-test-password"
create = true
[strategy]
name = "fixed"
params = {{ starting = 0.5, dutch_start = 1.5 }}
[[items]]
name = "Antique clock"
method = "english"
value = 20000
rules = {{ duration = 20, min_increment = 200 }}
[[items]]
name = "Antique rug"
method = "dutch"
value = 30000
rules = {{ decrement = 500, tick_seconds = 1 }}
"""

ESTATE = """\
owner = "The Estate"
house = "{url}"
role = "seller"
[account]
name = "estate"
password = "estate-test-password"
create = true
[strategy]
name = "fuzzy-genetic"
params = {{ file = "estate-seller.json" }}
[[items]]
name = "Antique painting"
method = "fpsb"
value = 8000
rules = {{ duration = 20, expected_bids = 1 }}
[[items]]
name = "Antique stamp"
method = "vickrey"
value = 6000
rules = {{ duration = 20, expected_bids = 1 }}
"""


def listed(url: str, count: int, deadline: float = 60.0) -> list[dict[str, object]]:
    """The site's open auctions, once the seller agent has listed ``count`` (bounded wait)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        items = http_helpers.get(f"{url}/api/v1/auctions", params={"state": "open"}).json()[
            "auctions"
        ]
        if len(items) >= count:
            return list(items)
        time.sleep(0.05)  # polling a remote list, bounded by the deadline above
    raise AssertionError(f"the seller agent at {url} did not list {count} auctions")


def test_seller_agents_list_all_four_methods_and_a_visiting_agent_buys(tmp_path: Path) -> None:
    _, evolved_seller = evolved_strategies(seed=4)
    (tmp_path / "estate-seller.json").write_text(json.dumps(evolved_seller))
    with sites(tmp_path, None, None, None) as (home, a, b):
        sellers = []
        try:
            for site, text, name in ((a, GALLERY, "gallery"), (b, ESTATE, "estate")):
                doc = tmp_path / f"{name}.toml"
                doc.write_text(text.format(url=site.url))
                sellers.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "auctionhouse", "agent", "run", str(doc)],
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        text=True,
                        env=clean_env(),
                        cwd=tmp_path,
                    )
                )
            at_a, at_b = listed(a.url, 2), listed(b.url, 2)
            assert {v["method"] for v in at_a + at_b} == {"english", "dutch", "fpsb", "vickrey"}
            assert {v["seller"] for v in at_a} == {"gallery"}
            assert {v["seller"] for v in at_b} == {"estate"}

            mandate, _ = mandate_for(tmp_path, home.url, [a.url, b.url], item="antique*")
            assert launch(home.url, mandate).status_code == 201
            rec = wait_record(home.url, mandate["agent"], home_again, deadline=60)
            trip = http_helpers.get(f"{home.url}/api/v1/agents/{mandate['agent']}/log").json()
            result = rec["result"]
            assert result and result["site"] == b.url, trip["entries"]
            sold = b.view(result["auction"])
        finally:
            for proc in sellers:
                proc.terminate()
            for proc in sellers:
                proc.communicate(timeout=30)

    assert trip["problems"] == []
    found = [e["detail"] for e in trip["entries"] if e["what"] == "observed"]
    methods = {option[1] for detail in found for option in detail["acceptable"]}
    assert methods == {"english", "dutch", "fpsb", "vickrey"}, found
    # It chose the cheapest (the estate's sealed stamp or painting) and bought it there.
    assert result["outcome"] == "won"
    assert sold["seller"] == "estate" and sold["method"] in ("fpsb", "vickrey")
    assert sold["result"]["winner"] == owner_account(mandate["owner_key"])
    assert sold["result"]["price"] == result["price"]
    won = [e for e in trip["entries"] if e["what"] == "won"]
    assert won and won[0]["site"] == b.url and won[0]["detail"]["price"] == result["price"]
    assert rec["bids"] and {bid["site"] for bid in rec["bids"]} == {b.url}
