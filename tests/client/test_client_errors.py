"""Error answers become the ``auctionhouse.errors`` class of their code, fields kept."""

from __future__ import annotations

import pytest

from auctionhouse.client import BadResponse, error_from_body
from auctionhouse.errors import (
    AuctionhouseError,
    BidTooLow,
    NotFound,
    Overloaded,
    RateLimited,
    StaleTimestamp,
    all_codes,
)


@pytest.mark.parametrize("code", sorted(all_codes()))
def test_every_code_maps_to_its_class(code: str) -> None:
    cls = all_codes()[code]
    body = {"error": {"code": code, "message": f"a {code}"}}
    exc = error_from_body(cls.http_status, body)
    assert type(exc) is cls
    assert exc.code == code
    assert exc.message == f"a {code}"


def test_fields_survive() -> None:
    exc = error_from_body(409, {"error": {"code": "bid_too_low", "message": "m", "minimum": 120}})
    assert isinstance(exc, BidTooLow)
    assert exc.fields == {"minimum": 120}
    stale = error_from_body(
        409, {"error": {"code": "stale_timestamp", "message": "m", "server_time": 5.5}}
    )
    assert isinstance(stale, StaleTimestamp) and stale.fields["server_time"] == 5.5


def test_rate_limited_takes_retry_after_from_body_or_header() -> None:
    body = {"error": {"code": "rate_limited", "message": "slow down", "retry_after": 2.5}}
    exc = error_from_body(429, body)
    assert isinstance(exc, RateLimited) and exc.retry_after == 2.5
    bare = {"error": {"code": "rate_limited", "message": "slow down"}}
    from_header = error_from_body(429, bare, "7")
    assert isinstance(from_header, RateLimited) and from_header.retry_after == 7.0


def test_unknown_code_keeps_the_code_in_its_family() -> None:
    exc = error_from_body(503, {"error": {"code": "draining", "message": "going down"}})
    assert isinstance(exc, Overloaded)
    assert exc.code == "draining"
    odd = error_from_body(500, {"error": {"code": "internal_error", "message": "oops"}})
    assert type(odd) is AuctionhouseError and odd.code == "internal_error"


@pytest.mark.parametrize(
    "body", [None, "text", {"detail": "x"}, {"error": "x"}, {"error": {"code": 5}}]
)
def test_a_body_that_is_not_the_api_is_a_bad_response(body: object) -> None:
    assert isinstance(error_from_body(502, body), BadResponse)
    assert isinstance(error_from_body(404, body), NotFound)
