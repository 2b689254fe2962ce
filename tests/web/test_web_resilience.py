"""The page keeps up when things go wrong: a dropped WebSocket reconnects and catches up (a
dropped socket, and a restarted server); the countdown stays right on a browser whose clock
is ten minutes off, and bids from it are still stamped with house time."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect
from web_helpers import House, Pages, english, goto, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# Shift the browser's clock (Date.now and new Date()) by SHIFT milliseconds.
SHIFT_CLOCK = """
(() => {
  const shift = %d;
  const RealDate = Date;
  class ShiftedDate extends RealDate {
    constructor(...args) { if (args.length === 0) super(RealDate.now() + shift); else super(...args); }
    static now() { return RealDate.now() + shift; }
  }
  globalThis.Date = ShiftedDate;
})();
"""


def test_a_dropped_socket_reconnects_and_catches_up(house: House, pages: Pages) -> None:
    seller = house.user("otto")
    auction = english(seller, "Ship in a bottle")
    page = pages.open(f"/#/auction/{auction}")
    expect(page.locator("#price-label")).to_have_text("Starting price")

    page.evaluate("window.auctionhouse.live.drop({hold: true})")
    status = page.locator("#connection")
    expect(status).to_have_attribute("data-state", "closed")
    expect(status).to_have_text("Offline")
    house.user("pia").bid(auction, 1100)
    house.user("quin").bid(auction, 1300)
    expect(page.locator("#price-label")).to_have_text("Starting price")  # nothing arrived

    page.evaluate("window.auctionhouse.live.start()")
    expect(status).to_have_attribute("data-state", "live")
    expect(page.locator("#price")).to_have_text("€13.00")
    expect(page.locator("#history li")).to_have_count(2)
    expect(page.locator("#leader")).to_contain_text("quin")


def test_a_restarted_server_is_reconnected_and_caught_up(own_house: House, browser: object) -> None:
    pages = Pages(browser, own_house)  # type: ignore[arg-type]
    try:
        seller = own_house.user("rita")
        auction = english(seller, "Music box")
        page = pages.open(f"/#/auction/{auction}")
        lister = pages.open("/#/auctions")
        expect(lister.locator(".auction-row")).to_have_count(1)
        bidder = own_house.user("stan")
        bidder.bid(auction, 1000)
        expect(page.locator("#price")).to_have_text("€10.00")

        own_house.stop()
        for p in (page, lister):
            expect(p.locator("#connection")).to_have_attribute("data-state", "reconnecting")
            expect(p.locator("#connection")).to_have_text("Reconnecting…")
        screenshot(page, "auction-reconnecting-desktop")
        own_house.start()
        own_house.user("tess").bid(auction, 1400)  # a rival: a leader's own bid moves no price
        for p in (page, lister):
            expect(p.locator("#connection")).to_have_attribute("data-state", "live")
        expect(page.locator("#price")).to_have_text("€14.00")
        expect(page.locator("#history li")).to_have_count(2)
        expect(lister.locator(".auction-row .price .value")).to_have_text("€14.00")
        assert not pages.errors, pages.errors
    finally:
        pages.close()


def test_the_countdown_uses_house_time_when_the_browser_clock_is_wrong(
    house: House, pages: Pages
) -> None:
    seller = house.user("tess")
    auction = english(seller, "Pocket watch", duration=300)
    late = pages.new(init_script=SHIFT_CLOCK % (-600_000))
    early = pages.new(init_script=SHIFT_CLOCK % 600_000)
    for page, shift in ((late, -600), (early, 600)):
        page.goto(f"{house.url}/#/auction/{auction}")
        skew = page.evaluate("Date.now()") / 1000 - time.time()
        assert abs(skew - shift) < 30, "the browser's clock is not shifted"
        # 5 minutes left by the house: not 15:00 (late clock) nor closing (early clock)
        expect(page.locator("#countdown")).to_have_text(re.compile(r"^4:[2-5]\d$"))
        expect(page.locator("#countdown-label")).to_have_text("Closes in")

    # a bid from the late browser is stamped with house time: not refused as stale
    from web_helpers import sign_up

    goto(late, house, "#/signin")
    sign_up(late, "uma")
    goto(late, house, f"#/auction/{auction}")
    late.fill("#bid-amount", "1000")
    late.click("#bid-submit")
    expect(late.locator("#bid-status")).to_contain_text("you lead")
    expect(late.locator("#countdown")).to_have_text(re.compile(r"^4:[0-5]\d$"))


def test_an_expired_session_signs_out_and_stays_live(house: House, pages: Pages) -> None:
    page = pages.open("/")
    page.evaluate(
        """localStorage.setItem('auctionhouse.session', JSON.stringify(
             {token: 'not-a-token', account: {id: 'zed', name: 'zed', role: 'user'}}))"""
    )
    page.reload()
    expect(page.locator("#account")).to_contain_text("Sign in")
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    assert page.evaluate("localStorage.getItem('auctionhouse.session')") is None
