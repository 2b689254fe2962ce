"""Spent nonces of signed bids, and what makes a resend idempotent (docs/decisions/0006-i9-*).

A signed bid's nonce is spent once its signature holds. A *byte-identical* resend of a spent
bid (same signed message, same signature: a client whose answer was lost) is honest: the house
answers it as it answered the first time (the original ack, or the original refusal), with no
second bid and no strike. Only a *different* message with a spent nonce is a replay (a strike).

Per account the house keeps the highest nonce spent and the last ``WINDOW`` signed bids by
nonce. Accepted bids are kept as ``(auction, seq)`` pointers into the event log, so the window is
rebuilt from the ledger on replay (a resend after a restart is still recognised); refusals are
kept in memory only (after a restart a refused nonce is not spent: the ledger never held it).
"""

from __future__ import annotations

from dataclasses import dataclass

from auctionhouse.errors import AuctionhouseError

WINDOW = 64  # signed bids remembered per account (nonces only grow: the newest are kept)


@dataclass(frozen=True, slots=True)
class Spent:
    """One spent nonce: the accepted bid's place in the log, or the refused message."""

    auction_id: str
    seq: int | None = None  # accepted: the BidPlaced event's seq
    message: bytes = b""  # refused: the signed bytes ...
    signature: str = ""  # ... and their signature
    error: AuctionhouseError | None = None  # refused: the answer that was given


class SpentNonces:
    """Highest nonce per account, and the recent spent ones (``WINDOW`` per account)."""

    __slots__ = ("highest", "recent")

    def __init__(self) -> None:
        self.highest: dict[str, int] = {}
        self.recent: dict[str, dict[int, Spent]] = {}

    def last(self, account: str) -> int:
        """The highest nonce ``account`` has spent, or -1."""
        return self.highest.get(account, -1)

    def spend(self, account: str, nonce: int) -> None:
        if nonce > self.highest.get(account, -1):
            self.highest[account] = nonce

    def remember(self, account: str, nonce: int, spent: Spent) -> None:
        """Keep ``spent`` as the record of ``nonce`` (evicting the oldest past ``WINDOW``)."""
        self.spend(account, nonce)
        window = self.recent.get(account)
        if window is None:
            window = self.recent[account] = {}
        window[nonce] = spent
        if len(window) > WINDOW:
            del window[next(iter(window))]

    def find(self, account: str, nonce: int) -> Spent | None:
        window = self.recent.get(account)
        return None if window is None else window.get(nonce)
