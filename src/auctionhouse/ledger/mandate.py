"""Mobile agents' mandates (seed 004): the half of an agent document its owner signs.

A mandate is a JSON object, signed with the owner's Ed25519 key and never changed on the way::

    {"v": 1, "agent": "7f3c...", "owner_key": "<64 hex>", "home": "http://127.0.0.1:8001",
     "item": {"name": "antique*", "methods": ["english", "fpsb"]}, "value": 60000,
     "strategy": {"name": "truthful", "params": {}}, "bargain_price": 30000,
     "site_cap": 50000, "budget": 80000, "search_until": 1767225600.0,
     "return_by": 1767225660.0, "expires": 1767225720.0, "nonce": "<hex>",
     "schedule": ["http://127.0.0.1:8002", ...], "signature": "<128 hex>"}

Money in minor units, times in seconds since the epoch (house time). The signature covers
``MANDATE_CONTEXT + canonical_json(mandate without "signature")``; the mandate's digest (the
SHA-256 of its whole canonical JSON, signature included) names it in the ledger (``BidPlaced
.mandate``). The owner is identified by the key: agent bids are placed by the account
``owner_account(owner_key)`` (docs/decisions/0013-owner-key-accounts.md).

This module is the one definition of what a mandate allows, used by the agent host before a bid
and by the audit afterwards. It knows nothing of strategies or sites.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

from auctionhouse.errors import InvalidMandate
from auctionhouse.ledger.encoding import canonical_json
from auctionhouse.ledger.keys import verify
from auctionhouse.times import utc_time

MANDATE_VERSION = 1
MANDATE_CONTEXT = b"auctionhouse-mandate-v1\n"
ACCOUNT_PREFIX = "@"
"""Owner-key accounts start with '@', which no person's account name may (house.accounts)."""
METHODS = ("english", "dutch", "fpsb", "vickrey")
MAX_SCHEDULE = 64

_AGENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX128 = re.compile(r"^[0-9a-f]{128}$")
_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
_FIELDS = {
    "v",
    "agent",
    "owner_key",
    "home",
    "item",
    "value",
    "strategy",
    "bargain_price",
    "site_cap",
    "budget",
    "search_until",
    "return_by",
    "expires",
    "nonce",
    "schedule",
    "signature",
}


def owner_account(owner_key: str) -> str:
    """The account an owner's agents bid as at every site: '@' and the key's first 24 hex
    digits (96 bits: finding another key with the same prefix is out of reach)."""
    return ACCOUNT_PREFIX + owner_key.lower()[:24]


def site_url(url: str) -> str:
    """A site's URL in the one form used for comparisons: no trailing slash."""
    return url.rstrip("/")


def signing_bytes(mandate: dict[str, Any]) -> bytes:
    """What the owner signs: the context line and the canonical JSON without the signature."""
    return MANDATE_CONTEXT + canonical_json({k: v for k, v in mandate.items() if k != "signature"})


def mandate_text(mandate: dict[str, Any]) -> str:
    """The signed mandate's canonical JSON (what the ledger keeps)."""
    return canonical_json(mandate).decode("utf-8")


def mandate_digest(mandate: dict[str, Any]) -> str:
    """SHA-256 (hex) of the signed mandate's canonical JSON."""
    return sha256(canonical_json(mandate)).hexdigest()


@dataclass(frozen=True, slots=True)
class Mandate:
    """A checked mandate (its signature holds). ``raw`` is the signed object as received."""

    raw: dict[str, Any]
    agent: str
    owner_key: str
    home: str
    item: str
    methods: tuple[str, ...]
    value: int
    strategy: str
    params: dict[str, Any]
    bargain_price: int
    site_cap: int
    budget: int
    search_until: float
    return_by: float
    expires: float
    schedule: tuple[str, ...]
    digest: str

    @property
    def account(self) -> str:
        return owner_account(self.owner_key)

    @property
    def cap(self) -> int:
        """The most one bid (or proxy maximum) may be at any one site."""
        return min(self.site_cap, self.budget)

    def text(self) -> str:
        return mandate_text(self.raw)


def _fail(message: str) -> InvalidMandate:
    return InvalidMandate(f"mandate: {message}")


def _amount(raw: dict[str, Any], key: str, *, minimum: int = 1) -> int:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(f"{key} must be a whole number of minor units >= {minimum}")
    return value


def _time(raw: dict[str, Any], key: str) -> float:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(f"{key} must be a time in seconds")
    return float(value)


