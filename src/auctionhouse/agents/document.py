"""Agent documents: an agent described in TOML, never as code (DESIGN.md section 6).

::

    owner = "Alice Example"
    house = "http://127.0.0.1:8000"
    role = "bidder"                      # or "seller", or "trader" (a market's, below)
    budget = "1500.00"                   # bidders: an amount of the currency (or 150000,
                                         # a whole number: minor units)
    currency = "EUR"                     # what "1500.00" is in (default EUR; the house's)

    [account]
    name = "alice"
    password_env = "ALICE_PASSWORD"      # or password_file, or password
    key_file = "alice.pem"               # Ed25519 key (PEM, mode 0600), relative to this file
    create = true                        # create the account and the key file if missing

    [strategy]
    name = "smart"
    params = { estimator = "market-value" }

    [[items]]                            # bidders: what to bid on (fnmatch name) and its value
    name = "Antique*"
    value = 60000

A trader (double-auction markets, docs/markets.md) names its ``market``, its ``side`` (``buy``
or ``sell``), its ``limit`` (a buyer's value, a seller's cost: an amount per unit) and
``units`` to trade; its strategy is a registered trader (``zic``, ``zip``, ``gvwy``...,
``agents/traders.py``) and ``poll`` is the seconds between its quotes.

:func:`load_document` checks everything once and names the bad field
(``alice.toml: strategy.params.window must be a number``). Money is a decimal string of the
document's ``currency`` (``"1500.00"``: exact, never more decimals than the currency has) or a
whole number of minor units, as in the API. docs/agents.md has the full reference.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from auctionhouse.agents.bidder import METHODS, Want
from auctionhouse.agents.bidding import BidderStrategy, make_strategy
from auctionhouse.agents.selling import Listing, SellerStrategy, make_seller_strategy
from auctionhouse.auction import Rules
from auctionhouse.errors import AuctionhouseError, ConfigError, InvalidAmount
from auctionhouse.money import DEFAULT_CURRENCY, check_currency, parse_amount

TOP_KEYS = {
    "owner",
    "house",
    "role",
    "account",
    "strategy",
    "items",
    "budget",
    "value",
    "auctions",
    "poll",
    "seed",
    "run_for",
    "currency",
    "market",
    "side",
    "limit",
    "units",
}
TRADER_KEYS = {"market", "side", "limit", "units"}
ACCOUNT_KEYS = {"name", "password", "password_env", "password_file", "key_file", "create"}
STRATEGY_KEYS = {"name", "params"}
BIDDER_ITEM_KEYS = {"name", "value", "methods"}
SELLER_ITEM_KEYS = {
    "name",
    "method",
    "value",
    "description",
    "rules",
    "starting_price",
    "reserve_price",
}


@dataclass(frozen=True)
class AgentDocument:
    path: Path
    owner: str
    house: str
    role: str
    account: str
    password: str = field(repr=False)  # never in a repr, a log line or a traceback
    key_file: Path | None
    create: bool
    strategy: str
    params: dict[str, Any]
    budget: int = 0
    value: int | None = None
    wants: tuple[Want, ...] = ()
    listings: tuple[Listing, ...] = ()
    auctions: tuple[str, ...] = ()
    poll: float = 0.25
    seed: int = 0
    run_for: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    market: str = ""  # a trader's: its market, side, limit per unit and units to trade
    side: str = ""
    limit: int = 0
    units: int = 1

    def bidder_strategy(self) -> BidderStrategy:
        from auctionhouse.agents.runtime import agent_rng

        return _named(
            lambda: make_strategy(self.strategy, self.params, agent_rng(self.seed, self.account))
        )

    def seller_strategy(self) -> SellerStrategy:
        from auctionhouse.agents.runtime import agent_rng

        return _named(
            lambda: make_seller_strategy(
                self.strategy, self.params, agent_rng(self.seed, self.account)
            )
        )

    def trader(self, max_price: int | None = None, rng: Any = None) -> Any:
        """The trader's brain (``agents.traders.make_trader``): its strategy with its side,
        limit and units; ``max_price`` the market's (None: the traders' default)."""
        from auctionhouse.agents.runtime import agent_rng
        from auctionhouse.agents.traders import make_trader

        settings: dict[str, Any] = {"side": self.side, "limit": self.limit, "units": self.units}
        if max_price is not None:
            settings["max_price"] = max_price
        return _named(
            lambda: make_trader(
                self.strategy,
                settings | self.params,
                rng if rng is not None else agent_rng(self.seed, self.account),
            )
        )


T = TypeVar("T")


def _named(build: Callable[[], T]) -> T:
    try:
        return build()
    except ConfigError as exc:
        message = exc.message
        if message.startswith("params."):
            message = "strategy." + message
        elif not message.startswith("strategy."):
            message = "strategy.name: " + message
        raise ConfigError(message) from None


class _Reader:
    """Typed access to a TOML table that names the field path in every error."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.currency = DEFAULT_CURRENCY

    def fail(self, field_path: str, message: str) -> ConfigError:
        return ConfigError(f"{self.where}: {field_path}: {message}")

    def table(self, data: Any, path: str, keys: set[str]) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(path or "(document)", "must be a table")
        unknown = sorted(set(data) - keys)
        if unknown:
            prefix = f"{path}." if path else ""
            raise self.fail(
                f"{prefix}{unknown[0]}", f"unknown field (known: {', '.join(sorted(keys))})"
            )
        return data

    def text(self, data: dict[str, Any], key: str, path: str, default: str | None = None) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, "must be a non-empty string" if key in data else "is missing")
        return value.strip()

    def amount(self, data: dict[str, Any], key: str, path: str, *, required: bool) -> int | None:
        if key not in data:
            if required:
                raise self.fail(path, "is missing (an amount in minor units, e.g. 150000)")
            return None
        value = data[key]
        if isinstance(value, str):  # "1500.00": a decimal amount of the currency, exact
            try:
                value = parse_amount(value, self.currency, field=path)
            except InvalidAmount as exc:
                raise self.fail(path, exc.message.removeprefix(f"{path} ")) from None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(
                path,
                f'must be a positive amount: a decimal string like "1500.00" ({self.currency})'
                " or a whole number of minor units",
            )
        return value

    def number(
        self, data: dict[str, Any], key: str, path: str, default: float | None
    ) -> float | None:
        if key not in data:
            return default
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.fail(path, "must be a positive number of seconds")
        return float(value)


