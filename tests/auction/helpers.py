from __future__ import annotations

from auctionhouse.auction import (
    AuctionState,
    CreateAuction,
    Event,
    Method,
    PlaceBid,
    Rules,
    apply,
    decide,
)
from auctionhouse.errors import AuctionhouseError

T0 = 1_000_000.0


class Run:
    """Drive one auction through decide/apply, keeping the log, like the house does."""

    def __init__(self, method: Method, rules: Rules, seller: str = "seller") -> None:
        self.log: list[Event] = []
        self.state: AuctionState = self._do(
            None, CreateAuction("a1", seller, "Vase", method, rules), T0
        )

    def _do(self, state: AuctionState | None, command: object, now: float) -> AuctionState:
        events = decide(state, command, now)  # type: ignore[arg-type]
        for event in events:
            state = apply(state, event)
            self.log.append(event)
        assert state is not None
        return state

    def do(self, command: object, now: float) -> list[Event]:
        before = len(self.log)
        self.state = self._do(self.state, command, now)
        return self.log[before:]

    def bid(
        self, bidder: str, amount: int, now: float, proxy_max: int | None = None
    ) -> list[Event]:
        return self.do(PlaceBid("a1", bidder, amount, proxy_max), now)

    def try_bid(
        self, bidder: str, amount: int, now: float, proxy_max: int | None = None
    ) -> AuctionhouseError | None:
        try:
            self.bid(bidder, amount, now, proxy_max)
        except AuctionhouseError as exc:
            return exc
        return None
