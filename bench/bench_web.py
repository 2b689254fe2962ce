"""Benchmark of the web page: how fast the auction list loads, and what its WebSocket
receives, with 1,000 and with 100,000 auctions in the house. Prints one JSON object.

    python bench/bench_web.py [--auctions 1000,100000] [--runs 3]

For each size, a house file is filled with that many open auctions (all four methods, some
English ones with bids), then ``auctionhouse serve`` runs on it on a free loopback port and
headless Chromium (Debian's /usr/bin/chromium) loads ``/#/auctions`` ``--runs`` times, each in
a fresh browser context (cold cache, no storage). Per run:

- ``list_ms``: navigation start to the first page of the list rendered (the page marks
  ``auctionhouse:list-rendered`` in the Performance timeline once the rows are in the DOM);
- ``dom_content_loaded_ms``: the Navigation Timing figure;
- ``live_ms``: navigation start to the rows' subscription being caught up (the house's
  ``subscribed`` answer for the rows arrives after their snapshots), and the WebSocket frames
  and bytes received until then;
- ``new_auction_live_ms``: an auction created through the SDK after the page is live, until
  its row shows at the top of the page (the list still learns of new auctions).

Goals: ``list_ms`` under 1,000; the list page's WS bytes grow with the rows on screen, not
with the auctions in the house: ``ws_bytes_ratio`` (largest house / smallest) within 2.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import WebSocket, sync_playwright

from auctionhouse.client import Client
from auctionhouse.house import AuctionHouse, HouseConfig

# The browser tests' helpers (the same Chromium flags and real-server runner); they import
# tests/serve_process.py, so both directories go on the path (pytest puts them there itself).
TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path[:0] = [str(TESTS / "web"), str(TESTS)]
from web_helpers import CHROMIUM, CHROMIUM_ARGS, House  # noqa: E402

import serve_process  # noqa: E402

serve_process.START_DEADLINE = 600.0  # replaying 100,000 auctions on a loaded machine

PASSWORD = "bench-password"
METHODS = ("english", "dutch", "fpsb", "vickrey")


def fill(db: Path, n: int) -> None:
    """``n`` open auctions (a day long) and a few bids, written in one group commit."""
    config = HouseConfig(
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        max_concurrent_auctions=n + 1,
        account_rate=1e9,
        account_burst=1e9,
    )
    house = AuctionHouse.open(db, config=config)
    try:
        house.create_account("seller", PASSWORD)
        house.create_account("bidder", PASSWORD)
        house.create_account("newcomer", PASSWORD)  # sells the lots created while measuring
        with house.batch():
            for i in range(n):
                method = METHODS[i % 4]
                rules: dict[str, Any] = {"starting_price": 1000, "duration": 86_400}
                if method == "dutch":
                    rules = {"starting_price": 100_000, "decrement": 10, "tick_seconds": 60}
                aid = house.create_auction("seller", f"Lot {i:04d}", method, rules)["id"]
                if method == "english" and i % 8 == 0:
                    house.place_bid("bidder", aid, 1000 + i)
    finally:
        house.close()


def load_once(browser: Any, url: str, seller: Client, run: int) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    frames = {"n": 0, "bytes": 0}
    caught_up: dict[str, Any] = {}

    def on_socket(ws: WebSocket) -> None:
        def on_frame(payload: str | bytes) -> None:
            if "at" in caught_up:
                return
            frames["n"] += 1
            frames["bytes"] += len(payload)
            text = str(payload)
            if '"type":"subscribed"' in text and '"auctions"' in text:
                caught_up["at"] = time.perf_counter()
                caught_up["frames"], caught_up["bytes"] = frames["n"], frames["bytes"]

        ws.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    started = time.perf_counter()
    page.goto(f"{url}/#/auctions")
    page.wait_for_function(
        "() => performance.getEntriesByName('auctionhouse:list-rendered').length > 0",
        timeout=60_000,
    )
    rows = page.locator(".auction-row").count()
    summary = page.locator("#list-summary").inner_text()
    list_ms = page.evaluate(
        "performance.getEntriesByName('auctionhouse:list-rendered')[0].startTime"
    )
    dcl = page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
    page.wait_for_function("() => document.querySelector('#connection').dataset.state === 'live'")
    deadline = time.monotonic() + 60
    while "at" not in caught_up and time.monotonic() < deadline:
        page.wait_for_timeout(20)  # frames are delivered on Playwright's loop
    # A new auction still shows up live at the top of the first page.
    item = f"Fresh lot {run}"
    created = time.perf_counter()
    seller.create_auction(item, "english", {"starting_price": 1000, "duration": 86_400})
    page.locator(".auction-row .item", has_text=item).wait_for(timeout=30_000)
    appeared_ms = (time.perf_counter() - created) * 1000
    context.close()
    return {
        "list_ms": round(list_ms, 1),
        "dom_content_loaded_ms": round(dcl, 1),
        "live_ms": round((caught_up.get("at", float("nan")) - started) * 1000, 1),
        "new_auction_live_ms": round(appeared_ms, 1),
        "rows": rows,
        "summary": summary,
        "ws_frames": caught_up.get("frames", frames["n"]),
        "ws_bytes": caught_up.get("bytes", frames["bytes"]),
    }


def measure(auctions: int, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        house = House(Path(tmp))
        t0 = time.perf_counter()
        fill(house.db, auctions)
        fill_s = time.perf_counter() - t0
        house.start()
        try:
            seller = Client(house.url)
            seller.login("newcomer", PASSWORD)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                load_once(browser, house.url, seller, 0)  # warm the server, not measured
                results = [load_once(browser, house.url, seller, i + 1) for i in range(runs)]
                browser.close()
            seller.close()
        finally:
            house.stop()

    def stat(key: str) -> dict[str, float]:
        values = [r[key] for r in results]
        return {"median": round(statistics.median(values), 1), "max": round(max(values), 1)}

    return {
        "auctions": auctions,
        "rows_per_page": results[0]["rows"],
        "summary": results[0]["summary"],
        "list_ms": stat("list_ms"),
        "dom_content_loaded_ms": stat("dom_content_loaded_ms"),
        "live_ms": stat("live_ms"),
        "new_auction_live_ms": stat("new_auction_live_ms"),
        "ws_frames": results[0]["ws_frames"],
        "ws_bytes": results[0]["ws_bytes"],
        "under_1s": all(r["list_ms"] < 1000 for r in results),
        "fill_seconds": round(fill_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--auctions", default="1000,100000", help="house sizes to compare, comma-separated"
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(n) for n in args.auctions.split(",")]
    by_size = [measure(n, args.runs) for n in sizes]
    ratio = max(r["ws_bytes"] for r in by_size) / max(1, min(r["ws_bytes"] for r in by_size))
    print(
        json.dumps(
            {
                "bench": "web",
                "runs": args.runs,
                "houses": by_size,
                "ws_bytes_ratio": round(ratio, 2),
                "ws_bytes_within_2x": ratio <= 2,
                "under_1s": all(r["under_1s"] for r in by_size),
            },
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    main()
