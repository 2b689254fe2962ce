"""Request bodies (pydantic), so the OpenAPI schema says what each endpoint takes.

Strict types: an amount is a JSON integer, never a string or a float that happens to be whole;
``ts`` stays the number the client signed (an int stays an int, so the signed bytes match).
Bounds keep every number storable (SQLite integers are 64-bit). The rules core checks meaning.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt

MAX_AMOUNT = 2**53 - 1  # exact in every JSON reader, including JavaScript's
MAX_SECONDS = 10**11  # year 5138; larger times are mistakes

Amount = Annotated[StrictInt, Field(ge=1, le=MAX_AMOUNT)]
Money = Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)]
Count = Annotated[StrictInt, Field(ge=1, le=1_000_000)]
Seconds = Annotated[StrictInt | StrictFloat, Field(gt=0, le=MAX_SECONDS)]
Instant = Annotated[StrictInt | StrictFloat, Field(ge=0, le=MAX_SECONDS)]
# pydantic-core's regex engine (Rust) anchors "$" at the very end of the text (never before a
# final newline, unlike Python's re), and the length of exactly 64 bounds it too; the house then
# parses the key with strict_hex (ledger/keys.py), the full-match check every key goes through.
HexKey = Annotated[str, Field(min_length=64, max_length=64, pattern=r"^[0-9a-fA-F]{64}$")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class NewAccount(Body):
    name: Annotated[str, Field(min_length=1, max_length=32, examples=["alice"])]
    password: Annotated[str, Field(min_length=8, max_length=1024)]
    public_key: HexKey | None = None


class NewSession(Body):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class NewPassword(Body):
    current_password: Annotated[str, Field(min_length=1, max_length=1024)]
    new_password: Annotated[str, Field(min_length=8, max_length=1024)]


class PublicKey(Body):
    public_key: HexKey


class Item(Body):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=5000)] = ""
    # Digests from POST /api/v1/photos, in the order to show them (at most 8).
    photos: Annotated[
        list[Annotated[str, Field(pattern="^[0-9a-f]{64}$")]], Field(max_length=8)
    ] = Field(default_factory=list)


class SoftCloseRules(Body):
    window: Seconds
    extension: Seconds
    cap: Seconds


class IncrementBandRules(Body):
    """One band of an increment table: below ``below`` (omitted: any price) raise by
    ``increment`` (minor units). The rules core checks the bands rise (``invalid_rules``)."""

    below: Money | None = None
    increment: Money


class AuctionRules(Body):
    """Omitted fields take the rules core's defaults (see docs/api.md)."""

    starting_price: Money | None = None
    reserve_price: Money | None = None  # 0: no reserve
    floor_price: Amount | None = None  # Dutch: the clock's public floor (default 1)
    min_increment: Amount | None = None
    decrement: Money | None = None
    tick_seconds: Seconds | None = None
    opens_at: Instant | None = None
    closes_at: Instant | None = None
    duration: Seconds | None = None
    quiet_seconds: Seconds | None = None
    soft_close: SoftCloseRules | None = None
    expected_bids: Count | None = None
    min_bidders: Count | None = None
    max_bidders: Count | None = None
    signed_bids: StrictBool | None = None
    # English: increments by price band or as a percentage; every bid a proxy maximum.
    increment_table: Annotated[list[IncrementBandRules], Field(max_length=100)] | None = None
    increment_percent: Annotated[StrictInt | StrictFloat, Field(ge=-1000, le=1000)] | None = None
    bids_are_maxima: StrictBool | None = None
    # ISO 4217; the house sets its own and refuses another (invalid_rules, field currency).
    currency: Annotated[str, Field(min_length=1, max_length=8)] | None = None


class NewAuction(Body):
    item: Item
    method: Literal["english", "dutch", "fpsb", "vickrey"]
    rules: AuctionRules = Field(default_factory=AuctionRules)


class BidFields(NamedTuple):
    """A checked bid, as the house takes it."""

    amount: int
    nonce: int | None = None
    ts: int | float | None = None
    signature: str | None = None
    proxy_max: int | None = None


class NewBid(Body):
    """A bid; ``nonce``, ``ts`` and ``signature`` make it a signed bid (docs/api.md)."""

    amount: Amount
    nonce: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)] | None = None
    ts: Instant | None = None
    signature: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    proxy_max: Amount | None = None

    def fields(self) -> BidFields:
        return BidFields(self.amount, self.nonce, self.ts, self.signature, self.proxy_max)


class CancelRequest(Body):
    reason: Annotated[str, Field(max_length=500)] = ""


def rules_dict(rules: AuctionRules) -> dict[str, object]:
    """Only the rules the seller gave, as the core's ``Rules.from_dict`` takes them."""
    return rules.model_dump(exclude_none=True)


def _int_in(value: object, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def quick_bid(fields: dict[str, object]) -> BidFields | None:
    """The WebSocket's hot path: a well-formed bid without pydantic's machinery, or None (then
    ``NewBid.model_validate`` gives the exact error). Same bounds as ``NewBid``; a test holds
    the two to agreement."""
    amount = fields.get("amount")
    nonce = fields.get("nonce")
    ts = fields.get("ts")
    signature = fields.get("signature")
    proxy_max = fields.get("proxy_max")
    if not _int_in(amount, 1, MAX_AMOUNT):
        return None
    if nonce is not None and not _int_in(nonce, 0, 2**63 - 1):
        return None
    if ts is not None and not (
        (type(ts) is int or (type(ts) is float and math.isfinite(ts))) and 0 <= ts <= MAX_SECONDS
    ):
        return None
    if signature is not None and not (type(signature) is str and 1 <= len(signature) <= 256):
        return None
    if proxy_max is not None and not _int_in(proxy_max, 1, MAX_AMOUNT):
        return None
    if len(fields) != sum(k in fields for k in _BID_KEYS):
        return None
    return BidFields(amount, nonce, ts, signature, proxy_max)  # type: ignore[arg-type]


_BID_KEYS = ("amount", "nonce", "ts", "signature", "proxy_max")
