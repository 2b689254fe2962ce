"""The WebSocket's fast bid check agrees with the pydantic model on every input."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from auctionhouse.server.models import MAX_AMOUNT, MAX_SECONDS, NewBid, quick_bid

edges = st.sampled_from(
    [0, 1, -1, MAX_AMOUNT, MAX_AMOUNT + 1, 2**63 - 1, 2**63, MAX_SECONDS, MAX_SECONDS + 1]
)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    edges,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=300),
    st.lists(st.integers(), max_size=2),
)
keys = st.sampled_from(["amount", "nonce", "ts", "signature", "proxy_max", "extra"])


@settings(max_examples=2000, deadline=None)
@given(st.dictionaries(keys, values, max_size=6))
def test_quick_bid_agrees_with_the_model(fields: dict[str, Any]) -> None:
    quick = quick_bid(fields)
    try:
        model = NewBid.model_validate(fields)
    except ValidationError:
        assert quick is None
        return
    assert quick is not None and quick == model.fields()
    assert type(quick.ts) is type(model.ts)  # an int ts stays an int: the signed bytes match


def test_quick_bid_takes_a_signed_bid() -> None:
    body = {"amount": 100, "nonce": 7, "ts": 1_700_000_000.25, "signature": "ab" * 64}
    assert quick_bid(body) == NewBid.model_validate(body).fields()
