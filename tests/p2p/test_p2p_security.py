"""Peer traffic: only members get through TLS, and what they send is unpickled only if it is
made of the few types pysyncobj's messages need (issue 16, item 4)."""

from __future__ import annotations

import os
import pickle
import socket
import ssl
import struct
import zlib
from pathlib import Path

import pytest
from peer_helpers import Cluster, wait_for
from pysyncobj.encryptor import getEncryptor
from pysyncobj.node import TCPNode

from auctionhouse.p2p.codec import RefusedPickle, restricted_loads
from auctionhouse.p2p.tls import PeerFiles, init_cluster, issue_peer


class Boom:
    """Unpickling this runs a shell command that leaves a marker file (if it ran)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def test_the_unpickler_takes_the_library_messages_and_refuses_anything_else(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    message = {
        "type": "append_entries",
        "term": 3,
        "entries": [(b"\x00{...}", 7, 3)],
        "commit_index": 6,
        "prevLogIdx": 6,
        "prevLogTerm": 2,
    }
    assert restricted_loads(pickle.dumps(message, 2)) == message
    change = ["add", "127.0.0.1:9", TCPNode("127.0.0.1:9")]
    assert restricted_loads(pickle.dumps(change, 2))[2] == TCPNode("127.0.0.1:9")
    assert restricted_loads(pickle.dumps({1, 2}, 2)) == {1, 2}
    snapshot_chunk = {"type": "apply_snapshot", "data": b"", "is_first": True, "is_last": False}
    assert restricted_loads(pickle.dumps(snapshot_chunk, 2)) == snapshot_chunk
    marker = tmp_path / "ran"
    with pytest.raises(RefusedPickle):
        restricted_loads(pickle.dumps(Boom(marker), 2))
    assert not marker.exists()
    assert "refused a pickled payload naming posix.system" in caplog.text
    for evil in (pickle.dumps(Path("/etc"), 2), pickle.dumps(ValueError("x"), 2)):
        with pytest.raises(RefusedPickle):
            restricted_loads(evil)


def framed(payload: object, password: str | None = None) -> bytes:
    data = zlib.compress(pickle.dumps(payload, 2), 3)
    if password is not None:
        data = getEncryptor(password).encrypt(data)
    return struct.pack("i", len(data)) + data


def closed_without_answer(sock: socket.socket | ssl.SSLSocket) -> bool:
    sock.settimeout(10)
    try:
        return sock.recv(1) == b""
    except (ConnectionError, ssl.SSLError, OSError):
        return True


@pytest.mark.e2e
def test_strangers_are_refused_before_the_library_and_members_cannot_send_code(
    tmp_path: Path,
) -> None:
    cluster = Cluster(tmp_path, n=1).start()
    (peer,) = cluster.peers
    host, port = peer.address.rsplit(":", 1)
    marker = tmp_path / "ran"
    try:
        # 1. Plain TCP: pysyncobj's own framing of a pickle that would run a command.
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            raw.sendall(framed(Boom(marker)))
            assert closed_without_answer(raw)
        # 2. TLS without a client certificate, 3. with one from another CA.
        stranger = tmp_path / "stranger"
        init_cluster(stranger)
        issue_peer(stranger, tmp_path / "mallory", "mallory")
        mallory = PeerFiles.in_dir(tmp_path / "mallory")
        for cert in (None, mallory):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            if cert is not None:
                ctx.load_cert_chain(cert.cert, cert.key)
            with socket.create_connection((host, int(port)), timeout=10) as tcp:
                try:
                    with ctx.wrap_socket(tcp) as tls:
                        tls.sendall(framed(Boom(marker), mallory.password()))
                        assert closed_without_answer(tls)
                except (ssl.SSLError, ConnectionError):
                    pass  # refused during the handshake
        wait_for("three refused connections", lambda: peer.status()["refused_connections"] >= 3)
        assert peer.status()["refused_pickles"] == 0  # none of it reached the library
        log = peer.log.read_text()
        assert log.count("refused a peer connection") >= 3

        # 4. A member (cluster certificate and password) sending a pickle of a forbidden type.
        member = PeerFiles.in_dir(cluster.peers[0].data)
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(member.ca))
        ctx.check_hostname = False
        ctx.load_cert_chain(member.cert, member.key)
        with (
            socket.create_connection((host, int(port)), timeout=10) as tcp,
            ctx.wrap_socket(tcp) as tls,
        ):
            tls.sendall(framed(Boom(marker), member.password()))
            assert closed_without_answer(tls)
        wait_for("the refused pickle", lambda: peer.status()["refused_pickles"] >= 1)
        assert "refused a pickled payload naming posix.system" in peer.log.read_text()
        assert not marker.exists()
        # The peer still serves.
        assert peer.status()["is_leader"]
    finally:
        cluster.stop()
