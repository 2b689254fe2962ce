"""The house: accounts, roles, signatures, limits, timers; commands in, ledger events out."""

from auctionhouse.house.accounts import Account, AccountStore
from auctionhouse.house.clock import Clock, FakeClock, SystemClock
from auctionhouse.house.config import HouseConfig
from auctionhouse.house.house import AuctionHouse
from auctionhouse.house.signing import bid_message, sign, verify

__all__ = [
    "Account",
    "AccountStore",
    "AuctionHouse",
    "Clock",
    "FakeClock",
    "HouseConfig",
    "SystemClock",
    "bid_message",
    "sign",
    "verify",
]
