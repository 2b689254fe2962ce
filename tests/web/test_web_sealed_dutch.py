"""Sealed bids show only their count until close; a Dutch auction is won from the page at the
clock price."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from web_helpers import House, Pages, goto, screenshot
from web_helpers import auction as make_auction

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_a_sealed_auction_shows_only_the_count_until_close(house: House, pages: Pages) -> None:
    seller = house.user("vera")
    auction = make_auction(
        seller, "vickrey", "Signed first edition", starting_price=500, expected_bids=3
    )
    viewer = pages.open(f"/#/auction/{auction}")
    hana = pages.signed_up("hana")
    ivan = pages.signed_up("ivan")
    for page, amount in ((hana, "731"), (ivan, "977")):
        goto(page, house, f"#/auction/{auction}")
        page.fill("#bid-amount", amount)
        page.click("#bid-submit")
        expect(page.locator("#sealed-done")).to_contain_text(
            f"Your sealed bid of €{amount}.00 is in"
        )
        expect(page.locator("#bid-form")).to_have_count(0)  # one bid each: the form is gone

    expect(viewer.locator("#price")).to_have_text("2 bids")
    expect(viewer.locator("#history")).to_contain_text("2 sealed bids so far")
    screenshot(viewer, "auction-sealed-open-desktop")
    for secret in ("731", "977", "hana", "ivan"):
        expect(viewer.locator("#view")).not_to_contain_text(secret)
    expect(hana.locator("#view")).not_to_contain_text("977")

    # the third bid (from the CLI) closes it: amounts and the Vickrey price are public now
    house.cli("jack").run("bid", auction, "850")
    for page in (viewer, hana, ivan):
        expect(page.locator("#result")).to_have_text("Sold to ivan for €850.00")
        expect(page.locator("#price")).to_have_text("€850.00")
    expect(viewer.locator("#history")).to_contain_text("hana bid €731.00 (sealed)")
    expect(viewer.locator("#history")).to_contain_text("ivan bid €977.00 (sealed)")
    expect(ivan.locator("#your-part")).to_contain_text("You won")
    screenshot(viewer, "auction-sealed-closed-desktop")


def test_a_dutch_auction_is_won_from_the_page_at_the_clock_price(
    house: House, pages: Pages
) -> None:
    seller = house.user("walt")
    auction = make_auction(
        seller,
        "dutch",
        "Tulip bulbs",
        starting_price=5000,
        decrement=100,
        tick_seconds=2,
        reserve_price=1000,
    )
    kim = pages.signed_up("kim")
    goto(kim, house, f"#/auction/{auction}")
    expect(kim.locator("#price-label")).to_have_text("Clock price")
    # the clock ticks down on the page
    expect(kim.locator("#price")).to_have_text(re.compile(r"^€[1-4]\d\.00$"))
    expect(kim.locator("#next-step")).to_contain_text("Next step down (€1.00) in")
    screenshot(kim, "auction-dutch-desktop")
    shown = round(float(kim.locator("#price").inner_text().lstrip("€")) * 100)
    kim.click("#bid-accept")
    expect(kim.locator("#bid-status")).to_contain_text("You accepted at")
    expect(kim.locator("#result")).to_contain_text("Sold to kim for")

    view = house.user("lena").auction(auction)
    price = view["result"]["price"]
    assert view["result"]["winner"] == "kim"
    # the price paid is the clock's at the accept: what the page showed, or a step later
    assert price in (shown, shown - 100)
    expect(kim.locator("#result")).to_have_text(f"Sold to kim for €{price / 100:.2f}")
    expect(kim.locator("#price")).to_have_text(f"€{price / 100:.2f}")
    expect(kim.locator("#history")).to_contain_text(f"kim accepted at €{price / 100:.2f}")
