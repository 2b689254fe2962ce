"""Selling with a photo and finding the item by search on the page; the list follows only the
rows it shows; a closed auction shows its result and no bid card; a loading auction says so."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Route, expect
from web_helpers import House, Pages, english, goto, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def photo_file(tmp_path: Path) -> Path:
    path = tmp_path / "kettle.jpg"
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (180, 90, 20)).save(out, "JPEG")
    path.write_bytes(out.getvalue())
    return path


def test_sell_with_a_photo_and_find_it_by_search(
    house: House, pages: Pages, tmp_path: Path
) -> None:
    page = pages.signed_up("petra")
    goto(page, house, "#/sell")
    page.fill("#item-name", "Copper kettle")
    page.fill("#item-description", "Hand-hammered, from a Quimperlé farmhouse")
    page.set_input_files("#item-photos", str(photo_file(tmp_path)))
    page.click("#sell-form button[type=submit]")
    expect(page.locator("#item-name")).to_have_text("Copper kettle")
    photo = page.locator("#photos img").first
    expect(photo).to_be_visible()
    # A lazy image is visible before its bytes arrive: wait (bounded) for it to have loaded.
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth === 640", arg=photo.element_handle()
    )
    seller = house.user("ruth")
    brass = english(seller, "Brass kettle")  # matches "kettle", not "farmhouse"
    english(seller, "Teapot")

    sent: list[str] = []
    lister = pages.new()
    lister.on("websocket", lambda ws: ws.on("framesent", lambda f: sent.append(str(f))))
    lister.goto(f"{house.url}/#/auctions")
    expect(lister.locator("#connection")).to_have_attribute("data-state", "live")
    lister.fill("#filter-q", "quimperle farm")  # accents and case do not matter; prefixes do
    lister.click("#search-button")
    expect(lister).to_have_url(re.compile(r"q=quimperle"))
    rows = lister.locator(".auction-row")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".item")).to_have_text("Copper kettle")
    thumb = rows.first.locator("img.thumb")
    expect(thumb).to_have_attribute(
        "src", re.compile(r"/api/v1/photos/[0-9a-f]{64}\?thumbnail=true")
    )
    lister.wait_for_function(
        "(img) => img.complete && img.naturalWidth === 400", arg=thumb.element_handle()
    )
    expect(lister.locator("#list-summary")).to_have_text("Showing 1–1 of 1")

    lister.fill("#filter-q", "kettle")
    lister.press("#filter-q", "Enter")
    expect(rows).to_have_count(2)
    lister.select_option("#filter-sort", "price_high")
    expect(lister).to_have_url(re.compile(r"sort=price_high"))
    expect(rows).to_have_count(2)
    screenshot(lister, "list-search")

    # live: a new auction matching the search shows up (sorted newest first), one that does
    # not match stays away
    lister.select_option("#filter-sort", "newest")
    expect(rows).to_have_count(2)
    english(seller, "Enamel kettle")
    english(seller, "Garden chair")
    expect(rows.first.locator(".item")).to_have_text("Enamel kettle")
    expect(rows).to_have_count(3)
    expect(lister.locator("#list-summary")).to_have_text("Showing 1–3 of 3")
    # the rows shown before the new one are still followed live
    house.user("vera").bid(brass, 1000)
    older = lister.locator(f'.auction-row[data-id="{brass}"] .price .label')
    expect(older).to_have_text("Current price")
    assert not any('"*"' in frame for frame in sent), "the list subscribed to every auction"


def test_a_closed_auction_shows_its_result_and_no_bid_card(house: House, pages: Pages) -> None:
    seller = house.user("sven")
    auction = english(seller, "Short sale", duration=1.5)
    house.user("tina").bid(auction, 1000)
    page = pages.open(f"/#/auction/{auction}")
    expect(page.locator("#state")).to_have_text(re.compile("closed", re.I), timeout=15_000)
    expect(page.locator("#result")).to_contain_text("tina")
    expect(page.locator("#bid-heading")).to_be_hidden()
    page.reload()
    expect(page.locator("#result")).to_contain_text("tina")
    expect(page.locator("#bid-heading")).to_be_hidden()
    expect(page.locator("#auction-loading")).to_have_count(0)


def test_the_auction_page_says_it_is_loading(house: House, pages: Pages) -> None:
    auction = english(house.user("uma"), "Slow lamp")
    held: list[Route] = []
    page = pages.new()
    page.route(f"**/api/v1/auctions/{auction}", lambda route: held.append(route))
    page.goto(f"{house.url}/#/auction/{auction}")
    expect(page.locator("#auction-loading")).to_have_text("Loading the auction…")
    for _ in range(200):  # the request is routed on Playwright's loop: bounded wait for it
        if held:
            break
        page.wait_for_timeout(25)
    assert held, "the auction request was not held"
    held[0].continue_()
    expect(page.locator("#item-name")).to_have_text("Slow lamp")
    expect(page.locator("#auction-loading")).to_have_count(0)