def load_document(path: str | Path) -> AgentDocument:
    """Read and check an agent document; a ``ConfigError`` names the file and the field."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no agent document at {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_document(data, path)


def parse_document(data: Any, path: Path) -> AgentDocument:
    r = _Reader(str(path))
    top = r.table(data, "", TOP_KEYS)
    if "currency" in top:
        try:
            r.currency = check_currency(top["currency"])
        except ConfigError as exc:
            raise r.fail("currency", exc.message) from None
    role = r.text(top, "role", "role")
    if role not in ("bidder", "seller", "trader"):
        raise r.fail("role", 'must be "bidder", "seller" or "trader"')
    house = r.text(top, "house", "house")
    try:
        from auctionhouse.client import normalize_house

        house = normalize_house(house)
    except AuctionhouseError as exc:
        raise r.fail("house", exc.message) from None
    if "account" not in top:
        raise r.fail("account", "is missing (a table with name, password and key_file)")
    account = r.table(top["account"], "account", ACCOUNT_KEYS)
    name = r.text(account, "name", "account.name")
    password = _password(r, account, path.parent)
    key_file = None
    if "key_file" in account:
        key_file = path.parent / Path(r.text(account, "key_file", "account.key_file")).expanduser()
    create = account.get("create", False)
    if not isinstance(create, bool):
        raise r.fail("account.create", "must be true or false")
    strategy = (
        r.table(top.get("strategy"), "strategy", STRATEGY_KEYS) if "strategy" in top else None
    )
    if strategy is None:
        raise r.fail("strategy", "is missing (a table with name and params)")
    params = r.table(strategy.get("params", {}), "strategy.params", set(strategy.get("params", {})))
    params = _resolve_files(params, path.parent)
    seed = top.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise r.fail("seed", "must be a whole number >= 0")
    common: dict[str, Any] = {
        "path": path,
        "owner": str(top.get("owner", name)),
        "house": house,
        "role": role,
        "account": name,
        "password": password,
        "key_file": key_file,
        "create": create,
        "strategy": r.text(strategy, "name", "strategy.name"),
        "params": params,
        "seed": seed,
        "run_for": r.number(top, "run_for", "run_for", None),
        "poll": r.number(top, "poll", "poll", 0.25) or 0.25,
    }
    if role != "trader":
        for key in sorted(TRADER_KEYS & set(top)):
            raise r.fail(key, 'is a trader\'s field (role = "trader")')
    builders = {"bidder": _bidder, "seller": _seller, "trader": _trader}
    doc = builders[role](r, top, common)
    try:  # check the strategy and its parameters now
        if role == "bidder":
            doc.bidder_strategy()
        elif role == "seller":
            doc.seller_strategy()
        else:
            doc.trader()
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc.message}") from None
    return doc


def _trader(r: _Reader, top: dict[str, Any], common: dict[str, Any]) -> AgentDocument:
    for key in ("budget", "value", "auctions", "items"):
        if key in top:
            raise r.fail(key, "is not a trader's field (a trader has market, side, limit, units)")
    market = top.get("market")
    if isinstance(market, int) and not isinstance(market, bool):
        market = f"m{market}"
    if not isinstance(market, str) or not market.strip():
        raise r.fail("market", 'is missing (the market\'s id, e.g. "m1")')
    side = top.get("side")
    if side not in ("buy", "sell"):
        raise r.fail("side", 'must be "buy" or "sell"')
    limit = r.amount(top, "limit", "limit", required=True)
    assert limit is not None
    units = top.get("units", 1)
    if isinstance(units, bool) or not isinstance(units, int) or units < 1:
        raise r.fail("units", "must be a whole number of units >= 1")
    if common["key_file"] is None:
        raise r.fail("account.key_file", "is missing: a trader signs every order with its key")
    return AgentDocument(**common, market=market.strip(), side=side, limit=limit, units=units)


def _password(r: _Reader, account: dict[str, Any], base: Path) -> str:
    given = [k for k in ("password", "password_env", "password_file") if k in account]
    if len(given) != 1:
        raise r.fail(
            "account.password", "give exactly one of password, password_env, password_file"
        )
    key = given[0]
    value = r.text(account, key, f"account.{key}")
    if key == "password_env":
        secret = os.environ.get(value)
        if not secret:
            raise r.fail("account.password_env", f"the environment variable {value} is not set")
        return secret
    if key == "password_file":
        file = base / Path(value).expanduser()
        try:
            return file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise r.fail("account.password_file", f"cannot read {file}: {exc.strerror}") from None
    return value


def _resolve_files(params: dict[str, Any], base: Path) -> dict[str, Any]:
    """A strategy file named relative to the document is found beside it."""
    if isinstance(params.get("file"), str):
        return params | {"file": str(base / Path(params["file"]).expanduser())}
    return dict(params)


def _bidder(r: _Reader, top: dict[str, Any], common: dict[str, Any]) -> AgentDocument:
    budget = r.amount(top, "budget", "budget", required=True)
    value = r.amount(top, "value", "value", required=False)
    items = top.get("items", [])
    if not isinstance(items, list):
        raise r.fail("items", "must be an array of tables ([[items]])")
    wants = []
    for i, raw in enumerate(items):
        where = f"items[{i}]"
        item = r.table(raw, where, BIDDER_ITEM_KEYS)
        methods = item.get("methods", list(METHODS))
        if not isinstance(methods, list) or not methods or any(m not in METHODS for m in methods):
            raise r.fail(f"{where}.methods", f"must list some of {', '.join(METHODS)}")
        item_value = r.amount(item, "value", f"{where}.value", required=True)
        assert item_value is not None
        wants.append(Want(r.text(item, "name", f"{where}.name"), item_value, tuple(methods)))
    auctions = top.get("auctions", [])
    if not isinstance(auctions, list) or not all(isinstance(a, str | int) for a in auctions):
        raise r.fail("auctions", "must be a list of auction ids")
    if not wants and value is None:
        raise r.fail("items", "a bidder needs [[items]] with values, or a default value")
    assert budget is not None
    return AgentDocument(
        **common,
        budget=budget,
        value=value,
        wants=tuple(wants),
        auctions=tuple(str(a) for a in auctions),
    )


def _seller(r: _Reader, top: dict[str, Any], common: dict[str, Any]) -> AgentDocument:
    from auctionhouse.agents.selling import METHODS as SELL_METHODS

    items = top.get("items")
    if not isinstance(items, list) or not items:
        raise r.fail("items", "a seller needs at least one [[items]] table to sell")
    listings = []
    for i, raw in enumerate(items):
        where = f"items[{i}]"
        item = r.table(raw, where, SELLER_ITEM_KEYS)
        method = r.text(item, "method", f"{where}.method")
        if method not in SELL_METHODS:
            raise r.fail(f"{where}.method", f"must be one of {', '.join(SELL_METHODS)}")
        rules = item.get("rules", {})
        try:
            Rules.from_dict(rules)
        except AuctionhouseError as exc:
            raise r.fail(f"{where}.rules", exc.message) from None
        value = r.amount(item, "value", f"{where}.value", required=True)
        assert value is not None
        listings.append(
            Listing(
                r.text(item, "name", f"{where}.name"),
                method,
                value,
                str(item.get("description", "")),
                dict(rules),
                r.amount(item, "starting_price", f"{where}.starting_price", required=False),
                r.amount(item, "reserve_price", f"{where}.reserve_price", required=False),
            )
        )
    for key in ("budget", "value", "auctions"):
        if key in top:
            raise r.fail(key, "is a bidder's field, not a seller's")
    return AgentDocument(**common, listings=tuple(listings))
