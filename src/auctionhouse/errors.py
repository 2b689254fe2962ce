"""Every error auctionhouse raises on purpose, with a stable ``code``.

This module is a leaf: it imports nothing of the project, so every layer may use it.
Faces map an error to their wire format once (HTTP status in ``server/``, one line in the CLI);
``code`` is the stable contract, ``message`` is for people, ``http_status`` is a hint for faces.

The tree::

    AuctionhouseError                    (code: error)
    +-- InvalidRequest                   invalid_request     400  malformed input
    |   +-- InvalidRules                 invalid_rules       400  auction rules that cannot work
    |   +-- ConfigError                  config_error        400  a bad setting or config file
    |   |   +-- UnknownCurrency          unknown_currency    400  not an ISO 4217 currency code
    |   |   +-- UnknownLocale            unknown_locale      400  a locale Babel does not know
    |   +-- TooLarge                     too_large           413  a request body over the limit
    |   +-- InvalidAmount                invalid_amount      400  money a person typed that is
    |                                                             not an amount of the currency
    |   +-- InvalidOrder                 invalid_order       400  a market order's side, price
    |                                                             or quantity out of its limits
    |   +-- InvalidPhoto                 invalid_photo       400  not a JPEG/PNG/WebP that reads
    |       +-- PhotoTooLarge            photo_too_large     413  over 5 MB, or a decompression
    |                                                             bomb (too many pixels)
    +-- RuleViolation                    rule_violation      409  a valid command the rules refuse
    |   +-- BidTooLow                    bid_too_low         409
    |   +-- AuctionNotOpen               auction_not_open    409  before opens_at
    |   +-- AuctionClosed                auction_closed      409  closed or past its close
    |   +-- AuctionPaused                auction_paused      409
    |   +-- AlreadyBid                   already_bid         409  second sealed bid
    |   +-- AuctionFull                  auction_full        409  max_bidders reached
    |   +-- SellerCannotBid              seller_cannot_bid   403
    |   +-- CannotCancel                 cannot_cancel       409  seller after the first bid
    |   +-- BudgetExceeded               budget_exceeded     409  an agent's own budget guard
    |       +-- OverMandate              over_mandate        409  an agent bid outside its mandate
    |   +-- MarketClosedError            market_closed       409  an order on a closed market
    +-- SecurityError                    security_error      401
    |   +-- Unauthorized                 unauthorized        401  no or bad credentials/token
    |   +-- Forbidden                    forbidden           403  authenticated, not allowed
    |   |   +-- NotYourOrder             not_your_order      403  a cancel of another's order
    |   +-- BadSignature                 bad_signature       401
    |   +-- ReplayedNonce                replayed_nonce      409
    |   +-- StaleTimestamp               stale_timestamp     409
    |   +-- InvalidMandate               invalid_mandate     403  a mandate fails its check
    |   +-- MandateExpired               mandate_expired     409  past expiry or return-by
    |   +-- ReplayedHop                  replayed_hop        409  an agent's hop seen already
    |   +-- AgentRefused                 agent_refused       403  a site refuses the visitor
    |   +-- SignatureRequired            signature_required  401
    +-- RateLimited                      rate_limited        429  carries retry_after seconds
    |   +-- LoginThrottled               login_throttled     429  too many failed logins
    +-- QuotaExceeded                    quota_exceeded      429
    +-- Overloaded                       overloaded          503  a full queue refuses work
    |   +-- NoQuorum                     no_quorum           503  a peer cannot reach a majority
    +-- ReadOnly                         read_only           503  a house serving --read-only
    +-- NotFound                         not_found           404
    +-- MethodNotAllowed                 method_not_allowed  405  a path without that HTTP method
    +-- Conflict                         conflict            409  e.g. a name taken
    +-- HouseUnreachable                 house_unreachable   503  (client) no connection, timeout
    +-- BadResponse                      bad_response        502  (client) not the API's answer
    +-- LedgerError                      ledger_error        500
        +-- SequenceConflict             sequence_conflict   500  seq is not last + 1
        +-- TamperDetected               tamper_detected     500  a chain, seal, checkpoint or
        |                                                         account row fails to verify
        +-- HouseKeyMissing              house_key_missing   500  a ledger with events, no key
"""

