"""The page under its strict Content Security Policy, in headless Chromium: every response
carries the security headers; the page signs up, bids and follows the auction with no CSP
violation; its WebSocket URL never holds the token (the token is the socket's first message);
signing out revokes the token on the house and ends the session in the user's other tabs;
and /docs (Swagger UI) renders with every request outside the house blocked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from web_helpers import House, Pages, english, goto

import http_helpers
from auctionhouse.server.page import PAGE_CSP

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


def violations(page: Page) -> list[str]:
    found: list[str] = page.evaluate("window.__csp")
    return found


def test_every_response_carries_the_security_headers(house: House) -> None:
    with http_helpers.client(base_url=house.url) as http:
        for path in ("/", "/static/js/main.js", "/static/app.css", "/api/v1/time", "/nowhere"):
            headers = http.get(path).headers
            assert headers["content-security-policy"] == PAGE_CSP, path
            assert headers["x-content-type-options"] == "nosniff", path
            assert headers["referrer-policy"] == "no-referrer", path
            assert headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in PAGE_CSP and "script-src 'self';" in PAGE_CSP
        docs = http.get("/docs")
        assert docs.headers["content-security-policy"] == PAGE_CSP
        assert "<script>" not in docs.text  # no inline script: only files from this house


def test_the_page_works_under_its_csp_and_keeps_tokens_out_of_urls(
    house: House, pages: Pages
) -> None:
    seller = house.user("sol")
    auction = english(seller, "Carriage clock")
    sockets: list[Any] = []
    frames: list[str] = []

    def on_socket(ws: Any) -> None:
        sockets.append(ws.url)
        ws.on("framesent", lambda payload: frames.append(str(payload)))

    page = pages.new(init_script=WATCH_CSP)
    page.on("websocket", on_socket)
    page.goto(house.url + "/#/signin")
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    page.fill("#signup-name", "vera")
    page.fill("#signup-password", "web-test-password")
    page.click("#signup-form button[type=submit]")
    expect(page.get_by_test_id("who")).to_have_text("vera")
    goto(page, house, f"#/auction/{auction}")
    page.fill("#bid-amount", "10")
    page.click("#bid-submit")
    expect(page.locator("#bid-status")).to_contain_text("you lead")
    other = house.user("walt")
    other.bid(auction, 1100)
    expect(page.locator("#price")).to_have_text("€11.00")

    assert violations(page) == []
    token = json.loads(page.evaluate("localStorage.getItem('auctionhouse.session')"))["token"]
    assert sockets and all(url.endswith("/api/v1/ws") for url in sockets), sockets
    assert token not in page.url
    auths = [json.loads(f) for f in frames if '"op":"auth"' in f.replace(" ", "")]
    assert auths and auths[-1]["token"] == token  # the socket's first message, not its URL


def test_signing_out_revokes_the_token_everywhere(house: House, pages: Pages) -> None:
    page = pages.signed_up("xena")
    token = json.loads(page.evaluate("localStorage.getItem('auctionhouse.session')"))["token"]
    other_tab = page.context.new_page()
    other_tab.goto(house.url + "/")
    expect(other_tab.get_by_test_id("who")).to_have_text("xena")
    expect(other_tab.locator("#connection")).to_have_attribute("data-state", "live")
    with http_helpers.client(base_url=house.url) as http:
        auth = {"Authorization": f"Bearer {token}"}
        assert http.get("/api/v1/me", headers=auth).status_code == 200
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_test_id("who")).to_have_count(0)
        assert http.get("/api/v1/me", headers=auth).status_code == 401
    # The other tab's socket was closed by the house (4003): that tab is signed out too.
    expect(other_tab.get_by_test_id("who")).to_have_count(0)
    expect(other_tab.locator("#connection")).to_have_attribute("data-state", "live")


def test_api_docs_render_with_no_network(house: House, pages: Pages) -> None:
    outside: list[str] = []
    page = pages.new(init_script=WATCH_CSP)

    def only_the_house(route: Any) -> None:
        if route.request.url.startswith(house.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.context.route("**/*", only_the_house)
    page.goto(house.url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("auctionhouse")
    expect(
        page.locator(".opblock-summary-path", has_text="/api/v1/sessions/current")
    ).to_be_visible()
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    assert outside == []
    assert violations(page) == []
