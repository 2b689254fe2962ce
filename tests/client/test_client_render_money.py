"""What the CLI draws for people (issue 17): amounts in the auction's currency, the history
saying whose maximum moved the price, your part in one word, one line per watched change."""

from __future__ import annotations

from auctionhouse.client import render
from auctionhouse.client.render import (
    bid_lines,
    change_line,
    increment_lines,
    money,
    standing,
)


def bid(seq: int, who: str, amount: int | None, price: int, leader: str) -> dict[str, object]:
    return {"type": "BidPlaced", "seq": seq, "bidder": who, "amount": amount, "price": price,
            "leader": leader}  # fmt: skip


def test_the_history_says_who_really_moved_the_price() -> None:
    events = [
        bid(2, "alice", None, 100, "alice"),  # a proxy bid: its maximum is secret
        bid(3, "bob", 500, 501, "alice"),  # alice's proxy answered bob's bid
        bid(4, "alice", None, 501, "alice"),  # alice raised her maximum: no price move
        bid(5, "bob", 900, 900, "bob"),
    ]
    assert bid_lines(events, "EUR", "english") == [
        "#2  alice bid up to a secret maximum: alice leads at €1.00",
        "#3  bob bid €5.00; alice's maximum answered: alice leads at €5.01",
        "#4  alice raised their maximum (price stays €5.01)",
        "#5  bob bid €9.00: bob leads at €9.00",
    ]
    assert bid_lines([bid(3, "kim", 700, 650, "kim")], "JPY", "dutch") == [
        "#3  kim took it at ¥650"
    ]


def test_your_part_in_a_word() -> None:
    assert standing({"bids": [100], "leading": True}, {}) == "you lead"
    assert standing({"bids": [100], "leading": False}, {}) == "outbid"
    assert standing({"bids": [100], "won": True}, {"result": {}}) == "you won"
    assert standing({"bids": [100], "won": False}, {"result": {}}) == "you did not win"
    assert standing({"bids": [100], "leading": None}, {}) == "your bid is in"  # sealed
    assert standing({"bids": []}, {}) is None


def test_increments_in_words_and_the_locale() -> None:
    table = [{"below": 100, "increment": 5}, {"increment": 25}]
    assert increment_lines({"increment_table": table, "min_increment": 1}, "EUR") == [
        "increment under €1.00: +€0.05",
        "increment above: +€0.25",
    ]
    assert increment_lines({"increment_percent": 2.5, "min_increment": 10}, "EUR") == [
        "increment 2.5% of the price (at least €0.10)"
    ]
    render.use_locale("de_DE")
    try:
        assert money(123456, "EUR") == "1.234,56\xa0€"
    finally:
        render.use_locale("en")
    assert money(123456, "EUR") == "€1,234.56"


def test_one_line_per_change() -> None:
    view = {"id": "7", "method": "english", "currency": "EUR", "state": "open", "result": None}
    message = {"type": "event", "auction": "7", "event": bid(4, "bob", 300, 301, "ann")}
    line = change_line(message, view, {"bids": [200], "leading": True})
    assert line is not None
    assert line.endswith("auction 7: bob bid €3.00; ann's maximum answered: ann leads at €3.01"
                         " (you lead)")  # fmt: skip
    tick = change_line({"type": "tick", "auction": "7", "price": 90, "server_time": 0}, view, None)
    assert tick is not None and tick.endswith("auction 7: clock price €0.90")
    assert change_line({"type": "subscribed"}, view, None) is None
