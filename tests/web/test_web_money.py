"""Money on the page as people coming from other auction sites expect it (issue 17): amounts in
the house's currency, decimals typed and checked exactly, increment tables and "every bid is a
maximum" chosen when selling and shown on the auction."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from web_helpers import House, Pages, english, goto

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_sell_with_an_increment_table_and_bid_in_decimals(house: House, pages: Pages) -> None:
    page = pages.signed_up("mona")
    goto(page, house, "#/sell")
    expect(page.locator("#sell-form")).to_contain_text("Amounts in EUR, for example 12.50.")
    page.check("input[name=method][value=english]")
    page.fill("#item-name", "Brass compass")
    page.fill("#starting-price", "0.50")
    page.fill("#min-increment", "0.01")
    page.fill("#increment-table", "1:0.05, 5:0.25, *:0.50")
    page.select_option("#bids-are-maxima", "true")
    page.fill("#starting-price", "0.505")  # more decimals than EUR has: refused on the page
    page.click("#sell-form button[type=submit]")
    expect(page.locator("#sell-error")).to_contain_text("EUR has 2 decimals")
    page.fill("#starting-price", "0.50")
    page.click("#sell-form button[type=submit]")
    expect(page.locator("#item-name")).to_have_text("Brass compass")
    auction = page.url.rsplit("/", 1)[1]
    rules = house.user("olga").auction(auction)["rules"]
    assert rules["starting_price"] == 50 and rules["bids_are_maxima"] is True
    assert rules["increment_table"] == [
        {"below": 100, "increment": 5},
        {"below": 500, "increment": 25},
        {"below": None, "increment": 50},
    ]
    expect(page.locator("#rules")).to_contain_text(
        "under €1.00: +€0.05, under €5.00: +€0.25, above: +€0.50"
    )
    expect(page.locator("#rules")).to_contain_text("Every bid is a maximum")

    # every bid is a maximum: a bid of 4.00 leads at the starting price, its maximum secret
    bidder = pages.signed_up("nils")
    goto(bidder, house, f"#/auction/{auction}")
    expect(bidder.locator("#price")).to_have_text("€0.50")
    expect(bidder.locator("#bid-is-max")).to_contain_text("Every bid here is a maximum")
    bidder.fill("#bid-amount", "4.005")
    bidder.click("#bid-submit")
    expect(bidder.locator("#bid-error")).to_contain_text("EUR has 2 decimals")
    bidder.fill("#bid-amount", "4")
    bidder.click("#bid-submit")
    expect(bidder.locator("#bid-status")).to_contain_text("you lead")
    expect(bidder.locator("#price")).to_have_text("€0.50")
    house.user("otto").bid(auction, 200)  # 2.00: nils's maximum answers one band step above
    expect(page.locator("#price")).to_have_text("€2.25")
    expect(page.locator("#history li").first).to_contain_text(
        "otto bid €2.00; nils's maximum answered: nils leads at €2.25"
    )
    expect(page.locator("#view")).not_to_contain_text("€4.00")


def test_a_house_message_shows_amounts_in_the_currency(house: House, pages: Pages) -> None:
    auction = english(house.user("pia2"), "Sextant", min_increment=250)
    house.user("rolf").bid(auction, 1000)
    page = pages.signed_up("sven")
    goto(page, house, f"#/auction/{auction}")
    expect(page.locator("#bid-amount")).to_have_value("12.50")
    page.fill("#bid-amount", "11")
    page.click("#bid-submit")
    expect(page.locator("#bid-error")).to_contain_text("the next bid must be at least €12.50")
