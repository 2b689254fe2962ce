"""An English auction in the browser: two page users and one CLI bidder see each other's bids
live; a bid under the increment shows the house's own message; a late bid's soft-close
extension appears as it happens; the page and the CLI show the same numbers."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect
from web_helpers import House, Pages, english, goto, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def bid_on_page(page: Page, amount: int, proxy_max: int | None = None) -> None:
    """Type ``amount`` (minor units) as a person does: ``1000`` cents is ``10.00``."""
    page.fill("#bid-amount", f"{amount / 100:.2f}")
    if proxy_max is not None:
        page.fill("#bid-max", f"{proxy_max / 100:.2f}")
    page.click("#bid-submit")


def test_two_browsers_and_a_cli_bidder_see_each_others_bids_live(
    house: House, pages: Pages
) -> None:
    seller = house.user("sam")
    auction = english(seller, "Brass telescope")
    bob = pages.signed_up("bob")
    carol = pages.signed_up("carol")
    for page in (bob, carol):
        goto(page, house, f"#/auction/{auction}")
        expect(page.locator("#item-name")).to_have_text("Brass telescope")
        expect(page.locator("#price-label")).to_have_text("Starting price")
    box_before = bob.locator(".live-panel").bounding_box()

    bid_on_page(bob, 1000)
    expect(bob.locator("#bid-status")).to_contain_text("you lead")
    expect(carol.locator("#price")).to_have_text("€10.00")
    expect(carol.locator("#leader")).to_contain_text("bob")

    bid_on_page(carol, 1200)
    expect(bob.locator("#price")).to_have_text("€12.00")
    expect(bob.locator("#leader")).to_contain_text("carol")
    expect(bob.locator("#your-part")).to_contain_text("outbid")

    dave = house.cli("dave")
    out = dave.run("bid", auction, "15")
    assert "bid accepted" in out
    for page in (bob, carol):
        expect(page.locator("#price")).to_have_text("€15.00")
        expect(page.locator("#leader")).to_contain_text("dave")
        history = page.locator("#history li")
        expect(history).to_have_count(3)
        expect(history.first).to_contain_text("dave bid €15.00")
    # the price panel kept its size while the numbers changed (reserved space)
    box_after = bob.locator(".live-panel").bounding_box()
    assert box_before is not None and box_after is not None
    assert box_after["height"] == box_before["height"]

    # the CLI shows the same auction with the same numbers and state
    shown = dave.run("show", auction)
    assert "price €15.00" in shown and "leader dave" in shown and "open" in shown
    expect(bob.locator("#state")).to_have_text("open")
    expect(bob.locator("#bid-amount-hint")).to_have_text("At least €16.00")
    assert "next bid at least €16.00" in shown
    # ... and the CLI bidder sees the page users' bids
    assert "bob bid €10.00" in shown and "carol bid €12.00" in shown

    # every bid the page made was signed with the page's own key (the auction demands it)
    for e in house.user("auditor").events(auction)["events"]:
        if e["type"] == "BidPlaced":
            assert e["bidder"] in {"bob", "carol", "dave"}
    screenshot(bob, "auction-english-desktop")


def test_a_bid_below_the_increment_shows_the_house_message(house: House, pages: Pages) -> None:
    seller = house.user("sara")
    auction = english(seller, "Map of the coast", min_increment=250)
    erin = pages.signed_up("erin")
    goto(erin, house, f"#/auction/{auction}")
    house.user("frank").bid(auction, 1000)
    expect(erin.locator("#price")).to_have_text("€10.00")

    bid_on_page(erin, 1100)
    error = erin.locator("#bid-error")
    expect(error).to_contain_text("Bid too low")
    expect(error).to_contain_text("the next bid must be at least €12.50")
    expect(erin.locator("#price")).to_have_text("€10.00")

    # a proxy maximum: the house bids the least needed, and the maximum stays secret
    bid_on_page(erin, 1250, proxy_max=3000)
    expect(erin.locator("#bid-status")).to_contain_text("secret maximum of €30.00")
    expect(erin.locator("#your-part")).to_contain_text("Your secret maximum: €30.00")
    watcher = pages.open(f"/#/auction/{auction}")
    expect(watcher.locator("#price")).to_have_text("€12.50")
    expect(watcher.locator("body")).not_to_contain_text("€30.00")


def test_a_late_bid_extends_the_close_as_it_happens(house: House, pages: Pages) -> None:
    seller = house.user("sue")
    # every bid is "late": the window covers the whole auction
    auction = english(
        seller,
        "Clockwork bird",
        duration=120,
        soft_close={"window": 600, "extension": 60, "cap": 600},
    )
    watcher = pages.open(f"/#/auction/{auction}")
    expect(watcher.locator("#countdown")).to_have_text(re.compile(r"^[12]:\d\d$"))
    house.user("gil").bid(auction, 1000)
    expect(watcher.locator("#extended")).to_contain_text(
        "Soft close: a late bid extended the close"
    )
    # two minutes became three: more than 2:00 left now
    expect(watcher.locator("#countdown")).to_have_text(re.compile(r"^2:(0[1-9]|[1-5]\d)$"))
    expect(watcher.locator("#history")).to_contain_text("Soft close: the close moved")
    closes = house.user("hal").auction(auction)["closes_at"]
    expect(watcher.locator("#rules")).to_contain_text(
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(closes))
    )
