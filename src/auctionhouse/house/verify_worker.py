"""The signature worker: verifies batches of Ed25519 signatures for a ``BatchVerifier``
(house/verifier.py), in a process of its own so that it never waits for the event loop's GIL.

Run as a script by path (``python .../verify_worker.py``), so that it imports nothing of the
house but PyNaCl and starts in a tenth of a second. Protocol on stdin/stdout, one batch at a
time: a request is ``<II`` (body bytes, checks) and the body, per check the public key (32
bytes), the signature (64), the message length (``<H``) and the message; the answer is one byte
per check, 1 if its signature holds. End of input ends the worker (so does its parent's death).
"""

from __future__ import annotations

import contextlib
import signal
import struct
import sys
from typing import BinaryIO

from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

HEADER = struct.Struct("<II")
LENGTH = struct.Struct("<H")


def holds(key: bytes, signature: bytes, message: bytes) -> bool:
    """Does the Ed25519 ``signature`` (64 bytes) of ``message`` hold for ``key`` (32 bytes)?"""
    try:
        crypto_sign_open(signature + message, key)
    except BadSignatureError:
        return False
    return True


def verify_batch(body: bytes, count: int) -> bytes:
    """One byte per check of an encoded batch body: 1 if its signature holds, else 0."""
    out = bytearray(count)
    offset = 0
    for i in range(count):
        key = body[offset : offset + 32]
        signature = body[offset + 32 : offset + 96]
        (length,) = LENGTH.unpack_from(body, offset + 96)
        start = offset + 98
        offset = start + length
        try:
            crypto_sign_open(signature + body[start:offset], key)
        except BadSignatureError:
            continue
        out[i] = 1
    return bytes(out)


def _read(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """Answer batches until ``requests`` ends."""
    while True:
        header = _read(requests, HEADER.size)
        if header is None:
            return
        size, count = HEADER.unpack(header)
        body = _read(requests, size)
        if body is None:
            return
        answers.write(verify_batch(body, count))
        answers.flush()


if __name__ == "__main__":
    # Ctrl-C reaches the whole process group: the server decides when this worker ends (it
    # closes the pipe); a server killed mid-batch leaves a broken pipe: end quietly then too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(BrokenPipeError):
        serve(sys.stdin.buffer, sys.stdout.buffer)
