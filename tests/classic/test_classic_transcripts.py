"""Replays the transcripts of seed 003 against a real ``auctionhouse classic serve`` process.

One server serves every test of this module in turn (as the seed's server serves seller after
seller); each test checks its auction in the ledger and that the ledger still audits clean.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from classic_helpers import (
    BIDDING,
    BUSY,
    GOODBYE,
    SELLER_GREETING,
    Peer,
    ServerProcess,
    ledger_state,
    open_round,
    place_bids,
)

from auctionhouse.auction import Method, Outcome
from auctionhouse.ledger import audit_database

pytestmark = pytest.mark.e2e

SOLD_TO_LOSER = (
    "\nServer: Auction finished!\nUnfortunately you did not win in the last round.\n" + GOODBYE
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("classic") / "classic.db")
    try:
        yield proc
    finally:
        proc.kill()


def assert_audited(server: ServerProcess) -> None:
    report = audit_database(server.db)
    assert report.ok, report.findings


def assert_sold_messages(seller: Peer, buyers: list[Peer], winner: int, price: str) -> None:
    """The seed's three messages: to the seller, to the winner (``buyers[winner]``), to losers."""
    assert seller.read_to_close() == (
        f"\nAuction finished!\nSuccess! Your item WolfPackSword has been sold for {price}.\n"
        + GOODBYE
    )
    for k, buyer in enumerate(buyers):
        assert buyer.read_to_close() == (
            "\nServer: Auction finished!\nYou won the item 'WolfPackSword'! Your payment due is "
            f"{price}\n" + GOODBYE
            if k == winner
            else SOLD_TO_LOSER
        )


def test_the_seeds_second_price_session(server: ServerProcess) -> None:
    seller = server.connect()
    assert seller.read_until("request:\n") == SELLER_GREETING
    server.expect("Seller is connected from 127.0.0.1:")

    # Anyone else before the seller's request is in: busy, and disconnected.
    early = server.connect()
    assert early.read_to_close() == BUSY

    seller.send("some wrong input")
    assert seller.read_until("request:\n") == (
        "Server: Invalid auction request! Expected 'type min_price #bids name', "
        "e.g. '2 100 3 WolfPackSword'.\nPlease submit auction request:\n"
    )
    seller.send("2 100 3 WolfPackSword")
    assert seller.read_until("\n") == "Server: Auction start.\n"
    server.expect("Auction request received. Now waiting for Buyers.")
    auction_id = server.auction_id()

    buyers = []
    for k in (1, 2, 3):
        buyer = server.connect()
        assert buyer.read_until("connect...\n") == (
            "Connected to the Auctioneer server.\n\nYour role is: [Buyer]\n"
            "The Auctioneer is still waiting for other Buyers to connect...\n"
        )
        server.expect(f"Buyer {k} is connected from 127.0.0.1:")
        buyers.append(buyer)
    server.expect("Requested number of bidders arrived. Let's start bidding!")
    for buyer in buyers:
        assert buyer.read_until("bid:\n") == BIDDING

    # A fourth client during the bidding: busy, and disconnected.
    late = server.connect()
    assert late.read_to_close() == BUSY

    buyers[0].send("some wrong bid")
    assert buyers[0].read_until("bid:\n") == (
        "Server: Invalid bid. Please submit a positive integer!\nPlease submit your bid:\n"
    )
    place_bids(server, buyers, [110, 400, 150])
    server.expect(">> Item sold! The highest bid is $400. The actual payment is $150")

    assert_sold_messages(seller, buyers, winner=1, price="$150")
    server.expect("Waiting for the next Seller.")

    state = ledger_state(server.db, auction_id)
    assert state.method is Method.VICKREY
    assert state.item_name == "WolfPackSword"
    assert state.rules.reserve_price == 100_00 and state.rules.expected_bids == 3
    assert [b.amount for b in state.bids] == [110_00, 400_00, 150_00]
    assert state.outcome is Outcome.SOLD
    assert state.winner == state.bids[1].bidder
    assert state.final_price == 150_00
    assert state.seller.startswith("classic-seller-")
    assert all(b.bidder.startswith("classic-buyer-") for b in state.bids)
    assert_audited(server)


