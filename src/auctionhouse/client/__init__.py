"""The Python SDK: an async and a sync client for the HTTP/WebSocket API, keys and signing.

::

    from auctionhouse.client import Client, BidKey

    with Client("http://127.0.0.1:8000", key=BidKey.load("alice.pem")) as house:
        house.login("alice", password)
        house.bid("7", 1200)                 # signed: the client holds a key
        for message in house.watch(["7"], until_closed=True):
            print(message["type"], message.get("seq"))

``AsyncClient`` has the same methods as coroutines (``watch`` as an async iterator). Error
answers raise the ``auctionhouse.errors`` class of their code; no connection raises
:class:`HouseUnreachable`.
"""

from auctionhouse.client.aio import DEFAULT_HOUSE, AsyncClient, default_house, normalize_house
from auctionhouse.client.clock import ServerClock
from auctionhouse.client.errors import BadResponse, HouseUnreachable, error_from_body
from auctionhouse.client.keys import BidKey, NonceCounter
from auctionhouse.client.sync import Client

__all__ = [
    "DEFAULT_HOUSE",
    "AsyncClient",
    "BadResponse",
    "BidKey",
    "Client",
    "HouseUnreachable",
    "NonceCounter",
    "ServerClock",
    "default_house",
    "error_from_body",
    "normalize_house",
]
