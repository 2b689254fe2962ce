"""Attacks on mobile agents, on real houses on loopback: each is refused with its code and
changes nothing, or home flags it (seed 004)."""

from __future__ import annotations

import asyncio
import copy
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mobile_helpers import (
    Site,
    document,
    home_again,
    launch,
    mandate_for,
    refused,
    sites,
    wait_record,
)
from rogue import RogueSite

import http_helpers
from auctionhouse.ledger.mandate import owner_account
from auctionhouse.mobile.courier import Courier
from auctionhouse.mobile.travel import RECEIPT_CONTEXT, statement_holds

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Site]]:
    """home, s1 (one visiting agent at a time), s2."""
    tmp = tmp_path_factory.mktemp("attacks")
    with sites(tmp, None, {"max_agents": 1}, None) as started:
        yield started


def visiting(site: Site) -> int:
    return int(site.info()["visiting"])


def test_a_tampered_mandate_is_refused_and_nothing_changes(
    world: list[Site], tmp_path: Path
) -> None:
    home, s1, _ = world
    mandate, _ = mandate_for(tmp_path, home.url, [])
    forged = copy.deepcopy(mandate)
    forged["site_cap"] = 10_000_000  # a richer agent than its owner signed for
    before = s1.info()
    body = refused(
        http_helpers.post(f"{s1.url}/api/v1/agents", json=document(forged)), 403, "invalid_mandate"
    )
    assert body["refusal"]["site_key"] == before["site_key"]
    assert s1.info()["visiting"] == before["visiting"] == 0
    reputation = http_helpers.get(
        f"{s1.url}/api/v1/accounts/{owner_account(mandate['owner_key'])}/reputation"
    )
    assert reputation.status_code == 404  # no owner account was made


def test_a_replayed_hop_is_refused(world: list[Site], tmp_path: Path) -> None:
    home, _, s2 = world
    mandate, _ = mandate_for(tmp_path, home.url, [])
    doc = document(mandate, hop=3)
    first = http_helpers.post(f"{s2.url}/api/v1/agents", json=doc)
    assert first.status_code == 201 and statement_holds(RECEIPT_CONTEXT, first.json())
    refused(http_helpers.post(f"{s2.url}/api/v1/agents", json=doc), 409, "replayed_hop")
    older = document(mandate, hop=2)
    refused(http_helpers.post(f"{s2.url}/api/v1/agents", json=older), 409, "replayed_hop")


def test_a_replayed_hop_is_refused_after_the_site_restarts(
    world: list[Site], tmp_path: Path
) -> None:
    home = world[0]
    mandate, _ = mandate_for(tmp_path, home.url, [], item="nothing here")
    doc = document(mandate, hop=3)
    with sites(tmp_path, None) as (site,):  # its own site: the shared ones are not restarted
        assert http_helpers.post(f"{site.url}/api/v1/agents", json=doc).status_code == 201
        site.stop()  # the site remembers the hops it took (DB.agents) across a restart
        site.start()
        refused(http_helpers.post(f"{site.url}/api/v1/agents", json=doc), 409, "replayed_hop")
        assert site.info()["visiting"] == 0


def test_an_agent_over_a_sites_quota_is_refused(world: list[Site], tmp_path: Path) -> None:
    home, s1, _ = world
    # The first visitor stays: it waits on a Dutch clock that stays above its value.
    s1.auction("Antique mirror", "dutch", starting_price=30_000, decrement=10, tick_seconds=1)
    staying, _ = mandate_for(tmp_path, home.url, [], item="antique mirror", value=100, return_in=4)
    assert http_helpers.post(f"{s1.url}/api/v1/agents", json=document(staying)).status_code == 201
    assert visiting(s1) == 1
    second, _ = mandate_for(tmp_path, home.url, [], item="antique mirror")
    refused(
        http_helpers.post(f"{s1.url}/api/v1/agents", json=document(second)), 429, "quota_exceeded"
    )
    assert visiting(s1) == 1


