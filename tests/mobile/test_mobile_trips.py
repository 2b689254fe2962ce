"""Mobile agents on real houses on loopback (seed 004): trips, discovery, winning, return-by."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mobile_helpers import (
    Site,
    dead_url,
    home_again,
    launch,
    mandate_for,
    sites,
    start_all,
    wait_record,
)

import http_helpers
from auctionhouse.auction import BidPlaced
from auctionhouse.client.keys import BidKey
from auctionhouse.ledger.audit import audit_database
from auctionhouse.ledger.encoding import decode_event
from auctionhouse.ledger.mandate import mandate_digest, owner_account
from auctionhouse.ledger.sqlite import SQLiteStore
from auctionhouse.mobile.travel import RECEIPT_CONTEXT, statement_holds
from serve_process import clean_env

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Site]]:
    """home, s1, s2 (refuses every visitor), s3, s4."""
    tmp = tmp_path_factory.mktemp("mobile")
    with sites(tmp, None, None, {"accept": "none"}, None, None) as started:
        yield started


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auctionhouse", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean_env(),
        timeout=60,
    )


def summary(trip: dict[str, Any]) -> str:
    """The trip log in one line per entry (for assertion messages)."""
    return "\n".join(
        f"{e['n']} {e['at']:.2f} {e['site']} {e['state']} {e['what']} {e['detail']}"
        for e in trip["entries"]
    )


def mandated_bids(db: Path) -> list[BidPlaced]:
    store = SQLiteStore(db, readonly=True)
    try:
        events = [decode_event(r.body) for r in store.all_records()]
    finally:
        store.close()
    return [e for e in events if isinstance(e, BidPlaced) and e.mandate is not None]


def test_a_five_site_trip_skips_a_dead_and_a_refusing_site_wins_and_comes_home(
    world: list[Site], tmp_path: Path
) -> None:
    home, s1, s2, s3, s4 = world
    dead = dead_url()
    # Sealed auctions that close at their first bid: the result does not hang on timing.
    cheap = s3.auction("Antique vase", "vickrey", starting_price=2_000, expected_bids=1)
    s4.auction("Antique vase", "vickrey", starting_price=9_000, expected_bids=1)
    doc = tmp_path / "vase.toml"
    schedule = json.dumps([s1.url, dead, s2.url, s3.url, s4.url])
    doc.write_text(
        f'home = "{home.url}"\nkey_file = "owner.pem"\ncreate_key = true\n'
        f'item = "antique vase"\nsite_cap = 20000\nbudget = 30000\nreturn_in = 30\n'
        f'schedule = {schedule}\n[strategy]\nname = "truthful"\n'
    )
    sent = cli("agent", "send", str(doc), "--json", cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    answer = json.loads(sent.stdout)
    agent = answer["agent"]
    assert statement_holds(RECEIPT_CONTEXT, answer["receipt"])
    secret = BidKey.load(tmp_path / "owner.pem").signing_key.encode().hex()

    rec = wait_record(home.url, agent, home_again, deadline=30)

    trip = http_helpers.get(f"{home.url}/api/v1/agents/{agent}/log").json()
    assert rec["result"] is not None, summary(trip)
    assert rec["result"]["outcome"] == "won"
    assert (rec["result"]["site"], rec["result"]["auction"]) == (s3.url, cheap["id"])
    assert rec["result"]["price"] == 2_000
    assert rec["log"]["ok"] is True
    assert trip["problems"] == []
    assert secret not in json.dumps(trip) and secret not in json.dumps(rec)  # no secret travels
    statuses = {e["site"]: e["status"] for e in trip["travel"]["schedule"]}
    assert statuses == {
        s1.url: "visited",
        dead: "dead",
        s2.url: "refused",
        s3.url: "visited",
        s4.url: "visited",
    }
    refused = [e for e in trip["entries"] if e["what"] == "refused"]
    refusal = refused[0]["detail"]["answer"]
    assert refusal["error"]["code"] == "agent_refused"
    assert statement_holds(RECEIPT_CONTEXT, refusal["refusal"])
    states = [e["state"] for e in trip["entries"]]
    for state in ("STARTING", "MOVING", "OBSERVING", "COOPERATING", "DECIDING", "REGISTERING"):
        assert state in states
    assert states[-1] == "COMPLETING"
    # The owner follows it from the command line.
    status = cli("agent", "status", agent, "--home", home.url, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "won" in status.stdout and "verifies" in status.stdout
    table = cli("agent", "log", agent, "--home", home.url, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "the trip log verifies" in table.stdout
    # The winning site's ledger holds the agent's bids with the mandate, and the audit agrees.
    report = audit_database(s3.db)
    assert report.ok, report.findings
    bids = mandated_bids(s3.db)
    mandate = trip["entries"][0]  # (the mandate itself is in the ledger's first agent bid)
    assert bids and bids[0].mandate_doc is not None and mandate["site"] == home.url
    filed = json.loads(bids[0].mandate_doc)
    assert mandate_digest(filed) == bids[0].mandate
    assert {b.bidder for b in bids} == {owner_account(filed["owner_key"])}


def test_a_partial_schedule_discovers_the_rest(tmp_path: Path) -> None:
    home, a, b, c = (Site(tmp_path, name) for name in ("home", "a", "b", "c"))
    a.policy["peers"] = [b.url]
    b.policy["peers"] = [c.url]
    try:
        start_all(home, a, b, c)
        c.auction("Antique chair", "fpsb", starting_price=1_000, expected_bids=1)
        mandate, _ = mandate_for(tmp_path, home.url, [a.url], item="antique chair")
        assert launch(home.url, mandate).status_code == 201
        rec = wait_record(home.url, mandate["agent"], home_again, deadline=30)
        trip = http_helpers.get(f"{home.url}/api/v1/agents/{mandate['agent']}/log").json()
    finally:
        for site in (home, a, b, c):
            site.stop()
    assert trip["problems"] == []
    schedule = {e["site"]: e["status"] for e in trip["travel"]["schedule"]}
    assert schedule == {a.url: "visited", b.url: "visited", c.url: "visited"}
    added = [e["detail"]["added"] for e in trip["entries"] if e["what"] == "cooperated"]
    assert [b.url] in added and [c.url] in added
    assert rec["result"]["outcome"] == "won" and rec["result"]["site"] == c.url


def test_an_agent_that_wins_stops_and_goes_home(world: list[Site], tmp_path: Path) -> None:
    home, s1, _, _, s4 = world
    bargain = s1.auction("Antique clock", "vickrey", starting_price=500, expected_bids=1)
    s4.auction("Antique clock", "vickrey", starting_price=100, expected_bids=1)
    mandate, _ = mandate_for(
        tmp_path, home.url, [s1.url, s4.url], item="antique clock", bargain_price=1_000
    )
    assert launch(home.url, mandate).status_code == 201
    rec = wait_record(home.url, mandate["agent"], home_again, deadline=20)
    assert rec["result"]["outcome"] == "won"
    assert rec["result"]["auction"] == bargain["id"] and rec["result"]["site"] == s1.url
    trip = http_helpers.get(f"{home.url}/api/v1/agents/{mandate['agent']}/log").json()
    statuses = {e["site"]: e["status"] for e in trip["travel"]["schedule"]}
    assert statuses[s4.url] == "todo"  # it never went on after winning
    assert trip["entries"][-1]["detail"]["why"] == "won"
    assert s4.url not in {e["site"] for e in trip["entries"]}


def test_return_by_is_honoured(world: list[Site], tmp_path: Path) -> None:
    home, s1, *_ = world
    # A Dutch clock that will not reach the agent's value before its return-by.
    s1.auction("Antique lamp", "dutch", starting_price=40_000, decrement=100, tick_seconds=1)
    mandate, _ = mandate_for(
        tmp_path, home.url, [s1.url], item="antique lamp", value=1_000, return_in=3
    )
    assert launch(home.url, mandate).status_code == 201
    rec = wait_record(home.url, mandate["agent"], home_again, deadline=15)
    assert rec["result"] is None
    trip = http_helpers.get(f"{home.url}/api/v1/agents/{mandate['agent']}/log").json()
    whats = [e["what"] for e in trip["entries"]]
    assert "registered" in whats and "left_open" in whats
    last = trip["entries"][-1]
    assert last["detail"]["why"] == "return-by"
    # The site sent it home at its return-by (its event loop may be late on a loaded machine).
    assert mandate["return_by"] <= last["at"] <= mandate["return_by"] + 2.0
    assert trip["problems"] == []


def test_the_owner_follows_the_agent_from_the_command_line(
    world: list[Site], tmp_path: Path
) -> None:
    home, s1, *_ = world
    lamp = s1.auction("Antique stool", "dutch", starting_price=40_000, decrement=10, tick_seconds=1)
    mandate, _ = mandate_for(tmp_path, home.url, [s1.url], item="antique stool", value=1_000)
    assert launch(home.url, mandate).status_code == 201
    command = ["agent", "status", mandate["agent"], "--home", home.url, "--follow"]
    follow = subprocess.Popen(
        [sys.executable, "-m", "auctionhouse", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        assert follow.stdout is not None
        lines = []
        for line in follow.stdout:  # ends if the follower exits; pytest's timeout bounds it
            lines.append(line)
            if f"travelling: BIDDING at {s1.url}" in line:
                break
        assert lines and "BIDDING" in lines[-1], (lines, follow.stderr and follow.stderr.read())
        # Someone else takes the Dutch clock: the agent lost, nothing is left, it goes home.
        token = s1.seller("rival")
        price = s1.view(lamp["id"])["price"]
        taken = http_helpers.post(
            f"{s1.url}/api/v1/auctions/{lamp['id']}/bids",
            json={"amount": price},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert taken.status_code == 201, taken.text
        rest, _ = follow.communicate(timeout=60)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.communicate()
    assert follow.returncode == 0
    assert "home: HOME at" in rest and "trip log" in rest and "verifies" in rest
