"""Bad input to every public house function gets a typed error with a code, never a crash,
never a partial write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auctionhouse.errors import AuctionhouseError
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
rule_names = st.sampled_from(
    [
        "starting_price",
        "reserve_price",
        "min_increment",
        "decrement",
        "tick_seconds",
        "opens_at",
        "closes_at",
        "duration",
        "quiet_seconds",
        "soft_close",
        "expected_bids",
        "min_bidders",
        "max_bidders",
        "signed_bids",
        "increment_table",
        "increment_percent",
        "bids_are_maxima",
        "currency",
        "bogus",
    ]
)
methods = st.one_of(st.sampled_from(["english", "dutch", "fpsb", "vickrey"]), junk)


def _house(tmp: Path) -> AuctionHouse:
    cfg = HouseConfig.for_tests(account_rate=1e9, account_burst=1e9, max_concurrent_auctions=10**6)
    h = AuctionHouse.in_memory(config=cfg, clock=FakeClock())
    h.create_account("seller", "correct horse")
    h.create_account("ann", "correct horse")
    return h


HOUSE: AuctionHouse | None = None


def house() -> AuctionHouse:
    global HOUSE
    if HOUSE is None:
        HOUSE = _house(Path("."))
    return HOUSE


def must_be_clean(fn: Any, *args: Any, **kwargs: Any) -> None:
    h = house()
    before = {aid: h.state(aid).snapshot() for aid in h.auction_ids()}
    heads = h.ledger.heads()
    try:
        fn(*args, **kwargs)
    except AuctionhouseError as exc:
        assert exc.code and exc.message
        assert {aid: h.state(aid).snapshot() for aid in before} == before
        assert {a: v for a, v in h.ledger.heads().items() if a in before} == heads


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method=methods,
    item=st.one_of(st.text(max_size=10), junk),
    rules=st.one_of(st.dictionaries(rule_names, junk, max_size=5), junk),
)
def test_create_auction_with_anything(method: Any, item: Any, rules: Any) -> None:
    must_be_clean(house().create_auction, "seller", item, method, rules)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method=st.sampled_from(["english", "dutch", "fpsb", "vickrey"]),
    bidder=st.one_of(st.just("ann"), st.just("seller"), junk),
    auction=st.one_of(st.just("1"), junk),
    amount=junk,
    proxy=junk,
    nonce=junk,
    ts=junk,
    signature=st.one_of(st.none(), st.text(max_size=130), junk),
)
def test_place_bid_with_anything(
    method: str,
    bidder: Any,
    auction: Any,
    amount: Any,
    proxy: Any,
    nonce: Any,
    ts: Any,
    signature: Any,
) -> None:
    h = house()
    rules = {"duration": 100} if method != "dutch" else {"starting_price": 100, "decrement": 1}
    aid = h.create_auction("seller", "lot", method, rules)["id"]
    target = aid if auction == "1" else auction
    must_be_clean(
        h.place_bid,
        bidder,
        target,
        amount,
        proxy_max=proxy,
        nonce=nonce,
        ts=ts,
        signature=signature,
    )


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=junk, password=junk, key=junk, who=junk, aid=junk)
def test_accounts_and_admin_verbs_with_anything(
    name: Any, password: Any, key: Any, who: Any, aid: Any
) -> None:
    h = house()
    for call in (
        lambda: h.create_account(name, password, public_key=key),
        lambda: h.login(name, password),
        lambda: h.authenticate(name),
        lambda: h.register_key("ann", key),
        lambda: h.cancel_auction(who, aid),
        lambda: h.pause_auction(who, aid),
        lambda: h.resume_auction(who, aid),
        lambda: h.view(aid),
        lambda: h.events(aid, 0),
        lambda: h.reputation(who),
        lambda: h.list_auctions(state=name, method=password, limit=5),
    ):
        must_be_clean(call)
