"""The market page in headless Chromium: the book, the last trades and the price chart move live
as SDK traders trade; a browser user signs an order in the page and it trades."""

from __future__ import annotations

from playwright.sync_api import expect
from web_helpers import House, Pages, screenshot


def test_the_market_page_shows_book_trades_and_chart_live_and_signs_orders(
    house: House, pages: Pages
) -> None:
    maker, taker = house.user("wm-maker"), house.user("wm-taker")
    try:
        mid = maker.create_market("Copper (kg)")["id"]
        maker.order(mid, "sell", 120, 5)
        maker.order(mid, "buy", 100, 4)
        page = pages.signed_up("wm-browser")
        page.goto(f"{house.url}/#/markets")
        page.get_by_role("link", name="Copper (kg)").click()
        expect(page.locator("h1")).to_have_text("Copper (kg)")
        asks, bids = page.get_by_test_id("asks"), page.get_by_test_id("bids")
        expect(asks.locator("tr")).to_have_count(1)
        expect(asks.locator("tr").first).to_contain_text("€1.20")
        expect(bids.locator("tr").first).to_contain_text("€1.00")
        expect(page.get_by_test_id("market-chart")).to_contain_text("No trades yet")
        # live: an SDK trader takes 2 at 120; the book, the trades and the chart follow
        taker.order(mid, "buy", 125, 2)
        trades = page.get_by_test_id("trades")
        expect(trades.locator("li")).to_have_count(1)
        expect(trades.locator("li").first).to_contain_text("2 at €1.20")
        expect(asks.locator("tr").first).to_contain_text("3")
        taker.order(mid, "sell", 90, 1)  # hits the bid at 100 (the resting price)
        expect(trades.locator("li")).to_have_count(2)
        expect(trades.locator("li").first).to_contain_text("1 at €1.00")
        expect(page.locator("[data-testid=market-chart] path.line")).to_have_attribute(
            "data-points", "2"
        )
        # the browser signs an order with its own key; it trades against the rest of the ask
        page.select_option("#order-side", "buy")
        page.fill("#order-price", "1.30")
        page.fill("#order-quantity", "3")
        page.click("[data-testid=order-form] button[type=submit]")
        expect(page.locator(".status")).to_contain_text("3 traded, 0 resting")
        expect(trades.locator("li").first).to_contain_text("3 at €1.20")
        expect(asks.locator("tr")).to_have_count(0)
        trades_seen = maker.trades(mid)["trades"]
        assert trades_seen[-1]["buyer"] == "wm-browser" and trades_seen[-1]["price"] == 120
        # more decimals than the currency has, or a quantity that is not whole: said in words
        page.fill("#order-price", "1.305")
        page.click("[data-testid=order-form] button[type=submit]")
        expect(page.locator(".status")).to_contain_text("EUR has 2 decimals")
        page.fill("#order-price", "1.30")
        page.fill("#order-quantity", "1.5")
        page.click("[data-testid=order-form] button[type=submit]")
        expect(page.locator(".status")).to_contain_text("whole number of units")
        page.fill("#order-quantity", "3")
        assert len(maker.trades(mid)["trades"]) == 3
        # a refused order shows the house's code and changes nothing
        page.fill("#order-price", "0")
        page.click("[data-testid=order-form] button[type=submit]")
        expect(page.locator(".status")).to_contain_text("invalid_order: price must be from 1")
        assert len(maker.trades(mid)["trades"]) == 3
        screenshot(page, "market")
        maker.close_market(mid)
        expect(page.get_by_test_id("market-facts")).to_contain_text("closed")
        expect(page.get_by_test_id("order-form")).to_be_hidden()
    finally:
        maker.close()
        taker.close()
