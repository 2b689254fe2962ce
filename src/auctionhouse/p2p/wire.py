"""pysyncobj's per-message costs, cut without changing what travels or how the library decides.

Measured on the shared machine (py-spy on three peers under the WebSocket bench), a peer spent
more of its loop on the library's messages than on the house's rules: every message
(``append_entries``, the follower's ``next_node_idx`` answer to each, forwarded commands) is
pickled, **zlib-compressed at level 3**, encrypted (Fernet, the cluster password), framed and
sent, then the other way round. Three of those costs buy nothing here:

- **Pickle protocol 2.** The library pickles with protocol 2, which has no opcode for bytes:
  each ``bytes`` object (every command of an entry, every entry of a message) is written as a
  latin-1 text and rebuilt by calling ``_codecs.encode`` (through our restricted unpickler's
  ``find_class``). An entry of 20 signed bids took 18 us to pickle and 40 us to unpickle, and
  each replica unpickles it twice (the look-ahead of ``preverify`` and the library's apply).
  ``install_protocol_4`` makes the library pickle with protocol 4 (bytes as bytes: 3 and 4 us);
  its unpickling reads every protocol, so peers that still write protocol 2 are understood, and
  the restricted unpickler needs no new global (fewer: bytes and sets have opcodes of their own).

- **Compression.** ``zlib.compress`` costs ~60-80 us per call whatever the size (it sets up a
  deflate state each time) and more for a batch of signed bids, which hardly compress (hex
  signatures, random keys); the bytes then cross a loopback TLS tunnel. ``install_stored_zlib``
  makes the library's ``zlib.compress`` write the same format with *stored* (uncompressed)
  deflate blocks, built here in a few microseconds; ``zlib.decompress`` reads them as any
  zlib stream, so a peer running this talks to one that compresses, both ways. (Compressing
  before encrypting also leaked sizes: CRIME; stored blocks do not.)
- **One append per command.** With ``appendEntriesUseBatch=False`` (a single append must not
  wait for the 0.1 s tick), the leader sends ``append_entries`` to every follower after *each*
  command it takes from its queue, and each is answered: with its own entry plus two
  followers' forwarded entries in one tick, that was three rounds of messages where one
  carries the same entries. ``coalesce_appends`` makes the sends asked for while the queue is
  drained (``_checkCommandsToApply``) one send at its end. Nothing waits longer: the send
  still happens in the same tick, before the library polls its sockets.
"""

from __future__ import annotations

import pickle
import struct
import zlib
from types import SimpleNamespace
from typing import Any

_STORED_MAX = 0xFFFF  # bytes in one stored deflate block
_ADLER = struct.Struct(">I")


def stored_zlib(data: bytes, level: int = -1) -> bytes:
    """``data`` as a zlib stream (RFC 1950) of stored deflate blocks (RFC 1951, 3.2.4), the
    format of ``zlib.compress(data, 0)`` without its per-call setup. ``level`` is ignored."""
    view = memoryview(data)
    parts: list[bytes | memoryview] = [b"\x78\x01"]
    size = len(data)
    start = 0
    while True:
        end = min(start + _STORED_MAX, size)
        length = end - start
        final = 1 if end == size else 0
        parts.append(struct.pack("<BHH", final, length, length ^ 0xFFFF))
        parts.append(view[start:end])
        if final:
            break
        start = end
    parts.append(_ADLER.pack(zlib.adler32(data)))
    return b"".join(parts)


def install_stored_zlib() -> None:
    """Make pysyncobj's TCP connections frame messages with ``stored_zlib`` (their module's
    ``zlib`` is replaced by one whose ``compress`` stores; ``decompress`` is zlib's own)."""
    import pysyncobj.tcp_connection as connection

    if getattr(connection.zlib, "stored", False):
        return
    connection.zlib = SimpleNamespace(
        compress=stored_zlib, decompress=zlib.decompress, error=zlib.error, stored=True
    )


PROTOCOL = 4


def install_protocol_4() -> None:
    """Make pysyncobj pickle its messages, entries and snapshots with protocol 4 (see module;
    its modules call ``pysyncobj.pickle.dumps``/``dump`` by attribute)."""
    import pysyncobj.pickle as library_pickle

    def dumps(obj: Any, protocol: int | None = None) -> bytes:
        return pickle.dumps(obj, PROTOCOL)

    def dump(obj: Any, file: Any, protocol: int | None = None) -> None:
        pickle.dump(obj, file, PROTOCOL)

    library_pickle.dumps = dumps
    library_pickle.dump = dump


def coalesce_appends(syncobj: Any) -> None:
    """One ``append_entries`` round per drain of the library's command queue instead of one
    per command (see module). pysyncobj 0.3.17 calls ``self.__sendAppendEntries`` (name-mangled
    ``_SyncObj__sendAppendEntries``) and ``self._checkCommandsToApply`` through the instance,
    so attributes set on the instance take their place."""
    send = syncobj._SyncObj__sendAppendEntries
    drain = syncobj._checkCommandsToApply
    state = {"draining": False, "wanted": False}

    def send_appends() -> None:
        if state["draining"]:
            state["wanted"] = True
            return
        send()

    def check_commands() -> None:
        state["draining"], state["wanted"] = True, False
        try:
            drain()
        finally:
            state["draining"] = False
        if state["wanted"]:
            state["wanted"] = False
            send()

    replace_method(syncobj, "_SyncObj__sendAppendEntries", send_appends)
    replace_method(syncobj, "_checkCommandsToApply", check_commands)


def replace_method(syncobj: Any, name: str, function: Any) -> None:
    """Set ``function`` on the ``SyncObj`` instance in the place of its method ``name``, and
    keep it out of the library's snapshot: pysyncobj 0.3.17 pickles every instance attribute
    not present at the end of its ``__init__`` (``__properies``) as replicated state, and a
    local function cannot be pickled (the snapshot's forked writer failed, silently)."""
    setattr(syncobj, name, function)
    syncobj._SyncObj__properies.add(name)
