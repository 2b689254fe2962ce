"""The owner follows their mobile agents on the page (seed 004): a real home house and a real
site on loopback, an agent sent with the owner's key, headless Chromium on "My agents"."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from web_helpers import PASSWORD, House, Pages, screenshot

import http_helpers
from auctionhouse.client import BidKey, Client
from auctionhouse.mobile.owner import build_mandate
from auctionhouse.mobile.travel import new_travel

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[House]:
    """A second house the agents visit."""
    other = House(tmp_path_factory.mktemp("site"))
    other.start()
    try:
        yield other
    finally:
        other.stop()


def sign_in(page: Page, name: str) -> None:
    page.fill("#signin-name", name)
    page.fill("#signin-password", PASSWORD)
    page.click("#signin-form button[type=submit]")
    expect(page.get_by_test_id("who")).to_have_text(name)


def send_agent(home: House, key_file: Path, schedule: list[str], item: str) -> str:
    data = {
        "home": home.url,
        "key_file": str(key_file),
        "item": item,
        "site_cap": 20_000,
        "budget": 30_000,
        "return_in": 30,
        "schedule": schedule,
    }
    mandate, _ = build_mandate(data, now=time.time())
    document = {"mandate": mandate, "travel": new_travel(tuple(schedule))}
    answer = http_helpers.post(f"{home.url}/api/v1/agents", json=document)
    assert answer.status_code == 201, answer.text
    return str(mandate["agent"])


def test_the_owner_follows_an_agent_live_to_a_verified_trip_log(
    pages: Pages, house: House, site: House, tmp_path: Path
) -> None:
    seller = site.user("vera")
    auction = seller.create_auction(
        "Antique vase", "vickrey", {"starting_price": 2_000, "expected_bids": 1}
    )
    key = BidKey.generate(tmp_path / "owner.pem")
    Client(house.url, key=key).create_account("olga", PASSWORD, public_key=key.public_key)
    BidKey.generate(tmp_path / "other.pem")  # someone else's agent, not to be shown to olga

    page = pages.open("/#/agents")
    expect(page.locator("h1")).to_have_text("My agents")
    expect(page.locator("a[href^='#/signin']").last).to_be_visible()  # signed out: no list
    page.goto(f"{house.url}/#/signin")
    sign_in(page, "olga")
    page.goto(f"{house.url}/#/agents")
    expect(page.get_by_test_id("agents-summary")).to_have_text(
        "No agents sent from this house with your key yet."
    )

    # Sent while the page is open: it appears and comes home without a reload.
    agent = send_agent(house, tmp_path / "owner.pem", [site.url], "antique vase")
    send_agent(house, tmp_path / "other.pem", [], "antique vase")
    row = page.locator(f"tr[data-agent='{agent}']")
    expect(row).to_have_attribute("data-status", "home", timeout=30_000)
    expect(page.locator("#agents tr")).to_have_count(1)
    expect(row.locator(".result")).to_have_text(f"Won auction {auction['id']} for €20.00")
    expect(row.locator(".log")).to_contain_text("verifies")
    expect(row.locator(".bids")).to_have_text("1")
    screenshot(page, "agents-list")

    row.locator("a").click()
    expect(page.locator("[data-fact=status]")).to_have_text("Home")
    expect(page.locator("[data-fact=where]")).to_have_text(house.url)
    expect(page.locator("#agent-bids tr")).to_have_count(1)
    expect(page.locator("#agent-bids tr td").first).to_have_text(site.url)
    expect(page.locator("#log-verdict")).to_have_attribute("data-ok", "true")
    expect(page.locator("#agent-log tr[data-check=ok]").first).to_be_visible()
    assert (
        page.locator("#agent-log tr").count()
        == page.locator("#agent-log tr[data-check=ok]").count()
    )
    expect(page.locator("#agent-progress tr").filter(has_text="handed").first).to_be_visible()
    screenshot(page, "agent-trip-log")