@pytest.mark.parametrize("mode", ["edit", "cut"])
def test_a_site_that_edits_or_cuts_the_trip_log_is_flagged_at_home(
    world: list[Site], tmp_path: Path, mode: str
) -> None:
    home, _, s2 = world
    with RogueSite(mode) as rogue:
        mandate, _ = mandate_for(tmp_path, home.url, [s2.url, rogue.url], item="nothing here")
        assert launch(home.url, mandate).status_code == 201
        rec = wait_record(home.url, mandate["agent"], home_again, deadline=20)
    assert rec["log"]["ok"] is False
    trip = http_helpers.get(f"{home.url}/api/v1/agents/{mandate['agent']}/log").json()
    kinds = {p["kind"] for p in trip["problems"]}
    assert kinds == ({"edited"} if mode == "edit" else {"cut"}), trip["problems"]
    if mode == "cut":
        assert any(s2.url in p["message"] for p in trip["problems"]), (s2.url, trip["problems"])


def test_a_site_that_keeps_the_agent_is_reported_overdue(world: list[Site], tmp_path: Path) -> None:
    home, _, s2 = world
    with RogueSite("keep") as rogue:
        mandate, _ = mandate_for(
            tmp_path, home.url, [s2.url, rogue.url], item="nothing here", return_in=2
        )
        assert launch(home.url, mandate).status_code == 201
        rec = wait_record(home.url, mandate["agent"], lambda r: r["status"] == "overdue")
        assert rogue.kept
    assert rec["overdue"]["last_seen_at"] == rogue.url
    assert rec["returned_at"] is None


def test_a_move_answered_late_is_not_taken_for_a_dead_site(tmp_path: Path) -> None:
    """A loaded next site answers after the move timeout: the agent may be there, so the move
    is retried (a replayed hop says it landed) instead of the agent running on here as well."""
    home = Site(tmp_path, "late-home", {"move_timeout": 1}).start()
    try:
        with RogueSite("slow", delay=3) as slow:
            mandate, _ = mandate_for(tmp_path, home.url, [slow.url], item="nothing here")
            assert launch(home.url, mandate).status_code == 201
            rec = wait_record(
                home.url,
                mandate["agent"],
                lambda r: (
                    any(m["what"] in ("handed", "dead") for m in r["progress"])
                    or r["status"] == "home"
                ),
            )
            assert [d["travel"]["hop"] for d in slow.kept] == [1]
    finally:
        home.stop()
    assert (rec["status"], rec["state"], rec["where"]) == ("travelling", "MOVING", slow.url), rec
    handed = [m for m in rec["progress"] if m["what"] == "handed"]
    assert [m["detail"]["to"] for m in handed] == [slow.url]


