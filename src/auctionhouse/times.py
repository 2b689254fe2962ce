"""Times for people: a house time (epoch seconds) said readably, in messages and on screens.

The house's own messages say a time in UTC, readably (``auction.types.utc_time``:
``2030-01-31 18:00:00 UTC``, re-exported here; the rules core imports nothing but itself and
``errors``, and knows nobody's time zone), and a refusal that names a time carries its epoch
seconds in a field too (``opens_at``, ``closed_at``...). The faces people read (the CLI, the
agents' log lines, the page) show times as local times (``local_time``: ``2030-01-31 19:00:00
CET``) and rewrite the UTC times of a house's message the same way (``local_times``), so
nobody reads epoch seconds or converts from UTC in their head.

Every layer above the rules core may use it.
"""

from __future__ import annotations

import datetime as dt
import re

from auctionhouse.auction.types import utc_time

__all__ = ["local_time", "local_times", "utc_time"]

# What utc_time writes (tests/auction/test_auction_times.py reads it back).
_UTC_TIME = re.compile(r"\b(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) UTC\b")


def local_time(epoch: float | None) -> str:
    """Epoch seconds as a local date and time (``2030-01-31 19:00:00 CET``); None -> ``-``."""
    if epoch is None:
        return "-"
    try:
        moment = dt.datetime.fromtimestamp(epoch).astimezone()
    except (OverflowError, OSError, ValueError):
        return f"{epoch:.0f} s"
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z")


def local_times(text: str) -> str:
    """``text`` (a house's message) with each UTC time ``utc_time`` wrote as a local time:
    ``"auction 7 opens at 2030-01-31 18:00:00 UTC"`` -> ``"... opens at 2030-01-31 19:00:00
    CET"`` in Paris. Text without one is returned as is."""

    def local(match: re.Match[str]) -> str:
        moment = dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
        return local_time(moment.replace(tzinfo=dt.UTC).timestamp())

    return _UTC_TIME.sub(local, text)
