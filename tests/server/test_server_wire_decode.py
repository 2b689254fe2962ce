"""The one prologue of every WebSocket message (server/wire.py ``decode_message``), used by the
auction socket (ws.py) and the market socket (market_hub.py) alike."""

from __future__ import annotations

import pytest

from auctionhouse.errors import InvalidRequest
from auctionhouse.server.wire import decode_message


@pytest.mark.parametrize(
    ("raw", "request_id"),
    [
        ('{"op": "time", "id": 7}', 7),
        (b'{"op": "time", "id": "a"}', "a"),
        ('{"op": "time"}', None),
        ('{"op": "time", "id": true}', None),  # a bool is not an id (JSON true == 1)
        ('{"op": "time", "id": 1.5}', None),
        ('{"op": "time", "id": {"x": 1}}', None),
    ],
)
def test_a_message_and_its_request_id(raw: str | bytes, request_id: object) -> None:
    message, found = decode_message(raw)
    assert message["op"] == "time" and found == request_id and type(found) is type(request_id)


@pytest.mark.parametrize("raw", ["", "not json", "[1, 2]", '"op"', "null", b"\xff"])
def test_anything_but_one_json_object_is_invalid_request(raw: str | bytes) -> None:
    with pytest.raises(InvalidRequest, match="one JSON object"):
        decode_message(raw)
