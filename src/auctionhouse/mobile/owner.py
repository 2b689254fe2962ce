"""The owner's side: an agent document written as TOML or JSON becomes a signed mandate.

::

    home = "http://127.0.0.1:8001"       # the owner's house: the agent starts and ends there
    key_file = "owner.pem"               # the owner's Ed25519 key (PEM, mode 0600); never sent
    create_key = true                    # create the key file if missing
    item = "antique*"                    # what to buy: an fnmatch pattern of item names
    methods = ["english", "fpsb"]        # methods it may join (default: all four)
    value = 60000                        # its worth to the owner (minor units; default site_cap)
    bargain_price = 30000                # join at once at or below this estimated price
    site_cap = 50000                     # the most one bid may be at any one site
    budget = 80000                       # the most the whole trip may spend
    search_for = 30                      # seconds of searching, then it decides
    return_in = 60                       # it must be home this many seconds after sending
    expires_in = 120                     # the mandate's validity (default: return_in + 1 h)
    schedule = ["http://127.0.0.1:8002", "http://127.0.0.1:8003"]

    [strategy]
    name = "fuzzy-genetic"
    params = { file = "bidder.json" }    # the chromosome file is read here and embedded

Times may instead be given as ``search_until``, ``return_by``, ``expires`` (seconds since the
epoch). Only data travels: a strategy's ``file`` is read on the owner's machine and embedded as
``evolved``, never opened by a site.
"""

from __future__ import annotations

import json
import secrets
import tomllib
from pathlib import Path
from typing import Any

from auctionhouse.agents.bidding import make_strategy
from auctionhouse.client.keys import BidKey
from auctionhouse.errors import AuctionhouseError, ConfigError
from auctionhouse.ledger.mandate import (
    MANDATE_VERSION,
    METHODS,
    Mandate,
    parse_mandate,
    signing_bytes,
    site_url,
)
from auctionhouse.sim.strategy_file import load_strategy, strategy_to_dict

EXPIRES_AFTER_RETURN = 3600.0
"""Seconds a mandate stays valid after return-by unless the document says (a late agent may
still be checked by the sites it passes on its way home)."""

OWNER_KEYS = {
    "agent",
    "home",
    "key_file",
    "create_key",
    "item",
    "methods",
    "value",
    "bargain_price",
    "site_cap",
    "budget",
    "search_for",
    "return_in",
    "expires_in",
    "search_until",
    "return_by",
    "expires",
    "schedule",
    "strategy",
}


def read_owner_document(path: str | Path) -> dict[str, Any]:
    """A TOML file (or JSON, by its ``.json`` suffix) as a table; ``ConfigError`` if unreadable."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
        else:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise ConfigError(f"{path}: cannot read the agent document: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the agent document must be a table")
    return data


def _fail(where: str, field: str, message: str) -> ConfigError:
    return ConfigError(f"{where}: {field}: {message}")


def _times(data: dict[str, Any], now: float, where: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for absolute, relative, default in (
        ("search_until", "search_for", None),
        ("return_by", "return_in", 300.0),
        ("expires", "expires_in", None),
    ):
        if absolute in data and relative in data:
            raise _fail(where, relative, f"give {absolute} or {relative}, not both")
        value = data.get(absolute)
        if relative in data:
            seconds = data[relative]
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
                raise _fail(where, relative, "must be a positive number of seconds")
            value = now + float(seconds)
        if value is None and default is not None:
            value = now + default
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _fail(where, absolute, "must be a time in seconds since the epoch")
            out[absolute] = round(float(value), 3)
    out.setdefault("search_until", out["return_by"])
    out.setdefault("expires", round(out["return_by"] + EXPIRES_AFTER_RETURN, 3))
    return out


def _strategy(data: dict[str, Any], base: Path, where: str) -> dict[str, Any]:
    table = data.get("strategy", {"name": "truthful"})
    if isinstance(table, str):
        table = {"name": table}
    if not isinstance(table, dict) or not isinstance(table.get("name"), str):
        raise _fail(where, "strategy", "must be a table with a name")
    params = dict(table.get("params") or {})
    if "file" in params:  # the chromosome travels as data, read here once
        file = Path(str(params.pop("file"))).expanduser()
        file = file if file.is_absolute() else base / file
        try:
            params["evolved"] = strategy_to_dict(load_strategy(file))
        except AuctionhouseError as exc:
            raise _fail(where, "strategy.params.file", exc.message) from None
    try:
        make_strategy(table["name"], dict(params))
    except ConfigError as exc:
        raise _fail(where, "strategy", exc.message) from None
    return {"name": table["name"], "params": params}


def build_mandate(
    data: dict[str, Any], *, now: float, base: Path = Path("."), where: str = "document"
) -> tuple[dict[str, Any], BidKey]:
    """The signed mandate an owner document describes, and the owner's key that signed it.

    ``now`` is house time (seconds) for the relative times. A bad field is a ``ConfigError``
    naming it; the result passes ``parse_mandate``.
    """
    unknown = sorted(set(data) - OWNER_KEYS)
    if unknown:
        raise _fail(where, unknown[0], f"unknown field (known: {', '.join(sorted(OWNER_KEYS))})")
    key_file = data.get("key_file")
    if not isinstance(key_file, str) or not key_file:
        raise _fail(where, "key_file", "is missing (the owner's Ed25519 key file)")
    key_path = Path(key_file).expanduser()
    key_path = key_path if key_path.is_absolute() else base / key_path
    if not key_path.exists() and data.get("create_key", False):
        key = BidKey.generate(key_path)
    else:
        key = BidKey.load(key_path)
    schedule = data.get("schedule", [])
    if not isinstance(schedule, list) or not all(isinstance(s, str) for s in schedule):
        raise _fail(where, "schedule", "must be a list of site URLs")
    mandate: dict[str, Any] = {
        "v": MANDATE_VERSION,
        "agent": str(data.get("agent") or secrets.token_hex(16)),
        "owner_key": key.public_key,
        "home": site_url(str(data.get("home", ""))),
        "item": {
            "name": data.get("item"),
            "methods": list(data.get("methods", METHODS)),
        },
        "strategy": _strategy(data, base, where),
        "bargain_price": data.get("bargain_price", 0),
        "site_cap": data.get("site_cap"),
        "budget": data.get("budget", data.get("site_cap")),
        "nonce": secrets.token_hex(16),
        "schedule": [site_url(s) for s in schedule],
        **_times(data, now, where),
    }
    if "value" in data:
        mandate["value"] = data["value"]
    mandate["signature"] = key.signing_key.sign(signing_bytes(mandate)).signature.hex()
    try:
        parse_mandate(mandate)
    except AuctionhouseError as exc:
        raise ConfigError(f"{where}: {exc.message}") from None
    return mandate, key


def sign_mandate(mandate: dict[str, Any], key: BidKey) -> Mandate:
    """Re-sign an edited mandate (tests and tools); returns it checked."""
    mandate["signature"] = key.signing_key.sign(signing_bytes(mandate)).signature.hex()
    return parse_mandate(mandate)
