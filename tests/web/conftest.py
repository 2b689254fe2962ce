"""Fixtures of the browser tests: Debian's Chromium (never skipped: missing, it fails loudly),
one house per test module, fresh browser users per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright
from web_helpers import CHROMIUM, CHROMIUM_ARGS, House, Pages


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module-scoped, not session-scoped: Playwright's sync API runs an event loop on the main
    # thread while it is open, which would break asyncio.run() in later tests of the same
    # xdist worker.
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium. Install it with "
            "`apt-get install -y chromium` (it is listed in .ci/apt-packages.txt).",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _house(home: Path) -> Iterator[House]:
    house = House(home)
    house.create_admin()
    house.start()
    try:
        yield house
    finally:
        house.stop()


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory) -> Iterator[House]:
    yield from _house(tmp_path_factory.mktemp("house"))


@pytest.fixture
def own_house(tmp_path: Path) -> Iterator[House]:
    """A house of the test's own (for tests that stop and restart it)."""
    yield from _house(tmp_path)


@pytest.fixture
def pages(browser: Browser, house: House) -> Iterator[Pages]:
    p = Pages(browser, house)
    yield p
    p.close()
    assert not p.errors, f"uncaught errors in the page: {p.errors}"
