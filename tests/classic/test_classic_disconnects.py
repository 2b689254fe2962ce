"""Clients that leave mid-auction, SIGTERM mid-auction, and a kill -9 then a restart: the server
never crashes, serves the next seller, and the ledger records each auction's true end."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from classic_helpers import (
    BUYER_GREETING,
    GOODBYE,
    SELLER_GREETING,
    ServerProcess,
    ledger_state,
    open_round,
    place_bids,
)

from auctionhouse.auction import Outcome
from auctionhouse.ledger import audit_database

pytestmark = pytest.mark.e2e


def test_leavers_at_each_stage_and_the_next_seller_is_served(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "classic.db")
    try:
        # A seller who leaves before its request: the next client is the Seller.
        quitter = server.connect()
        quitter.read_until("request:\n")
        quitter.close()
        server.expect("Seller disconnected before sending a request.")
        server.expect("Waiting for the next Seller.")

        # A seller who leaves while buyers gather: cancelled, the buyers are told and let go.
        seller = server.connect()
        assert seller.read_until("request:\n") == SELLER_GREETING
        seller.send("2 100 2 Vase")
        seller.read_until("Auction start.\n")
        vase = server.auction_id()
        buyer = server.connect()
        assert buyer.read_until("connect...\n") == BUYER_GREETING
        server.expect("Buyer 1 is connected")
        seller.close()
        server.expect("Seller disconnected before the bidding.")
        assert buyer.read_to_close() == (
            "\nServer: The Seller disconnected before the bidding. The auction is cancelled.\n"
            + GOODBYE
        )
        server.expect("Waiting for the next Seller.")
        assert ledger_state(server.db, vase).outcome is Outcome.CANCELLED

        # A buyer who leaves while waiting frees its place; one who leaves before bidding
        # cancels the auction (the bids in stay in the ledger, unrevealed to anyone).
        seller = server.connect()
        seller.read_until("request:\n")
        seller.send("1 10 2 Clock")
        seller.read_until("Auction start.\n")
        clock = server.auction_id()
        early = server.connect()
        early.read_until("connect...\n")
        server.expect("Buyer 1 is connected")
        early.close()
        server.expect("Buyer 1 disconnected. Now waiting for another Buyer.")
        second, third = server.connect(), server.connect()
        for buyer in (second, third):
            buyer.read_until("bid:\n")
        server.expect("Buyer 2 is connected")
        server.expect("Buyer 3 is connected")
        second.send("50")
        second.read_until("Please wait...\n")
        third.close()
        server.expect("Buyer 3 disconnected before bidding.")
        cancelled = (
            "\nServer: A Buyer disconnected before bidding. The auction is cancelled.\n" + GOODBYE
        )
        assert seller.read_to_close() == cancelled
        assert second.read_to_close() == cancelled
        server.expect("Waiting for the next Seller.")
        state = ledger_state(server.db, clock)
        assert state.outcome is Outcome.CANCELLED
        assert [b.amount for b in state.bids] == [50_00]

        # A seller who leaves during the bidding: the bidding goes on and the sale stands.
        seller, buyers, lamp = open_round(server, "2 5 2 Lamp", 2)
        seller.close()
        server.expect("Seller disconnected; the bidding goes on.")
        place_bids(server, buyers, [30, 20])
        assert "You won the item 'Lamp'! Your payment due is $20" in buyers[0].read_to_close()
        assert "did not win" in buyers[1].read_to_close()
        sold = ledger_state(server.db, lamp)
        assert (sold.outcome, sold.final_price) == (Outcome.SOLD, 20_00)

        # A buyer who leaves after bidding just misses the result.
        seller, buyers, pen = open_round(server, "1 1 2 Pen", 2)
        place_bids(server, buyers[:1], [7])
        buyers[0].close()
        server.expect("Buyer 1 disconnected after bidding.")
        buyers[1].send("9")
        assert "sold for $9." in seller.read_to_close()
        assert ledger_state(server.db, pen).winner == ledger_state(server.db, pen).bids[1].bidder

        # SIGTERM mid-auction: everyone is told, the auction is cancelled, a clean exit.
        seller, buyers, last = open_round(server, "1 1 1 Hat", 1)
        assert server.stop(signal.SIGTERM) == 0
        shutdown = (
            "\nServer: The Auctioneer is shutting down. The auction is cancelled.\n" + GOODBYE
        )
        assert seller.read_to_close() == shutdown
        assert buyers[0].read_to_close() == shutdown
        assert "Auctioneer stopped." in server.lines
        assert ledger_state(server.db, last).outcome is Outcome.CANCELLED
        report = audit_database(server.db)
        assert report.ok, report.findings
        assert (report.auctions, report.seals) == (5, 5)  # every auction closed and sealed
    finally:
        server.kill()


def test_kill_9_mid_auction_then_restart_cancels_the_orphan(tmp_path: Path) -> None:
    db = tmp_path / "classic.db"
    server = ServerProcess(db)
    try:
        seller, buyers, orphan = open_round(server, "2 10 2 Kite", 2)
        place_bids(server, buyers[:1], [40])
    finally:
        server.kill()
    seller.read_to_close()  # the connections die with the process

    restarted = ServerProcess(db)
    try:
        assert f">> Auction {orphan} was left open by an earlier run: cancelled" in (
            restarted.lines
        )
        state = ledger_state(db, orphan)
        assert state.outcome is Outcome.CANCELLED and len(state.bids) == 1
        # Classic account numbers go on where the first run stopped.
        seller, buyers, kite = open_round(restarted, "2 10 1 Kite", 1)
        place_bids(restarted, buyers, [12])
        # Second price with one bid: the minimum price is the price (the core's Vickrey rule).
        assert "sold for $10." in seller.read_to_close()
        again = ledger_state(db, kite)
        assert again.seller != state.seller and again.outcome is Outcome.SOLD
        assert restarted.stop() == 0
    finally:
        restarted.kill()
    report = audit_database(db)
    assert report.ok, report.findings
