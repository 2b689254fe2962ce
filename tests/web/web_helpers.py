"""Helpers for the browser tests: a real ``auctionhouse serve`` on a free loopback port, the
SDK and the CLI as other users, Debian's headless Chromium through Playwright, screenshots."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, expect

from auctionhouse.client import BidKey, Client
from serve_process import ServeProcess, clean_env

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "web-test-password"
ADMIN = "root"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
HOUSE_ENV = {"AUCTIONHOUSE_GRACEFUL_SECONDS": "1"}
# Playwright's expect: bounded waits, generous for two shared cores.
expect.set_options(timeout=10_000)


class House(ServeProcess):
    """``auctionhouse serve`` over an SQLite file in ``home`` (tests/serve_process.py), with its
    admin, SDK users and CLI users."""

    def __init__(self, home: Path) -> None:
        super().__init__(home / "house.db", home / "serve.log", HOUSE_ENV)
        self.home = home
        self._cli_homes = 0

    def create_admin(self) -> None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "auctionhouse",
                "admin",
                "create",
                ADMIN,
                "--db",
                str(self.db),
                "--password-stdin",
            ],
            input=PASSWORD + "\n",
            text=True,
            env=self.env,
            check=True,
            capture_output=True,
        )

    # ------------------------------------------------------------------ other users

    def user(self, name: str, *, register_key: bool = True) -> Client:
        """An account made through the SDK (with a registered key), logged in."""
        key = BidKey.generate()
        client = Client(self.url, key=key)
        client.create_account(name, PASSWORD, public_key=key.public_key if register_key else None)
        client.login(name, PASSWORD)
        return client

    def admin(self) -> Client:
        client = Client(self.url)
        client.login(ADMIN, PASSWORD)
        return client

    def cli(self, name: str) -> Cli:
        """A CLI user with its own config dir: the account (and its bid key) is created by
        ``auctionhouse account create``."""
        self._cli_homes += 1
        cli = Cli(self.url, self.home / f"cli-{self._cli_homes}")
        cli.run("account", "create", name, "--password-stdin", input=PASSWORD + "\n")
        return cli


class Cli:
    """Runs ``auctionhouse ...`` against one house as one user."""

    def __init__(self, url: str, config_dir: Path) -> None:
        self.url = url
        self.env = clean_env(HOUSE_ENV | {"AUCTIONHOUSE_CONFIG_DIR": str(config_dir)})

    def run(self, *args: str, input: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "auctionhouse", *args, "--house", self.url],
            input=input,
            text=True,
            env=self.env,
            capture_output=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise AssertionError(f"auctionhouse {' '.join(args)} failed: {done.stderr}")
        return done.stdout


# --------------------------------------------------------------------------- browser


class Pages:
    """Browser users: each page gets its own context (its own storage, so its own key)."""

    def __init__(self, browser: Browser, house: House) -> None:
        self.browser = browser
        self.house = house
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []
        self.requests: list[str] = []

    def new(self, viewport: dict[str, int] | None = None, init_script: str | None = None) -> Page:
        context = self.browser.new_context(viewport=viewport or DESKTOP)  # type: ignore[arg-type]
        if init_script:
            context.add_init_script(init_script)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"{exc}"))
        page.on("request", lambda request: self.requests.append(request.url))
        return page

    def open(self, path: str = "/", **kwargs: Any) -> Page:
        page = self.new(**kwargs)
        page.goto(self.house.url + path)
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        return page

    def signed_up(self, name: str, **kwargs: Any) -> Page:
        """A new browser user who creates an account on the page (its key made in the page)."""
        page = self.open("/#/signin", **kwargs)
        sign_up(page, name)
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def sign_up(page: Page, name: str) -> None:
    page.fill("#signup-name", name)
    page.fill("#signup-password", PASSWORD)
    page.click("#signup-form button[type=submit]")
    expect(page.get_by_test_id("who")).to_have_text(name)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")


def goto(page: Page, house: House, hash_route: str) -> None:
    page.goto(f"{house.url}/{hash_route}")
    expect(page.locator("h1")).to_be_visible()


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.evaluate("window.scrollTo(0, 0)")  # the sticky header belongs at the top
    page.screenshot(path=str(path), full_page=True)
    return path


def auction(seller: Client, method: str, item: str, **rules: Any) -> str:
    """A new auction (signed bids required) sold by ``seller``; returns its id."""
    return str(seller.create_auction(item, method, {"signed_bids": True, **rules})["id"])


def english(seller: Client, item: str = "Old clock", **rules: Any) -> str:
    base = {"starting_price": 1000, "min_increment": 100, "duration": 300}
    return auction(seller, "english", item, **{**base, **rules})
