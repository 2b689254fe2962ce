"""The market a visiting agent bids through at a site: the embedded house, under its mandate.

:class:`MandateMarket` is an ``EmbeddedMarket`` (agents/embedded.py) whose bids are placed as
the owner's key account with the mandate attached: the house checks each one against the signed
mandate (``AuctionHouse.mandated``) and files it in the ledger; this market adds the site's
quotas (bids per agent, money per agent) before the bid reaches the house.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auctionhouse.agents.embedded import EmbeddedHouse, EmbeddedMarket
from auctionhouse.agents.market import SignedBid
from auctionhouse.errors import OverMandate, QuotaExceeded
from auctionhouse.house.verifier import place_bid_command
from auctionhouse.ledger.mandate import Mandate


class MandateMarket(EmbeddedMarket):
    def __init__(
        self,
        hub: EmbeddedHouse,
        mandate: Mandate,
        *,
        max_bids: int,
        max_money: int,
        on_bid: Callable[[SignedBid, dict[str, Any]], None] | None = None,
    ) -> None:
        super().__init__(hub, mandate.account, None)
        self.mandate = mandate
        self.max_bids = max_bids
        self.max_money = max_money
        self.on_bid = on_bid
        self.attempts = 0
        self.placed: list[tuple[SignedBid, dict[str, Any]]] = []
        self._mandate = (mandate.digest, mandate.text())

    async def sign_bid(
        self, auction_id: str, amount: int, proxy_max: int | None = None
    ) -> SignedBid:
        """Agent bids are not signed by the owner per bid: the signed mandate stands for them."""
        return SignedBid(auction_id, amount, proxy_max, None, None, None)

    async def send_bid(self, bid: SignedBid) -> dict[str, Any]:
        """Place ``bid`` under the mandate; ``QuotaExceeded`` past the site's bids per agent,
        ``OverMandate`` above the site's money per agent (the house checks the mandate)."""
        if self.attempts >= self.max_bids:
            raise QuotaExceeded(f"a visiting agent may place {self.max_bids} bids here")
        highest = max(bid.amount, bid.proxy_max or 0)
        if highest > self.max_money:
            raise OverMandate(f"{highest} is above this site's {self.max_money} per agent")
        self.attempts += 1
        ack = await self.hub.call(
            place_bid_command(
                self.account,
                bid.auction_id,
                bid.amount,
                proxy_max=bid.proxy_max,
                mandate=self._mandate,
            )
        )
        self.placed.append((bid, ack))
        if self.on_bid is not None:
            self.on_bid(bid, ack)
        return ack
