"""The page's other pages, one user journey each: sign up, sign in (and this browser's key),
sell with each method, the live and paginated list, "my auctions" and "my bids", the admin view,
the replay of a closed auction; plus what holds everywhere: labels on every control, keyboard
use, no request leaves the house, and the signed bytes are the house's own."""

from __future__ import annotations

import re

import pytest
from nacl.signing import SigningKey
from playwright.sync_api import Page, expect
from web_helpers import (
    ADMIN,
    PASSWORD,
    PHONE,
    House,
    Pages,
    english,
    goto,
    screenshot,
)
from web_helpers import auction as make_auction

from auctionhouse.house.signing import bid_message

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter((el) => el.offsetParent !== null)
  .filter((el) => el.tagName === 'BUTTON'
    ? !el.textContent.trim() && !el.getAttribute('aria-label')
    : !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
  .map((el) => el.outerHTML)"""


def assert_labelled(page: Page) -> None:
    assert page.evaluate(UNLABELLED) == [], "a control without a label"


def assert_fits(page: Page, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page scrolls sideways at {width}px ({scroll}px wide)"


def sign_in(page: Page, name: str) -> None:
    page.fill("#signin-name", name)
    page.fill("#signin-password", PASSWORD)
    page.click("#signin-form button[type=submit]")
    expect(page.get_by_test_id("who")).to_have_text(name)


def test_sign_up_sign_out_and_sign_in_keep_the_browser_key(house: House, pages: Pages) -> None:
    page = pages.signed_up("nora")
    goto(page, house, "#/signin")
    expect(page.locator("#key-heading")).to_have_text("Bidding key")
    registered = page.get_by_test_id("public-key").inner_text()
    stored = page.evaluate("localStorage.getItem('auctionhouse.key.nora')")
    assert re.fullmatch(r"[0-9a-f]{64}", stored)
    assert SigningKey(bytes.fromhex(stored)).verify_key.encode().hex() == registered
    page.click("text=Sign out")
    expect(page.locator("#account")).to_contain_text("Sign in")

    goto(page, house, "#/signin")
    sign_in(page, "nora")
    expect(page.locator("h1")).to_have_text("Auctions")  # the key matched: straight on

    # a second browser has no key for nora: it offers to make one (replacing the old)
    other = pages.open("/#/signin")
    sign_in(other, "nora")
    expect(other.locator("#key-heading")).to_be_visible()
    expect(other.locator("#view")).to_contain_text("not in this browser")
    other.click("text=Make a key in this browser")
    expect(other.locator("#key-status")).to_contain_text("A new key is registered")
    new_key = other.get_by_test_id("public-key").inner_text()
    assert new_key != registered
    screenshot(other, "account-desktop")

    # wrong password: the house's message, in words
    third = pages.open("/#/signin")
    third.fill("#signin-name", "nora")
    third.fill("#signin-password", "not-the-password")
    third.click("#signin-form button[type=submit]")
    expect(third.locator("#signin-error")).not_to_be_empty()
    assert_labelled(third)


def test_sell_an_item_with_each_method(house: House, pages: Pages) -> None:
    page = pages.signed_up("olga")
    goto(page, house, "#/sell")
    assert_labelled(page)
    # only the rules of the chosen method are shown
    expect(page.locator("#min-increment")).to_be_visible()
    expect(page.locator("#decrement")).to_be_hidden()
    page.check("input[name=method][value=dutch]")
    expect(page.locator("#decrement")).to_be_visible()
    expect(page.locator("#min-increment")).to_be_hidden()
    expect(page.locator("#duration")).to_be_hidden()
    expect(page.locator("#method-hint")).to_contain_text("first to accept wins")
    page.check("input[name=method][value=english]")
    screenshot(page, "sell-desktop")
    reader = house.user("otis")

    def sell(method: str, name: str, fields: dict[str, str]) -> str:
        goto(page, house, "#/sell")
        page.check(f"input[name=method][value={method}]")
        page.fill("#item-name", name)
        for selector, value in fields.items():
            page.fill(selector, value)
        page.click("#sell-form button[type=submit]")
        expect(page.locator("#item-name")).to_have_text(name)
        return page.url.rsplit("/", 1)[1]

    eid = sell(
        "english",
        "Rocking horse",
        {
            "#starting-price": "20",
            "#reserve-price": "50",
            "#min-increment": "2.50",
            "#duration": "30",
            "#sc-window": "60",
            "#sc-extension": "30",
            "#sc-cap": "300",
        },
    )
    expect(page.locator("#rules")).to_contain_text(
        "a bid in the last 1 min adds 30 s, at most 5 min"
    )
    expect(page.locator("#reserve")).to_have_text("Reserve not met yet")
    expect(page.locator("#your-part")).to_contain_text("Your reserve: €50.00")
    rules = reader.auction(eid)["rules"]
    assert rules["min_increment"] == 250 and rules["has_reserve"] is True
    assert rules["soft_close"] == {"window": 60, "extension": 30, "cap": 300}
    assert "reserve_price" not in rules

    did = sell(
        "dutch",
        "Cheese wheel",
        {"#starting-price": "90", "#decrement": "5", "#tick-seconds": "10"},
    )
    expect(page.locator("#rules")).to_contain_text("€5.00 every 10 s")
    assert reader.auction(did)["method"] == "dutch"

    fid = sell("fpsb", "Oil painting", {"#expected-bids": "4", "#max-bidders": "6"})
    expect(page.locator("#rules")).to_contain_text("4 bids are in")
    assert reader.auction(fid)["rules"]["expected_bids"] == 4

    vid = sell("vickrey", "Violin", {"#duration": "2", "#opens-in": "1"})
    expect(page.locator("#state")).to_have_text("scheduled")
    expect(page.locator("#countdown-label")).to_have_text("Opens in")
    view = reader.auction(vid)
    assert view["method"] == "vickrey" and view["state"] == "scheduled"

    # a bad rule: the house's message
    goto(page, house, "#/sell")
    page.fill("#item-name", "Nothing")
    page.fill("#min-bidders", "3")
    page.fill("#max-bidders", "2")
    page.click("#sell-form button[type=submit]")
    expect(page.locator("#sell-error")).to_contain_text("max_bidders must be at least min_bidders")

    goto(page, house, "#/mine")
    expect(page.locator(".auction-row")).to_have_count(4)
    screenshot(page, "my-auctions-desktop")


def test_the_list_is_live_filtered_and_paginated(house: House, pages: Pages) -> None:
    seller = house.user("pete")
    for i in range(30):
        make_auction(seller, "fpsb", f"Lot {i:02d}", duration=600)
    total = seller.list_auctions(method="fpsb", limit=1)["total"]
    page = pages.new()
    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(str(frame))))
    page.goto(f"{house.url}/#/auctions?method=fpsb")
    expect(page.locator(".auction-row")).to_have_count(25)
    pages_total = -(-total // 25)
    expect(page.locator("#list-summary")).to_have_text(f"Showing 1–25 of {total}")
    expect(page.locator(".page-of")).to_have_text(f"Page 1 of {pages_total}")
    expect(page.locator(".auction-row .item").first).to_have_text("Lot 29")
    page.click("text=Older →")
    expect(page.locator(".page-of")).to_have_text(f"Page 2 of {pages_total}")
    expect(page.locator(".auction-row")).to_have_count(min(25, total - 25))
    page.click("text=← Newer")
    expect(page.locator(".page-of")).to_have_text(f"Page 1 of {pages_total}")
    # the page follows the rows it shows by id, and new auctions through one "created"
    # subscription kept while paging; never every auction of the house
    assert not any('"*"' in frame for frame in sent)
    assert sum('"subscribe"' in frame and '"created":true' in frame for frame in sent) == 1
    assert_labelled(page)

    # live: a new auction arrives at the top, a bid moves its row
    page.select_option("#filter-method", "english")
    expect(page).to_have_url(re.compile(r"method=english"))
    auction = english(seller, "Grandfather clock")
    rows = page.locator(".auction-row")
    expect(rows.first.locator(".item")).to_have_text("Grandfather clock")
    house.user("quinn").bid(auction, 1300)
    expect(rows.first.locator(".price .value")).to_have_text("€13.00")
    expect(rows.first.locator(".price .label")).to_have_text("Current price")
    page.select_option("#filter-state", "closed")
    expect(page.locator("#list-summary")).to_have_text(re.compile(r"No auctions match|Showing"))
    for row in page.locator(".auction-row").all():
        expect(row.locator(".state")).to_have_text("closed")
    screenshot(page, "list-closed-english-desktop")
    goto(page, house, "#/auctions")
    screenshot(page, "list-desktop")
    phone = pages.open("/#/auctions", viewport=PHONE)
    expect(phone.locator(".auction-row").first).to_be_visible()
    assert_fits(phone, PHONE["width"])
    screenshot(phone, "list-phone")


def test_my_bids_keyboard_bidding_and_the_phone_layout(house: House, pages: Pages) -> None:
    seller = house.user("rosa")
    auction = english(seller, "Carriage clock")
    page = pages.signed_up("ruth", viewport=PHONE)
    goto(page, house, f"#/auction/{auction}")
    expect(page.locator("#bid-amount")).to_have_value("10.00")
    # keyboard only: tab to the amount, type, Enter
    for _ in range(60):
        if page.evaluate("document.activeElement && document.activeElement.id") == "bid-amount":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "bid-amount"
    page.keyboard.press("Control+A")
    page.keyboard.type("11")
    page.keyboard.press("Enter")
    expect(page.locator("#bid-status")).to_contain_text("you lead")
    assert_labelled(page)
    assert_fits(page, PHONE["width"])
    screenshot(page, "auction-english-phone")

    goto(page, house, "#/bids")
    row = page.locator(".auction-row").first
    expect(row.locator(".item")).to_have_text("Carriage clock")
    expect(row.locator(".you")).to_have_text("You lead")
    house.user("saul").bid(auction, 1500)
    expect(row.locator(".you")).to_have_text("Outbid")
    expect(row.locator(".price .value")).to_have_text("€15.00")
    screenshot(page, "my-bids-phone")

    goto(page, house, "#/sell")
    assert_fits(page, PHONE["width"])
    screenshot(page, "sell-phone")


def test_the_admin_view_shows_the_house_metrics(house: House, pages: Pages) -> None:
    seller = house.user("tina")
    auction = english(seller, "Globe")
    bidder = house.user("troy")
    bidder.bid(auction, 1000)
    with pytest.raises(Exception, match=r"bid_too_low|at least"):
        bidder.bid(auction, 1000)  # refused: counted by reason
    page = pages.open("/#/signin")
    sign_in(page, ADMIN)
    expect(page.locator("#nav a[data-route=admin]")).to_be_visible()
    page.click("#nav a[data-route=admin]")
    expect(page.locator("h1")).to_have_text("House status")
    expect(page.locator("#m-open")).to_have_text(re.compile(r"^[1-9]\d*$"))
    expect(page.locator("#m-connections")).to_have_text(re.compile(r"^[1-9]\d*$"))
    expect(page.locator("#m-bids")).to_have_text(re.compile(r"^\d+\.\d$"))
    expect(page.locator("#rejected-rows")).to_contain_text("bid_too_low")
    expect(page.locator("#bids-spark svg")).to_have_count(1)
    screenshot(page, "admin-desktop")
    phone = pages.new(viewport=PHONE)
    phone.goto(f"{house.url}/#/signin")
    sign_in(phone, ADMIN)
    goto(phone, house, "#/admin")
    expect(phone.locator("#rejected-rows")).to_contain_text("bid_too_low")
    assert_fits(phone, PHONE["width"])
    screenshot(phone, "admin-phone")

    # an admin pauses and resumes an auction from its page; a watcher sees the clock stop
    watcher = pages.open(f"/#/auction/{auction}")
    goto(page, house, f"#/auction/{auction}")
    page.click("#pause-auction")
    for p in (page, watcher):
        expect(p.locator("#state")).to_have_text("paused")
        expect(p.locator("#countdown")).to_have_text("clock stopped")
    page.click("#resume-auction")
    expect(watcher.locator("#state")).to_have_text("open")
    expect(watcher.locator("#countdown-label")).to_have_text("Closes in")

    # a user is told the page is for admins
    user = pages.signed_up("tim")
    goto(user, house, "#/admin")
    expect(user.locator("#view")).to_contain_text("This page is for admins.")


def test_a_closed_auction_can_be_replayed_step_by_step(house: House, pages: Pages) -> None:
    seller = house.user("uri")
    auction = english(seller, "Barometer", duration=2)
    for name, amount in (("vic", 1000), ("wes", 1200), ("vic2", 1500)):
        house.user(name).bid(auction, amount)
    page = pages.open(f"/#/auction/{auction}")
    expect(page.locator("#result")).to_have_text("Sold to vic2 for €15.00")
    expect(page.locator("#replay-words")).to_contain_text("The whole auction")
    events = len(house.user("xena").events(auction)["events"])
    page.click("#replay-start")
    words = page.locator("#replay-words")
    expect(words).to_contain_text(f"Step 0 of {events}")
    page.click("#replay-forward")
    expect(words).to_contain_text(f"Step 1 of {events}: uri put the item up for auction")
    page.click("#replay-forward")
    expect(words).to_contain_text("vic bid €10.00: vic leads at €10.00 — price €10.00, 1 bid")
    expect(page.locator("#history li")).to_have_count(1)
    expect(page.locator("#chart .cursor")).to_have_count(1)
    # the slider is keyboard operable
    page.focus("#replay-step")
    page.keyboard.press("ArrowRight")
    expect(words).to_contain_text("wes bid €12.00")
    expect(page.locator("#history li")).to_have_count(2)
    page.click("#replay-play")
    expect(words).to_contain_text("The whole auction")
    expect(page.locator("#history li")).to_have_count(events - 1)
    expect(page.locator("#chart .cursor")).to_have_count(0)
    expect(page.locator("#chart svg")).to_have_attribute(
        "aria-label", re.compile(r"3 price changes, from €10\.00 to €15\.00")
    )
    assert_labelled(page)
    screenshot(page, "auction-replay-desktop")
    phone = pages.open(f"/#/auction/{auction}", viewport=PHONE)
    expect(phone.locator("#result")).to_have_text("Sold to vic2 for €15.00")
    assert_fits(phone, PHONE["width"])
    screenshot(phone, "auction-closed-phone")


def test_the_page_signs_the_houses_canonical_bytes(house: House, pages: Pages) -> None:
    page = pages.open("/")
    cases = [
        ("12", "alice", 1500, 1_763_760_000_123_456, 1763760000, None),
        ("auction-ü", "bob.b", 7, 1, 1763760001, 9000),
    ]
    seed = "11" * 32
    for auction, bidder, amount, nonce, ts, proxy_max in cases:
        expected = bid_message(auction, bidder, amount, nonce, ts, proxy_max).decode()
        got = page.evaluate(
            """async ([auction, bidder, amount, nonce, ts, proxy_max]) => {
                 const keys = await import('/static/js/keys.js');
                 return keys.bidMessage({auction, bidder, amount, nonce, ts, proxy_max});
               }""",
            [auction, bidder, amount, nonce, ts, proxy_max],
        )
        assert got == expected
    signed = page.evaluate(
        """async (seed) => {
             const keys = await import('/static/js/keys.js');
             keys.storeSeed('sig-test', seed);
             const a = keys.signBid('sig-test', '12', 1500, 2000);
             const b = keys.signBid('sig-test', '12', 1600, null);
             return [a, b];
           }""",
        seed,
    )
    verify_key = SigningKey(bytes.fromhex(seed)).verify_key
    for fields, amount, proxy_max in ((signed[0], 1500, 2000), (signed[1], 1600, None)):
        message = bid_message("12", "sig-test", amount, fields["nonce"], fields["ts"], proxy_max)
        verify_key.verify(message, bytes.fromhex(fields["signature"]))
    assert signed[1]["nonce"] > signed[0]["nonce"]  # strictly increasing
    # nothing the page loaded came from anywhere but the house (no CDN)
    assert pages.requests and all(url.startswith(house.url) for url in pages.requests)
