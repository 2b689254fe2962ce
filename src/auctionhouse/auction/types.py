"""Value types of the rules core: methods, outcomes, phases and an auction's rules."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, fields
from enum import StrEnum
from fractions import Fraction
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


# Refused at creation: a clock faster than this floods every watcher with ticks (seconds;
# 20 ticks a second is already more than a person can follow).
MIN_TICK_SECONDS = 0.05
# An ``opens_at`` this far in the past is taken as "now" (a typed "now" arrives a bit late);
# further back it is a mistake (a wrong date or time zone) and is refused (seconds).
OPENS_AT_GRACE_SECONDS = 60.0


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
                raise _invalid(f"soft_close.{name}", "must be a positive number of seconds")
        if self.cap < self.window:
            raise _invalid("soft_close.cap", "must be at least the window")
        if self.extension > self.cap:
            raise _invalid("soft_close.extension", "cannot exceed the cap")


@dataclass(frozen=True, slots=True)
class IncrementBand:
    """One band of an increment table: while the price is below ``below`` (minor units; None:
    any price) the next bid must raise it by at least ``increment`` (minor units)."""

    below: int | None
    increment: int


# Refused at creation: a percentage increment above this is a typo (100 doubles every bid).
MAX_INCREMENT_PERCENT = 100
# An increment table has at most this many bands (the large sites publish about a dozen).
MAX_INCREMENT_BANDS = 50
# Before the house recorded a currency in the rules, auctions were in the default one.
DEFAULT_CURRENCY = "EUR"


@dataclass(frozen=True, slots=True)
class Rules:
    """The rules an auction is created with (DESIGN.md section 5 names).

    Money fields are ints of minor units. Times are seconds (floats) on the house clock.
    ``duration`` is turned into ``closes_at`` when the auction is created, so the stored rules
    always carry absolute times. ``reserve_price`` 0 means "no reserve" (it is stored as None).
    ``floor_price`` is the Dutch clock's public floor (None: the smallest unit, 1); it is
    independent of the secret reserve (docs/decisions/0007-dutch-public-floor.md).

    Every refusal is ``InvalidRules`` whose ``field`` names the rule at fault.
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
    floor_price: int | None = None
    # English: the raise a bid needs besides the flat min_increment (the greater applies): by
    # price band (an increment table, as the large sites publish) or a percentage of the price.
    increment_table: tuple[IncrementBand, ...] | None = None
    increment_percent: int | float | None = None
    # English: a plain bid is a proxy maximum; the house bids the least needed for it.
    bids_are_maxima: bool | None = None
    # The ISO 4217 code the amounts are in (minor units); set by the house at creation.
    currency: str | None = None

    def __post_init__(self) -> None:
        _check_int("starting_price", self.starting_price, minimum=0)
        if self.reserve_price is not None:
            _check_int("reserve_price", self.reserve_price, minimum=0)
            if self.reserve_price == 0:  # the natural spelling of "no reserve"
                object.__setattr__(self, "reserve_price", None)
        if self.floor_price is not None:
            _check_int("floor_price", self.floor_price, minimum=1)
        _check_int("min_increment", self.min_increment, minimum=1)
        _check_int("decrement", self.decrement, minimum=0)
        _check_int("min_bidders", self.min_bidders, minimum=1)
        if self.max_bidders is not None:
            _check_int("max_bidders", self.max_bidders, minimum=1)
            if self.max_bidders < self.min_bidders:
                raise _invalid("max_bidders", "must be at least min_bidders")
        if self.expected_bids is not None:
            _check_int("expected_bids", self.expected_bids, minimum=1)
        for name in ("opens_at", "closes_at"):
            value = getattr(self, name)
            if value is not None and not _finite_number(value):
                raise _invalid(name, "must be a time in seconds")
        if self.tick_seconds is None:
            raise _invalid("tick_seconds", "must be a positive number of seconds")
        for name in ("duration", "quiet_seconds", "tick_seconds"):
            value = getattr(self, name)
            if value is not None and (not _finite_number(value) or value <= 0):
                raise _invalid(name, "must be a positive number of seconds")
        if self.soft_close is not None and not isinstance(self.soft_close, SoftClose):
            raise _invalid("soft_close", "must be {window, extension, cap}")
        if self.duration is not None and self.closes_at is not None:
            raise _invalid("duration", "give closes_at or duration, not both")
        if not isinstance(self.signed_bids, bool):
            raise _invalid("signed_bids", "must be true or false")
        if self.bids_are_maxima is not None and not isinstance(self.bids_are_maxima, bool):
            raise _invalid("bids_are_maxima", "must be true or false")
        if self.currency is not None and (
            not isinstance(self.currency, str) or not re.fullmatch(r"[A-Z]{3}", self.currency)
        ):
            raise _invalid("currency", "must be an ISO 4217 code like EUR")
        self._check_increments()

    def _check_increments(self) -> None:
        pct = self.increment_percent
        if pct is not None:
            if not _finite_number(pct) or not 0 < pct <= MAX_INCREMENT_PERCENT:
                raise _invalid(
                    "increment_percent",
                    f"must be a number above 0, at most {MAX_INCREMENT_PERCENT}",
                )
            if self.increment_table is not None:
                raise _invalid("increment_percent", "give increment_table or increment_percent")
        table = self.increment_table
        if table is None:
            return
        if isinstance(table, list):  # built in code from JSON-like bands
            table = _bands(table)
            object.__setattr__(self, "increment_table", table)
        if not isinstance(table, tuple) or not table:
            raise _invalid("increment_table", "must be a non-empty list of price bands")
        if len(table) > MAX_INCREMENT_BANDS:
            raise _invalid("increment_table", f"has more than {MAX_INCREMENT_BANDS} bands")
        previous = 0
        for i, band in enumerate(table):
            where = f"increment_table[{i}]"
            if not isinstance(band, IncrementBand):
                raise _invalid("increment_table", f"{where} must be {{below, increment}}")
            if not isinstance(band.increment, int) or isinstance(band.increment, bool):
                raise _invalid("increment_table", f"{where}.increment must be an integer")
            if band.increment < 1:
                raise _invalid("increment_table", f"{where}.increment must be at least 1")
            if band.below is None:
                if i != len(table) - 1:
                    raise _invalid(
                        "increment_table", f"{where} has no upper bound but is not the last band"
                    )
                continue
            if not isinstance(band.below, int) or isinstance(band.below, bool):
                raise _invalid("increment_table", f"{where}.below must be an integer")
            if band.below <= previous:
                raise _invalid(
                    "increment_table",
                    f"{where}.below must be above the band before (bands go up in price)",
                )
            previous = band.below

    def increment_at(self, price: int) -> int:
        """The least raise over ``price`` (minor units): the greatest of ``min_increment``, the
        increment table's band for ``price`` (the last band above its bound) and
        ``increment_percent`` of ``price`` rounded up to a whole minor unit."""
        step = self.min_increment
        if self.increment_table is not None:
            band = self.increment_table[-1].increment
            for entry in self.increment_table:
                if entry.below is None or price < entry.below:
                    band = entry.increment
                    break
            step = max(step, band)
        if self.increment_percent is not None:
            # Exact decimal arithmetic: 5% of 1000 is 50, never 50.00000001 -> 51.
            share = Fraction(str(self.increment_percent)) * price / 100
            step = max(step, math.ceil(share))
        return step

    @property
    def every_bid_is_max(self) -> bool:
        """A plain bid counts as a proxy maximum (``bids_are_maxima``)."""
        return bool(self.bids_are_maxima)

    @property
    def dutch_floor(self) -> int:
        """The Dutch clock's public floor (minor units): ``floor_price``, else 1."""
        return self.floor_price if self.floor_price is not None else 1

    def for_method(self, method: Method, now: float) -> Rules:
        """Check the rules make sense for ``method`` at ``now`` and resolve relative times.

        Refuses (``InvalidRules`` naming the field) every rule that makes the auction impossible
        or absurd: a close in the past or before the opening, an opening far in the past, a
        Dutch window shorter than one tick, a tick under ``MIN_TICK_SECONDS``, rules of another
        method, a reserve no Dutch clock price can reach, an ``expected_bids`` that can never
        make ``min_bidders``... An ``opens_at`` up to ``OPENS_AT_GRACE_SECONDS`` in the past
        is taken as ``now``.
        """
        if self.closes_at is not None and self.closes_at <= now:
            raise _invalid(
                "closes_at",
                f"is in the past ({utc_time(self.closes_at)}, house time {utc_time(now)})",
            )
        opens_at = now if self.opens_at is None else float(self.opens_at)
        if opens_at < now - OPENS_AT_GRACE_SECONDS:
            raise _invalid(
                "opens_at", f"is in the past ({utc_time(opens_at)}, house time {utc_time(now)})"
            )
        opens_at = max(opens_at, now)
        closes_at = self.closes_at
        if self.duration is not None:
            closes_at = opens_at + self.duration
        if closes_at is not None and closes_at <= opens_at:
            raise _invalid(
                "closes_at",
                "closes_at must be after opens_at: the auction must close after it opens",
            )
        if self.floor_price is not None and method is not Method.DUTCH:
            raise _invalid("floor_price", "applies to Dutch auctions only")
        if method is not Method.ENGLISH:
            for name in ("increment_table", "increment_percent"):
                if getattr(self, name) is not None:
                    raise _invalid(name, "applies to English auctions only")
            if self.bids_are_maxima:
                raise _invalid("bids_are_maxima", "applies to English auctions only")
        if self.decrement and method is not Method.DUTCH:
            raise _invalid("decrement", "applies to Dutch auctions only")
        if method is Method.ENGLISH:
            if closes_at is None and self.quiet_seconds is None:
                raise _invalid(
                    "closes_at", "an English auction needs closes_at, duration or quiet_seconds"
                )
            if self.soft_close is not None and closes_at is None:
                raise _invalid("soft_close", "needs a deadline (closes_at or duration)")
            if self.expected_bids is not None:
                raise _invalid("expected_bids", "applies to sealed-bid auctions only")
        elif method is Method.DUTCH:
            self._check_dutch(opens_at, closes_at)
        else:
            if closes_at is None and self.expected_bids is None:
                raise _invalid(
                    "closes_at", "a sealed auction needs closes_at, duration or expected_bids"
                )
            for name in ("soft_close", "quiet_seconds"):
                if getattr(self, name) is not None:
                    raise _invalid(name, "is not a sealed-bid rule")
            if self.expected_bids is not None:
                if self.max_bidders is not None and self.expected_bids > self.max_bidders:
                    raise _invalid("expected_bids", "cannot exceed max_bidders")
                if self.expected_bids < self.min_bidders:
                    raise _invalid(
                        "expected_bids",
                        "is below min_bidders: the auction would always close with too few",
                    )
        return _replace(self, opens_at=opens_at, closes_at=closes_at, duration=None)

    def _check_dutch(self, opens_at: float, closes_at: float | None) -> None:
        if self.decrement < 1:
            raise _invalid("decrement", "a Dutch auction needs a decrement of at least 1")
        if self.tick_seconds < MIN_TICK_SECONDS:
            raise _invalid(
                "tick_seconds", f"must be at least {MIN_TICK_SECONDS:g} s (ticks go to watchers)"
            )
        if self.starting_price < self.dutch_floor:
            raise _invalid(
                "starting_price", "must be at or above the Dutch clock's floor (floor_price)"
            )
        if self.reserve_price is not None and self.reserve_price > self.starting_price:
            raise _invalid(
                "reserve_price", "is above the starting price: no clock price could meet it"
            )
        if closes_at is not None and closes_at - opens_at < self.tick_seconds:
            raise _invalid("closes_at", "leaves a window shorter than one tick of the Dutch clock")
        if self.min_bidders != 1:
            raise _invalid("min_bidders", "must be 1: a Dutch auction is won by the first accept")
        for name in ("soft_close", "quiet_seconds", "expected_bids"):
            if getattr(self, name) is not None:
                raise _invalid(name, "is not a Dutch rule")

    def to_dict(self) -> dict[str, Any]:
        """The JSON-native form (the ledger hashes it: a field added later is omitted while
        unset, so older events keep their canonical bytes)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, SoftClose):
                value = {"window": value.window, "extension": value.extension, "cap": value.cap}
            elif f.name == "increment_table" and value is not None:
                value = [{"below": b.below, "increment": b.increment} for b in value]
            if value is None and f.name in _OMITTED_WHEN_UNSET:
                continue
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rules:
        """Build rules from a JSON-like mapping; unknown or ill-typed fields are refused."""
        if not isinstance(data, dict):
            raise _invalid("rules", "must be an object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise _invalid(unknown[0], f"unknown rule(s): {', '.join(unknown)}")  # names it
        kwargs = dict(data)
        sc = kwargs.get("soft_close")
        if sc is not None:
            if not isinstance(sc, dict) or set(sc) != {"window", "extension", "cap"}:
                raise _invalid("soft_close", "needs exactly window, extension and cap")
            kwargs["soft_close"] = SoftClose(**sc)
        if kwargs.get("increment_table") is not None:
            kwargs["increment_table"] = _bands(kwargs["increment_table"])
        try:
            return cls(**kwargs)
        except TypeError as exc:  # a wrong type slipped past the field checks
            raise InvalidRules(str(exc)) from exc


_OMITTED_WHEN_UNSET = frozenset(
    {"floor_price", "increment_table", "increment_percent", "bids_are_maxima", "currency"}
)


def _bands(value: object) -> tuple[IncrementBand, ...]:
    """An increment table from JSON: ``[{"below": 100, "increment": 5}, ..., {"increment":
    100}]`` (the last band may leave ``below`` out: any price above the others)."""
    if not isinstance(value, list | tuple):
        raise _invalid("increment_table", "must be a list of {below, increment} bands")
    bands = []
    for i, band in enumerate(value):
        if isinstance(band, IncrementBand):
            bands.append(band)
            continue
        if (
            not isinstance(band, dict)
            or "increment" not in band
            or set(band)
            - {
                "below",
                "increment",
            }
        ):
            raise _invalid("increment_table", f"increment_table[{i}] must be {{below, increment}}")
        bands.append(IncrementBand(band.get("below"), band["increment"]))
    return tuple(bands)


def utc_time(epoch: float) -> str:
    """Epoch seconds as people read them in a house's message: ``2030-01-31 18:00:00 UTC``
    (the core knows no local time zone: faces show local times, ``auctionhouse.times``)."""
    try:
        moment = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return f"{epoch:.0f} s"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _invalid(field: str, reason: str) -> InvalidRules:
    """``InvalidRules`` naming ``field``: in its message (``reason`` is put after the field's
    name unless it names it already) and in the error's public ``field``."""
    message = reason if field in reason else f"{field} {reason}"
    return InvalidRules(message, field=field)


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
        raise _invalid(name, "must be an integer")
    if value < minimum:
        raise _invalid(name, f"must be at least {minimum}")


def check_amount(name: str, value: object) -> int:
    """An amount from outside: a positive int of minor units, else ``InvalidRequest``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidRequest(f"{name} must be an integer amount of minor units")
    if value < 1:
        raise InvalidRequest(f"{name} must be positive")
    return value