from __future__ import annotations

from typing import Any, ClassVar


class AuctionhouseError(Exception):
    """Base of every deliberate error. ``code`` is stable; ``message`` is human text."""

    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 400

    def __init_subclass__(
        cls, *, code: str | None = None, http_status: int | None = None, **kwargs: Any
    ) -> None:
        """A subclass names its stable ``code`` (and its ``http_status`` when it is not its
        parent's) in its class statement: ``class BidTooLow(RuleViolation, code="bid_too_low")``."""
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code
        if http_status is not None:
            cls.http_status = http_status

    def __init__(self, message: str | None = None, **fields: Any) -> None:
        self.message = message or self.__class__.__doc__ or self.code
        self.fields = fields
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        """The wire shape: ``{"code", "message"}`` plus any public fields."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        body.update({k: v for k, v in self.fields.items() if v is not None})
        return body

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class InvalidRequest(AuctionhouseError, code="invalid_request", http_status=400):
    """The request is malformed or a field is invalid."""


class InvalidRules(InvalidRequest, code="invalid_rules"):
    """The auction rules are inconsistent."""


class InvalidPhoto(InvalidRequest, code="invalid_photo"):
    """The upload is not a JPEG, PNG or WebP image that can be read."""


class PhotoTooLarge(InvalidPhoto, code="photo_too_large", http_status=413):
    """The photo has too many bytes or pixels (``limit``)."""


class ConfigError(InvalidRequest, code="config_error"):
    """A setting is invalid."""


class UnknownCurrency(ConfigError, code="unknown_currency"):
    """A house currency that is not an ISO 4217 code CLDR knows (``--currency XYZ``)."""


class UnknownLocale(ConfigError, code="unknown_locale"):
    """A house locale Babel does not know (``--locale xx_YY``)."""


class TooLarge(InvalidRequest, code="too_large", http_status=413):
    """The request body is too large."""


class InvalidAmount(InvalidRequest, code="invalid_amount"):
    """An amount of money typed as a decimal is not an amount of the currency (not a number,
    negative, or more decimals than the currency has). Fields: ``field``, ``currency``,
    ``decimals`` (the currency's minor-unit digits)."""


class InvalidOrder(InvalidRequest, code="invalid_order"):
    """A market order's side, price or quantity is outside the market's limits."""


class RuleViolation(AuctionhouseError, code="rule_violation", http_status=409):
    """The auction's rules refuse this command."""


class BidTooLow(RuleViolation, code="bid_too_low"):
    """The bid is below the minimum acceptable amount."""


class AuctionNotOpen(RuleViolation, code="auction_not_open"):
    """The auction is not open yet."""


class AuctionClosed(RuleViolation, code="auction_closed"):
    """The auction is closed."""


class AuctionPaused(RuleViolation, code="auction_paused"):
    """The auction is paused by an admin."""


class AlreadyBid(RuleViolation, code="already_bid"):
    """Only one sealed bid per bidder is allowed."""


class AuctionFull(RuleViolation, code="auction_full"):
    """The auction has reached its maximum number of bidders."""


class SellerCannotBid(RuleViolation, code="seller_cannot_bid", http_status=403):
    """A seller cannot bid in its own auction."""


class CannotCancel(RuleViolation, code="cannot_cancel"):
    """The auction cannot be cancelled now."""


class BudgetExceeded(RuleViolation, code="budget_exceeded"):
    """The bid would exceed the bidder's budget."""


class MarketClosedError(RuleViolation, code="market_closed"):
    """The market is closed: it takes no order and no cancel."""


class SecurityError(AuctionhouseError, code="security_error", http_status=401):
    """Authentication or authorisation failed."""


class Unauthorized(SecurityError, code="unauthorized"):
    """Missing or invalid credentials."""


class Forbidden(SecurityError, code="forbidden", http_status=403):
    """Not allowed for this account."""


class NotYourOrder(Forbidden, code="not_your_order"):
    """Only an order's own trader (or an admin) may cancel it."""


class BadSignature(SecurityError, code="bad_signature"):
    """The bid signature does not verify with the bidder's key."""


class SignatureRequired(SecurityError, code="signature_required"):
    """This auction requires signed bids."""


class ReplayedNonce(SecurityError, code="replayed_nonce", http_status=409):
    """The nonce is not greater than the last one used by this account."""


class StaleTimestamp(SecurityError, code="stale_timestamp", http_status=409):
    """The bid timestamp is outside the allowed clock skew."""


class RateLimited(AuctionhouseError, code="rate_limited", http_status=429):
    """Too many requests; retry later."""

    def __init__(self, message: str | None = None, *, retry_after: float = 1.0) -> None:
        super().__init__(message, retry_after=round(retry_after, 3))
        self.retry_after = retry_after


class LoginThrottled(RateLimited, code="login_throttled"):
    """Too many failed logins from this address or for this account; retry after a while."""


class QuotaExceeded(AuctionhouseError, code="quota_exceeded", http_status=429):
    """A quota is exhausted."""


class Overloaded(AuctionhouseError, code="overloaded", http_status=503):
    """The house is overloaded; retry later."""


class NoQuorum(Overloaded, code="no_quorum", http_status=503):
    """This peer cannot reach a majority of its replica group: writes are refused until it can
    (a minority never decides alone)."""


class ReadOnly(AuctionhouseError, code="read_only", http_status=503):
    """The house serves a ledger for inspection (``serve --read-only``) and writes nothing."""


class NotFound(AuctionhouseError, code="not_found", http_status=404):
    """No such object."""


class MethodNotAllowed(AuctionhouseError, code="method_not_allowed", http_status=405):
    """This path does not answer that HTTP method."""


class HouseUnreachable(AuctionhouseError, code="house_unreachable", http_status=503):
    """The house could not be reached."""


class BadResponse(AuctionhouseError, code="bad_response", http_status=502):
    """The house answered something that is not the auctionhouse API."""


class Conflict(AuctionhouseError, code="conflict", http_status=409):
    """The request conflicts with existing state."""


class LedgerError(AuctionhouseError, code="ledger_error", http_status=500):
    """The ledger could not record or read events."""


class SequenceConflict(LedgerError, code="sequence_conflict"):
    """An event's sequence number is not the next one of its auction."""


class TamperDetected(LedgerError, code="tamper_detected"):
    """The ledger's hash chain or signatures do not verify."""


class HouseKeyMissing(LedgerError, code="house_key_missing"):
    """The house key file is gone while the ledger holds records it signed: a new key would make
    every seal and checkpoint unverifiable, so none is ever made in its place."""


def all_codes() -> dict[str, type[AuctionhouseError]]:
    """Every stable code and its class (for docs, metrics labels and tests)."""
    out: dict[str, type[AuctionhouseError]] = {}
    stack: list[type[AuctionhouseError]] = [AuctionhouseError]
    while stack:
        cls = stack.pop()
        out[cls.code] = cls
        stack.extend(cls.__subclasses__())
    return out


# ---------------------------------------------------------------- mobile agents (seed 004)


class OverMandate(BudgetExceeded, code="over_mandate"):
    """A mobile agent's bid is above what its signed mandate allows at this site."""


class InvalidMandate(SecurityError, code="invalid_mandate", http_status=403):
    """A mobile agent's mandate is malformed or its owner's signature does not hold."""


class MandateExpired(SecurityError, code="mandate_expired", http_status=409):
    """The mobile agent's mandate has expired (or its return-by time has passed)."""


class ReplayedHop(SecurityError, code="replayed_hop", http_status=409):
    """This mobile agent already arrived here on this hop (or a later one): a replay."""


class AgentRefused(SecurityError, code="agent_refused", http_status=403):
    """This site's policy does not accept this visiting agent."""