def rival_bid(site: Site, auction_id: str, amount: int) -> None:
    token = site.seller("rival")
    answer = http_helpers.post(
        f"{site.url}/api/v1/auctions/{auction_id}/bids",
        json={"amount": amount},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 201, answer.text


def test_bids_per_agent_count_over_the_whole_visit(world: list[Site], tmp_path: Path) -> None:
    """A site allowing one bid per agent: the agent loses its first auction there and may not
    bid in a second one at the same site (the quota is the visit's, not the auction's)."""
    home = world[0]
    with sites(tmp_path, {"max_bids": 1}) as (site,):
        first = site.auction("Antique fan", "vickrey", starting_price=1_000, expected_bids=2)
        second = site.auction("Antique fan", "vickrey", starting_price=2_000, expected_bids=1)
        rival_bid(site, first["id"], 40_000)  # the agent will lose the first one
        mandate, _ = mandate_for(tmp_path, home.url, [site.url], item="antique fan", value=5_000)
        assert launch(home.url, mandate).status_code == 201
        rec = wait_record(home.url, mandate["agent"], home_again)
        assert site.view(second["id"])["state"] != "closed"  # it never bid there
    trip = http_helpers.get(f"{home.url}/api/v1/agents/{mandate['agent']}/log").json()
    whats = [(e["what"], e["detail"].get("auction")) for e in trip["entries"]]
    assert ("lost", first["id"]) in whats and ("quota_used", second["id"]) in whats, whats
    assert rec["result"] is None and len(rec["bids"]) == 1


def test_a_visit_ends_when_the_sites_time_per_visit_is_up(
    world: list[Site], tmp_path: Path
) -> None:
    home = world[0]
    with sites(tmp_path, {"visit_seconds": 1}) as (site,):
        # A Dutch clock that stays above the agent's value: only the visit's time ends it.
        site.auction("Antique kettle", "dutch", starting_price=40_000, decrement=10, tick_seconds=1)
        mandate, _ = mandate_for(
            tmp_path, home.url, [site.url], item="antique kettle", value=100, return_in=20
        )
        assert launch(home.url, mandate).status_code == 201
        rec = wait_record(home.url, mandate["agent"], home_again)
    trip = http_helpers.get(f"{home.url}/api/v1/agents/{mandate['agent']}/log").json()
    at = {e["what"]: e["at"] for e in trip["entries"] if e["site"] == site.url}
    assert "left_open" in at and at["left_open"] - at["registered"] < 5.0
    assert rec["returned_at"] < mandate["return_by"] - 5.0  # it did not wait for return-by


# -- the courier: agents to one site go together, each answered on its own ---------------------


def deliver_all(site: str, documents: list[dict[str, Any]]) -> tuple[list[Any], Courier]:
    async def go() -> tuple[list[Any], Courier]:
        async with http_helpers.async_client(timeout=10) as http:
            courier = Courier(http, lambda context, statement: statement, Counter(), lambda: "")
            answers = await asyncio.gather(*(courier.deliver(site, d) for d in documents))
            return list(answers), courier

    return asyncio.run(go())


def test_a_batch_of_agents_is_checked_one_by_one(world: list[Site], tmp_path: Path) -> None:
    home, _, s2 = world
    good, _ = mandate_for(tmp_path, home.url, [], item="nothing here")
    forged, _ = mandate_for(tmp_path, home.url, [], item="nothing here")
    forged["budget"] = 10_000_000
    answers, courier = deliver_all(s2.url, [document(good), document(forged)])
    (status, receipt), (refused_status, refusal) = answers
    assert courier.counts["batches"] == 1  # one request carried both
    assert status == 201 and statement_holds(RECEIPT_CONTEXT, receipt)
    assert receipt["agent"] == good["agent"]
    assert refused_status == 403 and refusal["error"]["code"] == "invalid_mandate"
    assert statement_holds(RECEIPT_CONTEXT, refusal["refusal"])


def test_a_site_without_the_batch_route_gets_agents_one_by_one(
    world: list[Site], tmp_path: Path
) -> None:
    home = world[0]
    mandates = [mandate_for(tmp_path, home.url, [], item="x")[0] for _ in range(3)]
    with RogueSite("keep") as rogue:
        answers, courier = deliver_all(rogue.url, [document(m) for m in mandates])
        assert [status for status, _ in answers] == [201, 201, 201]
        assert rogue.url in courier._single and courier.counts["batches"] == 0
        assert sorted(d["mandate"]["agent"] for d in rogue.kept) == sorted(
            m["agent"] for m in mandates
        )


def test_a_progress_batch_must_be_signed_by_its_site(world: list[Site]) -> None:
    home = world[0]
    batch = {"site": "http://x", "messages": [], "site_key": "ab" * 32, "sig": "cd" * 64}
    answer = http_helpers.post(f"{home.url}/api/v1/agents/progress", json=batch)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_request"


def test_a_document_with_nan_is_refused(world: list[Site], tmp_path: Path) -> None:
    """NaN has no canonical form: no site signed it, no answer could carry it."""
    home, _, s2 = world
    mandate, _ = mandate_for(tmp_path, home.url, [], item="nothing here")
    doc = document(mandate)
    doc["travel"]["log"] = [{"n": 0, "detail": {"price": "NAN"}}]
    body = json.dumps(doc).replace('"NAN"', "NaN")
    answer = http_helpers.post(
        f"{s2.url}/api/v1/agents", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_request"
    assert s2.info()["visiting"] == 0
