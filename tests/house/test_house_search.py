"""Finding auctions: full-text search, filters and sort orders, as a buyer uses them."""

from __future__ import annotations

from pathlib import Path

import pytest

from auctionhouse.errors import InvalidRequest
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig

CFG = HouseConfig.for_tests(account_rate=1e9, account_burst=1e9, min_bidders=1)


def _house(path: Path, clock: FakeClock, **kw: object) -> AuctionHouse:
    return AuctionHouse.open(path, config=CFG, clock=clock, **kw)  # type: ignore[arg-type]


def _stock(h: AuctionHouse, clock: FakeClock) -> dict[str, str]:
    """Five auctions made one second apart; returns item name -> auction id."""
    for name in ("sam", "sue", "ann", "bob"):
        h.create_account(name, "correct horse")
    made = {}
    for seller, item, description, method, rules in [
        (
            "sam",
            "Blue glass vase",
            "Murano, 1960s",
            "english",
            {"starting_price": 500, "duration": 300},
        ),
        ("sue", "Oak table", "seats six", "english", {"starting_price": 9000, "duration": 100}),
        (
            "sam",
            "Pair of vases",
            "white porcelain",
            "fpsb",
            {"starting_price": 100, "duration": 200},
        ),
        (
            "sue",
            "Reading lamp",
            "brass",
            "dutch",
            {"starting_price": 3000, "decrement": 10, "tick_seconds": 10},
        ),
        ("sam", "Café chairs", "four, oak", "english", {"starting_price": 2000, "duration": 50}),
    ]:
        made[item] = h.create_auction(seller, item, method, rules, description=description)["id"]
        clock.advance(1)
    h.place_bid("ann", made["Blue glass vase"], 500)
    h.place_bid("bob", made["Blue glass vase"], 700)
    h.place_bid("ann", made["Oak table"], 9000)
    return made


def _names(h: AuctionHouse, **kw: object) -> list[str]:
    views, _total = h.find_auctions(**kw)  # type: ignore[arg-type]
    return [v["item"]["name"] for v in views]


def test_search_finds_words_in_names_and_descriptions(tmp_path: Path, clock: FakeClock) -> None:
    h = _house(tmp_path / "h.db", clock)
    _stock(h, clock)
    assert _names(h, query="vase") == ["Pair of vases", "Blue glass vase"]
    assert _names(h, query="oak") == ["Café chairs", "Oak table"]  # "four, oak": description
    assert _names(h, query="cafe CHAIRS") == ["Café chairs"]
    assert _names(h, query="oak", seller="sue") == ["Oak table"]
    assert _names(h, query="vase", method="fpsb") == ["Pair of vases"]
    assert _names(h, query="nothing like it") == []
    views, total = h.find_auctions(query="vase", limit=1)
    assert (len(views), total) == (1, 2)
    assert h.count_auctions(query="oak") == 2
    assert _names(h, query="   ") == _names(h)  # a blank search is no search


def test_sort_orders(tmp_path: Path, clock: FakeClock) -> None:
    h = _house(tmp_path / "h.db", clock)
    _stock(h, clock)
    assert _names(h) == [
        "Café chairs",
        "Reading lamp",
        "Pair of vases",
        "Oak table",
        "Blue glass vase",
    ]  # newest first
    # ending soonest: the chairs close at +54 s, the table at +101, the vases at +202 and
    # the glass vase at +300; the Dutch clock ends when it reaches its floor (~+3000 s)
    assert _names(h, sort="ending_soonest") == [
        "Café chairs",
        "Oak table",
        "Pair of vases",
        "Blue glass vase",
        "Reading lamp",
    ]
    # listed price: the leading bid, else the starting price; a Dutch clock's current price
    assert _names(h, sort="price_low") == [
        "Pair of vases",
        "Blue glass vase",
        "Café chairs",
        "Reading lamp",
        "Oak table",
    ]
    assert _names(h, sort="price_high")[0] == "Oak table"
    assert _names(h, sort="most_bids")[:2] == ["Blue glass vase", "Oak table"]
    assert _names(h, sort="price_low", offset=1, limit=2) == ["Blue glass vase", "Café chairs"]
    clock.advance(60)  # the chairs are past their close: closed ones go last
    assert _names(h, sort="ending_soonest")[0] == "Oak table"
    assert _names(h, sort="ending_soonest")[-1] == "Café chairs"
    assert _names(h, sort="ending_soonest", state="closed") == ["Café chairs"]


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"sort": "cheapest"}, "sort"),
        ({"state": "finished"}, "state"),
        ({"method": "japanese"}, "method"),
        ({"query": "x" * 201}, None),
        ({"query": 5}, None),
        ({"limit": -1}, None),
    ],
)
def test_bad_filters_are_refused_with_a_clear_error(
    tmp_path: Path, clock: FakeClock, kw: dict[str, object], field: str | None
) -> None:
    h = _house(tmp_path / "h.db", clock)
    with pytest.raises(InvalidRequest) as caught:
        h.find_auctions(**kw)  # type: ignore[arg-type]
    assert caught.value.code == "invalid_request"
    if field:
        assert caught.value.fields["field"] == field
        assert field in caught.value.message


def test_items_are_found_after_a_restart_from_the_ledger_alone(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Words are matched in memory, rebuilt from the replay: a restarted house, and one read
    only, find what the house found (an old file's search tables are left as they are)."""
    db = tmp_path / "h.db"
    h = _house(db, clock)
    _stock(h, clock)
    h.close()
    read_only = _house(db, clock, read_only=True)
    assert _names(read_only, query="vase") == ["Pair of vases", "Blue glass vase"]
    read_only.close()
    again = _house(db, clock)
    assert _names(again, query="vase") == ["Pair of vases", "Blue glass vase"]
    again.close()