def test_first_price_then_the_next_seller_and_a_sale_below_the_minimum(
    server: ServerProcess,
) -> None:
    seller, buyers, first = open_round(server, "1 100 3 WolfPackSword", 3)
    place_bids(server, buyers, [110, 190, 150])
    server.expect(">> Item sold! The highest bid is $190. The actual payment is $190")
    assert_sold_messages(seller, buyers, winner=1, price="$190")
    server.expect("Waiting for the next Seller.")

    # The next client is the next Seller: below the minimum, nothing is sold.
    seller, buyers, second = open_round(server, "2 100 2 Shield of Ages", 2)
    place_bids(server, buyers, [50, 99])
    server.expect(">> Item not sold! The highest bid is $99, below the minimum price $100.")
    assert seller.read_to_close() == (
        "\nAuction finished!\nUnfortunately, your item was not sold as all bids were below "
        "the minimum price.\n" + GOODBYE
    )
    for buyer in buyers:
        assert buyer.read_to_close() == (
            "\nServer: Auction finished!\nUnfortunately, the item was not sold as all bids were "
            "below the minimum price.\n" + GOODBYE
        )

    fpsb = ledger_state(server.db, first)
    assert (fpsb.method, fpsb.outcome, fpsb.final_price) == (Method.FPSB, Outcome.SOLD, 190_00)
    assert fpsb.winner == fpsb.bids[1].bidder
    below = ledger_state(server.db, second)
    assert below.item_name == "Shield of Ages"
    assert (below.outcome, below.winner, below.final_price) == (
        Outcome.RESERVE_NOT_MET,
        None,
        None,
    )
    assert fpsb.seller != below.seller
    assert_audited(server)


@pytest.mark.parametrize(
    ("request_line", "reason"),
    [
        ("3 100 2 Sword", "The type must be 1 (first-price) or 2 (second-price), not '3'."),
        ("1 -5 2 Sword", "The min_price must be a whole number, not '-5'."),
        ("1 ten 2 Sword", "The min_price must be a whole number, not 'ten'."),
        ("2 100 0 Sword", "The #bids must be at least 1."),
        ("2 100 101 Sword", "The #bids must be at most 100."),
        ("2 100", "Expected 'type min_price #bids name', e.g. '2 100 3 WolfPackSword'."),
        ("", "Expected 'type min_price #bids name', e.g. '2 100 3 WolfPackSword'."),
        ("1 5 2 " + "x" * 101, "The item name must be at most 100 characters."),
        ("1 5 2 " + "x" * 2000, "The line is longer than 1024 bytes."),
    ],
)
def test_each_bad_request_says_what_is_wrong(
    server: ServerProcess, request_line: str, reason: str
) -> None:
    seller = server.connect()
    assert seller.read_until("request:\n") == SELLER_GREETING
    seller.send(request_line, end="\r\n")
    assert seller.read_until("request:\n") == (
        f"Server: Invalid auction request! {reason}\nPlease submit auction request:\n"
    )
    seller.close()
    server.expect("Seller disconnected before sending a request.")
    server.expect("Waiting for the next Seller.")


def test_nc_style_input_crlf_minimum_zero_ties_and_extra_lines(server: ServerProcess) -> None:
    seller = server.connect()
    seller.read_until("request:\n")
    seller.send("1 0 2 Lamp", end="\r\n")  # nc on some systems sends \r\n
    assert seller.read_until("\n") == "Server: Auction start.\n"
    auction_id = server.auction_id()
    seller.send("hello?")
    assert seller.read_until("\n") == "Server: Your auction is under way. Please wait...\n"

    first = server.connect()
    first.read_until("connect...\n")
    first.send("80")  # typed before the bidding: not taken as a bid
    assert first.read_until("\n") == "Server: The bidding has not started yet. Please wait...\n"
    second = server.connect()
    second.read_until("connect...\n")
    for buyer in (first, second):
        assert buyer.read_until("bid:\n") == BIDDING

    for bad in ("0", "-3", "1.5", "1e3", "", "٣"):
        first.send(bad, end="\r\n")
        assert first.read_until("bid:\n") == (
            "Server: Invalid bid. Please submit a positive integer!\nPlease submit your bid:\n"
        )
    first.send("10000000000001")
    assert first.read_until("bid:\n") == (
        "Server: Invalid bid. A bid must be at most $1000000000000.\nPlease submit your bid:\n"
    )
    first.send(" 70 ", end="\r\n")
    assert first.read_until("\n") == "Server: Bid received. Please wait...\n"
    first.send("90")
    assert first.read_until("\n") == "Server: Your bid is already in. Please wait...\n"
    second.send("70")  # a tie goes to the earlier bid
    assert second.read_until("\n") == "Server: Bid received. Please wait...\n"

    assert "sold for $70." in seller.read_to_close()
    assert "You won the item 'Lamp'! Your payment due is $70" in first.read_to_close()
    assert "did not win" in second.read_to_close()
    state = ledger_state(server.db, auction_id)
    assert state.rules.reserve_price is None
    assert (state.outcome, state.final_price) == (Outcome.SOLD, 70_00)
    assert state.winner == state.bids[0].bidder
    assert len(state.bids) == 2  # the refused and the extra lines left no trace
    server.expect("Waiting for the next Seller.")
    assert_audited(server)
