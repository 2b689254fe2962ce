"""Mobile agents on a shared house: two real ``auctionhouse serve`` instances on one PostgreSQL
database are one site. A hop one instance took is refused as a replay by the other, and the
site's ``max_agents`` counts the visitors of both (it was kept per instance: a document replayed
to the other instance was taken in again, and N instances hosted N x max_agents). Home's records
of the agents it launched are the house's too: an agent launched through one instance is known,
followed and taken back once through any other."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mobile_helpers import (
    Site,
    dead_url,
    document,
    home_again,
    launch,
    mandate_for,
    record,
    refused,
    start_all,
    wait_record,
)

import http_helpers
import pg_cluster

pytestmark = pytest.mark.e2e
TIMEOUT = 30.0  # seconds an HTTP call may take on a loaded machine


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, Site]]:
    """Two instances for the module's tests (each test its own agents; the quota test, which
    leaves a visitor staying, runs last)."""
    tmp_path = tmp_path_factory.mktemp("shared-site")
    url = pg_cluster.new_database()
    key = tmp_path / "house.key"
    # the first instance founds the house (its tables, its key); the second joins it
    a = Site(tmp_path, "a", {"max_agents": 1}, database_url=url, key_file=key)
    b = Site(tmp_path, "b", {"max_agents": 1}, database_url=url, key_file=key)
    for site in (a, b):  # one house, one public URL (what a proxy in front of both serves)
        site.policy["site_url"] = a.url
    try:
        start_all(a)
        start_all(b)
        yield a, b
    finally:
        a.stop()
        b.stop()


def visiting(site: Site) -> int:
    return int(
        http_helpers.get(f"{site.url}/api/v1/agents/site", timeout=TIMEOUT).json()["visiting"]
    )


def until_empty(site: Site, deadline: float = 30.0) -> None:
    """Wait (bounded) until no agent visits the house: an earlier test's agent is on its way
    home (a dead home is tried for a few seconds), holding its place meanwhile."""
    end = time.monotonic() + deadline
    while visiting(site):
        assert time.monotonic() < end, "an earlier visitor never left"
        time.sleep(0.05)


def post(site: Site, doc: dict[str, Any]) -> httpx.Response:
    return http_helpers.post(f"{site.url}/api/v1/agents", json=doc, timeout=TIMEOUT)


def test_a_hop_taken_by_one_instance_is_a_replay_on_the_other(
    pair: tuple[Site, Site], tmp_path: Path
) -> None:
    a, b = pair
    mandate, _ = mandate_for(tmp_path, dead_url(), [], item="nothing here")
    doc = document(mandate, hop=3)
    assert post(a, doc).status_code == 201
    refused(post(b, doc), 409, "replayed_hop")
    refused(post(b, document(mandate, hop=2)), 409, "replayed_hop")


def test_home_records_are_the_houses_on_every_instance(
    pair: tuple[Site, Site], tmp_path: Path
) -> None:
    a, b = pair
    until_empty(a)
    mandate, _ = mandate_for(tmp_path, a.url, [], item="nothing here")
    agent = mandate["agent"]
    assert launch(a.url, mandate).status_code == 201  # nothing to do: it comes home at once
    wait_record(a.url, agent, home_again)
    assert record(b.url, agent)["status"] == "home"  # the other instance knows it
    # launched once and home once, whichever instance is asked
    relaunch = launch(b.url, mandate)
    assert relaunch.status_code in (400, 409), relaunch.text
    back = document(mandate, hop=7)
    back["travel"]["state"] = "HOME"
    refused(post(b, back), 409, "conflict")  # home already (not "not launched from here")


def test_max_agents_counts_the_visitors_of_every_instance(
    pair: tuple[Site, Site], tmp_path: Path
) -> None:
    a, b = pair
    until_empty(a)
    # The first visitor stays on a: it waits on a Dutch clock that stays above its value.
    a.auction("Antique mirror", "dutch", starting_price=30_000, decrement=10, tick_seconds=1)
    staying, _ = mandate_for(tmp_path, dead_url(), [], item="antique mirror", value=100)
    assert post(a, document(staying)).status_code == 201
    assert visiting(a) == visiting(b) == 1
    second, _ = mandate_for(tmp_path, dead_url(), [], item="antique mirror")
    refused(post(b, document(second)), 429, "quota_exceeded")
    refused(post(a, document(second)), 429, "quota_exceeded")
    # the staying agent sent again (a later hop) to the other instance: it is there already
    refused(post(b, document(staying, hop=2)), 409, "conflict")
