"""auctionhouse: an auction house for people and software agents."""

__version__ = "0.1.0"