def _url(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) > 512 or not _URL.match(value):
        raise _fail(f"{where} must be an http(s) URL")
    return site_url(value)


def parse_mandate(raw: Any) -> Mandate:
    """Check a mandate's shape and its owner's signature; ``InvalidMandate`` names the fault.

    Checks only what the mandate says of itself: expiry against a clock, the strategy against
    the registry and replay are the agent host's business.
    """
    if not isinstance(raw, dict):
        raise _fail("must be an object")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise _fail(f"unknown field {unknown[0]!r}")
    if raw.get("v") != MANDATE_VERSION:
        raise _fail(f"v must be {MANDATE_VERSION}")
    agent = raw.get("agent")
    if not isinstance(agent, str) or not _AGENT_ID.match(agent):
        raise _fail("agent must be 8-64 letters, digits, '_' or '-'")
    owner_key = raw.get("owner_key")
    if not isinstance(owner_key, str) or not _HEX64.match(owner_key):
        raise _fail("owner_key must be 64 lowercase hex digits (an Ed25519 public key)")
    item = raw.get("item")
    if not isinstance(item, dict) or set(item) - {"name", "methods"}:
        raise _fail("item must be an object with name and methods")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise _fail("item.name must be a non-empty pattern of at most 200 characters")
    methods = item.get("methods", list(METHODS))
    if (
        not isinstance(methods, list)
        or not methods
        or any(m not in METHODS for m in methods)
        or len(set(methods)) != len(methods)
    ):
        raise _fail(f"item.methods must be a list of {', '.join(METHODS)}")
    strategy = raw.get("strategy")
    if (
        not isinstance(strategy, dict)
        or set(strategy) - {"name", "params"}
        or not isinstance(strategy.get("name"), str)
        or not isinstance(strategy.get("params", {}), dict)
    ):
        raise _fail("strategy must be an object with a name and params")
    site_cap = _amount(raw, "site_cap")
    budget = _amount(raw, "budget")
    value = _amount(raw, "value") if "value" in raw else min(site_cap, budget)
    times = {k: _time(raw, k) for k in ("search_until", "return_by", "expires")}
    if not times["search_until"] <= times["return_by"] <= times["expires"]:
        raise _fail("times must be search_until <= return_by <= expires")
    nonce = raw.get("nonce")
    if not isinstance(nonce, str) or not 8 <= len(nonce) <= 128:
        raise _fail("nonce must be a string of 8 to 128 characters")
    schedule = raw.get("schedule")
    if not isinstance(schedule, list) or len(schedule) > MAX_SCHEDULE:
        raise _fail(f"schedule must be a list of at most {MAX_SCHEDULE} site URLs")
    sites = tuple(_url(s, f"schedule[{i}]") for i, s in enumerate(schedule))
    signature = raw.get("signature")
    if not isinstance(signature, str) or not _HEX128.match(signature):
        raise _fail("signature must be 128 hex digits (Ed25519)")
    if not verify(owner_key, signing_bytes(raw), signature):
        raise _fail("the owner's signature does not hold (changed on the way?)")
    return Mandate(
        raw=raw,
        agent=agent,
        owner_key=owner_key,
        home=_url(raw.get("home"), "home"),
        item=name.strip(),
        methods=tuple(methods),
        value=value,
        strategy=strategy["name"],
        params=dict(strategy.get("params", {})),
        bargain_price=_amount(raw, "bargain_price", minimum=0),
        site_cap=site_cap,
        budget=budget,
        search_until=times["search_until"],
        return_by=times["return_by"],
        expires=times["expires"],
        schedule=sites,
        digest=mandate_digest(raw),
    )


def bid_problem(
    mandate: Mandate, bidder: str, amount: int, proxy_max: int | None, at: float
) -> str | None:
    """Why a bid is outside ``mandate`` (None: within it): the bidder must be the owner's
    account, the bid and its proxy maximum at most the per-site cap (and the budget), and it
    must be placed before return-by."""
    if bidder != mandate.account:
        return f"placed by {bidder!r}, not the owner's account {mandate.account!r}"
    highest = max(amount, proxy_max or 0)
    if highest > mandate.cap:
        return f"{highest} is above the mandate's cap of {mandate.cap} at one site"
    if at > mandate.return_by:
        by = utc_time(mandate.return_by)
        return f"placed at {utc_time(at)}, after the mandate's return-by {by}"
    return None
