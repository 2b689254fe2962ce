"""HouseConfig: the house's settings (seed 000's names kept), typed, frozen and checked once."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from auctionhouse.errors import ConfigError
from auctionhouse.money import (
    DEFAULT_CURRENCY,
    DEFAULT_LOCALE,
    check_currency,
    check_locale,
    warm_up,
)


@dataclass(frozen=True, slots=True)
class HouseConfig:
    # Seed 000: auctions need this many distinct bidders to sell (not applied to Dutch).
    min_bidders: int = 1
    # Seed 000: the default life in seconds of an auction whose rules give no close of their own.
    bid_timeout: float = 300.0
    # Seed 000: open auctions one seller may have at once.
    max_concurrent_auctions: int = 100
    # Seed 000: every bid must be signed with the bidder's registered Ed25519 key.
    bid_verification_required: bool = False
    # Signed bids: |ts - house time| must be within this many seconds.
    skew_seconds: float = 30.0
    # Token buckets (requests per second, burst) per account and per network address.
    account_rate: float = 50.0
    account_burst: float = 100.0
    address_rate: float = 200.0
    address_burst: float = 400.0
    # Accounts whose reputation score falls below this may not bid (0 disables).
    min_reputation: float = 0.0
    # Seconds between signed checkpoints of all chain heads.
    checkpoint_seconds: float = 10.0
    # Sessions (bearer tokens) last this long.
    token_ttl_seconds: float = 7 * 24 * 3600.0
    # Bounded work queue of the async service; a full queue refuses with ``overloaded``.
    max_pending: int = 10_000
    # Verify signed bids in batches on a worker process, off the event loop (0: the loop
    # verifies each bid itself; today one process for any value above 0, which is enough
    # on two cores; docs/decisions/0017-batched-verify.md).
    verify_workers: int = 1
    # Login throttling (docs/operations.md "Login throttling"): free failed logins per address
    # and per account within login_forget_seconds, then a backoff of login_backoff_seconds
    # doubling with each failure up to the caps (429 login_throttled + Retry-After).
    login_free_per_address: int = 10
    login_free_per_account: int = 20
    login_backoff_seconds: float = 1.0
    login_max_backoff_address_seconds: float = 300.0
    login_max_backoff_account_seconds: float = 60.0
    login_forget_seconds: float = 900.0
    # argon2id cost; tests lower it, production keeps the library's defaults.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65_536
    # Money (docs/configuration.md "Money"): the ISO 4217 code every amount is in (integer minor
    # units), and the locale people see amounts formatted in (Babel's format_currency).
    currency: str = DEFAULT_CURRENCY
    locale: str = DEFAULT_LOCALE
    # English auctions: a plain bid is a proxy maximum unless the seller's rules say otherwise.
    bids_are_maxima: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.currency, str):  # "eur" as typed is EUR
            object.__setattr__(self, "currency", self.currency.strip().upper())
        check_currency(self.currency)
        check_locale(self.locale)
        warm_up(self.currency, self.locale)  # checks the pair formats, off any event loop
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("str",):
                continue
            if f.type in ("bool",):
                if not isinstance(value, bool):
                    raise ConfigError(f"{f.name} must be true or false")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{f.name} must be a number")
            if value < 0 or (value == 0 and f.name not in ("min_reputation", "verify_workers")):
                raise ConfigError(f"{f.name} must be positive")
        if not 0 <= self.min_reputation <= 1:
            raise ConfigError("min_reputation must be between 0 and 1")

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> HouseConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown house setting(s): {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def for_tests(cls, **overrides: Any) -> HouseConfig:
        """Cheap password hashing and generous limits, for test suites."""
        values: dict[str, Any] = {"argon2_time_cost": 1, "argon2_memory_kib": 1024}
        values.update(overrides)
        return cls(**values)
