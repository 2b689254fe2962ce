"""pysyncobj's message framing as the peers set it (p2p/wire.py): stored zlib blocks that any
zlib reader reads, and pickle protocol 4 that the restricted unpickler reads without new
globals (decision 0028)."""

from __future__ import annotations

import os
import pickle
import zlib

import pytest
from pysyncobj import pickle as library_pickle
from pysyncobj.node import TCPNode

from auctionhouse.p2p.codec import RefusedPickle, restricted_loads
from auctionhouse.p2p.wire import install_protocol_4, install_stored_zlib, stored_zlib


@pytest.mark.parametrize("size", [0, 1, 100, 65_535, 65_536, 65_537, 200_000])
def test_stored_blocks_are_a_zlib_stream(size: int) -> None:
    data = os.urandom(size)
    framed = stored_zlib(data, 3)
    assert zlib.decompress(framed) == data
    assert len(framed) <= size + 11 + 5 * (size // 65_535)  # stored: no bigger than that


def test_the_library_sends_stored_blocks_and_reads_compressed_ones() -> None:
    import pysyncobj.tcp_connection as connection

    install_stored_zlib()
    message = pickle.dumps({"type": "append_entries", "entries": [(b"x" * 5000, 1, 1)]})
    sent = connection.zlib.compress(message, 3)
    assert len(sent) > len(message)  # stored, not compressed
    assert connection.zlib.decompress(sent) == message
    assert connection.zlib.decompress(zlib.compress(message, 3)) == message  # an older peer's


def test_protocol_4_entries_and_messages_pass_the_restricted_unpickler() -> None:
    install_protocol_4()
    blobs = [os.urandom(300) for _ in range(20)]
    entry = library_pickle.dumps((0, (blobs,), {}))
    assert entry[:2] == b"\x80\x04"
    assert restricted_loads(entry) == (0, (blobs,), {})
    node = TCPNode("127.0.0.1:1234")
    membership = restricted_loads(library_pickle.dumps(["add", node.id, node]))
    assert membership[2] == node
    message = {"type": "append_entries", "entries": [(entry, 5, 2)], "nodes": {1, 2}}
    assert restricted_loads(library_pickle.dumps(message)) == message
    evil = pickle.dumps(os.system, 4)
    with pytest.raises(RefusedPickle):
        restricted_loads(evil)
