"""Markets on the shared house: N instances on one PostgreSQL database (docs/markets.md).

A market is one hash chain of the shared ledger (``m1``, ``m2``...), so everything that makes the
instances one house for auctions holds for markets with no mechanism of their own
(docs/decisions/0014-shared-house-rounds.md):

- **One writer per market.** Orders, cancels, calls and closes are decided in a round, under the
  ledger's advisory lock, after the round applied what the other instances wrote: every order
  meets the book as it truly is, and the ``UNIQUE(auction_id, seq)`` key backs it.
- **Calls and closes exactly once.** Every instance keeps every market's timer; a due call or
  close is decided in a round after the catch-up, so the instance that comes second finds the
  period cleared (the next call is later) or the market closed, and decides nothing.
- **Watchers see every event in order.** Other instances' market events are read by ``pos`` and
  applied here in seq order (``SharedMarketDesk.absorb``), then told to the market listeners
  (the market WebSocket hub) as this instance's own are.
- **Nonces.** An order spends the account's one nonce sequence, pushed to ``house_shared`` by
  the round like a bid's; an absorbed order's nonce is remembered here (a resend on any
  instance gets the first answer, decision 0008).
- **Read-your-writes.** A market id not known here yet (created on another instance a moment
  ago) is read from the database before ``not_found`` is answered.

Only applying is new: matching never runs on an absorbed event (its trades are in the log).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from auctionhouse.auction.market import MarketState, apply_market
from auctionhouse.auction.market_events import MarketCreated, MarketEvent
from auctionhouse.errors import LedgerError, NotFound
from auctionhouse.house.markets import MARKET_EVENTS, MarketDesk
from auctionhouse.ledger.encoding import decode_event

if TYPE_CHECKING:
    from auctionhouse.house.shared import SharedAuctionHouse
    from auctionhouse.ledger.store import EventRecord


class SharedMarketDesk(MarketDesk):
    """The markets of one instance of a shared house (``SharedAuctionHouse.markets``)."""

    def holds(self, record: EventRecord) -> bool:
        """Is ``record`` an event of a market's chain (known here, or a new market's first)?
        Market ids start with ``m`` (auction ids are digits), so an auction's record costs a
        dict lookup at most."""
        mid = record.auction_id
        if not mid.startswith("m"):
            return False
        if mid in self._markets:
            return True
        return record.seq == 1 and type(decode_event(record.body)) is MarketCreated

    def absorb(self, record: EventRecord) -> MarketEvent | None:
        """Apply another instance's durable market event (event loop, in ``pos`` order): its
        trades are in the log, so only ``apply`` runs. Returns the event, or None when this
        instance holds it already (its own, read back). A gap is a ``LedgerError``."""
        state = self._markets.get(record.auction_id)
        held = state.seq if state is not None else 0
        if record.seq <= held:
            return None
        if record.seq != held + 1:
            raise LedgerError(
                f"market {record.auction_id}: event {record.seq} read before {held + 1}"
            )
        event = decode_event(record.body)
        if type(event) not in MARKET_EVENTS:
            raise LedgerError(f"market {record.auction_id}: event {record.seq} is not a market's")
        self._index(event, apply_market(state, event))  # type: ignore[arg-type]
        return event  # type: ignore[return-value]

    def held(self, market_id: str) -> MarketState | None:
        return self._markets.get(market_id)

    def _state(self, market_id: str) -> MarketState:
        try:
            return super()._state(market_id)
        except NotFound:
            house: SharedAuctionHouse = self._house  # type: ignore[assignment]
            if not isinstance(market_id, str) or not house.read_ahead():
                raise
            return super()._state(market_id)
