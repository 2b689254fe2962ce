"""Value types of the rules core: methods, outcomes, phases and an auction's rules."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from auctionhouse.errors import InvalidRequest, InvalidRules


class Method(StrEnum):
    ENGLISH = "english"
    DUTCH = "dutch"
    FPSB = "fpsb"
    VICKREY = "vickrey"

    @property
    def sealed(self) -> bool:
        return self in (Method.FPSB, Method.VICKREY)


class Outcome(StrEnum):
    SOLD = "sold"
    NO_BIDS = "no_bids"
    RESERVE_NOT_MET = "reserve_not_met"
    TOO_FEW_BIDDERS = "too_few_bidders"
    CANCELLED = "cancelled"


class Phase(StrEnum):
    SCHEDULED = "scheduled"  # before opens_at
    OPEN = "open"
    PAUSED = "paused"
    CLOSED = "closed"  # sold, no bids, reserve not met, too few bidders or cancelled


@dataclass(frozen=True, slots=True)
class SoftClose:
    """A bid in the last ``window`` seconds moves the close ``extension`` seconds later,
    never past the original close plus ``cap`` seconds."""

    window: float
    extension: float
    cap: float

    def __post_init__(self) -> None:
        for name in ("window", "extension", "cap"):
            value = getattr(self, name)
            if not _finite_number(value) or value <= 0:
                raise InvalidRules(f"soft_close.{name} must be a positive number of seconds")


@dataclass(frozen=True, slots=True)
class Rules:
    """The rules an auction is created with (DESIGN.md section 5 names).

    Money fields are ints of minor units. Times are seconds (floats) on the house clock.
    ``duration`` is turned into ``closes_at`` when the auction is created, so the stored rules
    always carry absolute times.
    """

    starting_price: int = 1
    reserve_price: int | None = None
    min_increment: int = 1
    decrement: int = 0
    tick_seconds: float = 1.0
    opens_at: float | None = None
    closes_at: float | None = None
    duration: float | None = None
    quiet_seconds: float | None = None
    soft_close: SoftClose | None = None
    expected_bids: int | None = None
    min_bidders: int = 1
    max_bidders: int | None = None
    signed_bids: bool = False

    def __post_init__(self) -> None:
        _check_int("starting_price", self.starting_price, minimum=0)
        if self.reserve_price is not None:
            _check_int("reserve_price", self.reserve_price, minimum=1)
        _check_int("min_increment", self.min_increment, minimum=1)
        _check_int("decrement", self.decrement, minimum=0)
        _check_int("min_bidders", self.min_bidders, minimum=1)
        if self.max_bidders is not None:
            _check_int("max_bidders", self.max_bidders, minimum=1)
            if self.max_bidders < self.min_bidders:
                raise InvalidRules("max_bidders must be at least min_bidders")
        if self.expected_bids is not None:
            _check_int("expected_bids", self.expected_bids, minimum=1)
        for name in ("opens_at", "closes_at"):
            value = getattr(self, name)
            if value is not None and not _finite_number(value):
                raise InvalidRules(f"{name} must be a time in seconds")
        if self.tick_seconds is None:
            raise InvalidRules("tick_seconds must be a positive number of seconds")
        for name in ("duration", "quiet_seconds", "tick_seconds"):
            value = getattr(self, name)
            if value is not None and (not _finite_number(value) or value <= 0):
                raise InvalidRules(f"{name} must be a positive number of seconds")
        if self.duration is not None and self.closes_at is not None:
            raise InvalidRules("give closes_at or duration, not both")
        if not isinstance(self.signed_bids, bool):
            raise InvalidRules("signed_bids must be true or false")

    def for_method(self, method: Method, now: float) -> Rules:
        """Check the rules make sense for ``method`` and resolve relative times at ``now``."""
        opens_at = now if self.opens_at is None else float(self.opens_at)
        closes_at = self.closes_at
        if self.duration is not None:
            closes_at = opens_at + self.duration
        if closes_at is not None and closes_at <= opens_at:
            raise InvalidRules("the auction must close after it opens")
        if method is Method.ENGLISH:
            if closes_at is None and self.quiet_seconds is None:
                raise InvalidRules("an English auction needs closes_at, duration or quiet_seconds")
            if self.soft_close is not None and closes_at is None:
                raise InvalidRules("soft_close needs a deadline (closes_at or duration)")
            if self.expected_bids is not None:
                raise InvalidRules("expected_bids applies to sealed-bid auctions only")
        elif method is Method.DUTCH:
            if self.decrement < 1:
                raise InvalidRules("a Dutch auction needs a decrement of at least 1")
            floor = self.reserve_price or 1
            if self.starting_price < floor:
                raise InvalidRules("a Dutch auction must start at or above its reserve (floor)")
            if self.min_bidders != 1:
                raise InvalidRules("a Dutch auction is won by the first accept: min_bidders is 1")
            if self.soft_close or self.quiet_seconds or self.expected_bids:
                raise InvalidRules("soft_close, quiet_seconds, expected_bids: not Dutch rules")
        else:
            if closes_at is None and self.expected_bids is None:
                raise InvalidRules("a sealed auction needs closes_at, duration or expected_bids")
            if self.soft_close or self.quiet_seconds:
                raise InvalidRules("soft_close and quiet_seconds are not sealed-bid rules")
            if (
                self.expected_bids is not None
                and self.max_bidders is not None
                and self.expected_bids > self.max_bidders
            ):
                raise InvalidRules("expected_bids cannot exceed max_bidders")
        return _replace(self, opens_at=opens_at, closes_at=closes_at, duration=None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, SoftClose):
                value = {"window": value.window, "extension": value.extension, "cap": value.cap}
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rules:
        """Build rules from a JSON-like mapping; unknown or ill-typed fields are refused."""
        if not isinstance(data, dict):
            raise InvalidRules("rules must be an object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidRules(f"unknown rule(s): {', '.join(unknown)}")
        kwargs = dict(data)
        sc = kwargs.get("soft_close")
        if sc is not None:
            if not isinstance(sc, dict) or set(sc) != {"window", "extension", "cap"}:
                raise InvalidRules("soft_close needs exactly window, extension and cap")
            kwargs["soft_close"] = SoftClose(**sc)
        try:
            return cls(**kwargs)
        except TypeError as exc:  # a wrong type slipped past the field checks
            raise InvalidRules(str(exc)) from exc


def _replace(rules: Rules, **changes: Any) -> Rules:
    values = {f.name: getattr(rules, f.name) for f in fields(rules)}
    values.update(changes)
    return Rules(**values)


def _finite_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _check_int(name: str, value: object, *, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidRules(f"{name} must be an integer amount of minor units")
    if value < minimum:
        raise InvalidRules(f"{name} must be at least {minimum}")


def check_amount(name: str, value: object) -> int:
    """An amount from outside: a positive int of minor units, else ``InvalidRequest``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidRequest(f"{name} must be an integer amount of minor units")
    if value < 1:
        raise InvalidRequest(f"{name} must be positive")
    return value
