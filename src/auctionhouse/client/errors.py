"""Errors the SDK raises besides the house's own: an error body becomes its ``errors`` class.

The house answers ``{"error": {"code", "message", ...fields}}``; :func:`error_from_body` turns that
into the exception of ``auctionhouse.errors`` with the same ``code`` (so ``BidTooLow`` in Python is
``bid_too_low`` on the wire). Two codes are the client's own: ``house_unreachable`` (no
connection, a timeout, a dropped socket) and ``bad_response`` (an answer that is not the API's).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auctionhouse.errors import (
    AuctionhouseError,
    BadResponse,
    Forbidden,
    HouseUnreachable,
    InvalidRequest,
    NotFound,
    Overloaded,
    RateLimited,
    RuleViolation,
    Unauthorized,
    all_codes,
)

__all__ = ["BadResponse", "HouseUnreachable", "error_from_body"]

# An unknown code (a newer house) becomes the nearest family by HTTP status, code kept.
_BY_STATUS: dict[int, type[AuctionhouseError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: RuleViolation,
    422: InvalidRequest,
    429: RateLimited,
    503: Overloaded,
}


def error_from_body(
    status: int, body: object, retry_after_header: str | None = None
) -> AuctionhouseError:
    """The exception for an error answer: HTTP ``status`` (0 for WebSocket), JSON ``body``."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping) or not isinstance(error.get("code"), str):
        if status == 404:
            return NotFound("the house has no such resource")
        return BadResponse(f"the house answered HTTP {status} without an error body")
    code: str = error["code"]
    message = str(error.get("message") or code)
    fields = {k: v for k, v in error.items() if k not in ("code", "message")}
    cls = all_codes().get(code)
    if cls is None:  # a code this client does not know: its family, keeping the house's code
        exc = _build(_BY_STATUS.get(status, AuctionhouseError), message, fields)
        setattr(exc, "code", code)  # noqa: B010 (an instance attribute over the ClassVar)
        return exc
    if issubclass(cls, RateLimited):
        retry_after = fields.get("retry_after", retry_after_header)
        try:
            seconds = float(retry_after) if retry_after is not None else 1.0
        except (TypeError, ValueError):
            seconds = 1.0
        return cls(message, retry_after=seconds)
    return _build(cls, message, fields)


def _build(cls: type[AuctionhouseError], message: str, fields: dict[str, Any]) -> AuctionhouseError:
    try:
        return cls(message, **fields)
    except TypeError:  # a subclass with its own signature: keep the fields anyway
        exc = cls(message)
        exc.fields = fields
        return exc
