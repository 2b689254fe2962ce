"""Peer identity and the mutually authenticated TLS layer in front of pysyncobj.

A cluster has one CA (``peer-keys init``); each peer has its own key pair and a certificate the
CA signed (``peer-keys issue``), and the cluster's pysyncobj password. Raft traffic between two
peers runs through TLS 1.3 tunnels that demand and verify the other side's certificate against
the cluster CA:

    pysyncobj --plain--> 127.0.0.1:out (one per partner) --TLS--> partner's peer port
    partner's peer port --TLS handshake, client cert checked--> 127.0.0.1:internal (pysyncobj)

A connection that does not complete the handshake with a cluster certificate is logged and
closed before a byte reaches the library (the internal port only listens on loopback, and
pysyncobj's own password encryption is a second layer there). Certificates and keys are made
with ``cryptography``, TLS by the standard library's ``ssl``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import secrets
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from auctionhouse.errors import ConfigError

log = logging.getLogger("auctionhouse.p2p")

HANDSHAKE_SECONDS = 5.0
CHUNK = 1 << 16
VALID_DAYS = 3650


@dataclass(frozen=True, slots=True)
class PeerFiles:
    """The files of a peer's identity in its data directory."""

    ca: Path
    cert: Path
    key: Path
    secret: Path

    @classmethod
    def in_dir(cls, data: Path) -> PeerFiles:
        return cls(data / "ca.pem", data / "peer.pem", data / "peer.key", data / "cluster.secret")

    def check(self) -> None:
        missing = [p.name for p in (self.ca, self.cert, self.key, self.secret) if not p.is_file()]
        if missing:
            raise ConfigError(
                f"the peer's data directory lacks {', '.join(missing)}: create them with"
                " `auctionhouse peer-keys init CLUSTER_DIR` and"
                " `auctionhouse peer-keys issue CLUSTER_DIR --data DIR --name NAME`"
            )

    def password(self) -> str:
        return self.secret.read_text().strip()


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)


def init_cluster(cluster_dir: Path, name: str = "auctionhouse cluster") -> None:
    """Create a cluster CA (``ca.pem``, ``ca.key``) and password (``cluster.secret``)."""
    if (cluster_dir / "ca.key").exists():
        raise ConfigError(f"{cluster_dir} already holds a cluster CA")
    key = ed25519.Ed25519PrivateKey.generate()
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, None)
    )
    _write_private(
        cluster_dir / "ca.key",
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    (cluster_dir / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(cluster_dir / "cluster.secret", secrets.token_urlsafe(32).encode() + b"\n")


def issue_peer(cluster_dir: Path, data: Path, name: str) -> None:
    """Give the peer in ``data`` a key pair, a certificate for ``name`` signed by the cluster
    CA, the CA's certificate and the cluster password."""
    try:
        ca_key = serialization.load_pem_private_key((cluster_dir / "ca.key").read_bytes(), None)
        ca_cert = x509.load_pem_x509_certificate((cluster_dir / "ca.pem").read_bytes())
        secret = (cluster_dir / "cluster.secret").read_bytes()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the cluster CA in {cluster_dir}: {exc}") from None
    if not isinstance(ca_key, ed25519.Ed25519PrivateKey):
        raise ConfigError("the cluster CA key is not an Ed25519 key")
    key = ed25519.Ed25519PrivateKey.generate()
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, None)
    )
    files = PeerFiles.in_dir(data)
    _write_private(
        files.key,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(files.secret, secret)


def contexts(files: PeerFiles) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) TLS 1.3 contexts that both demand a certificate of the cluster CA."""
    made = []
    for purpose in (ssl.Purpose.CLIENT_AUTH, ssl.Purpose.SERVER_AUTH):
        ctx = ssl.create_default_context(purpose, cafile=str(files.ca))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(str(files.cert), str(files.key))
        ctx.check_hostname = False  # peers are named by the CA's signature, not by DNS
        ctx.verify_mode = ssl.CERT_REQUIRED
        made.append(ctx)
    return made[0], made[1]


def peer_name(writer: asyncio.StreamWriter) -> str:
    cert = writer.get_extra_info("peercert") or {}
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return "?"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError, ssl.SSLError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _splice(
    a: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    b: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    await asyncio.gather(_pipe(a[0], b[1]), _pipe(b[0], a[1]))


RPC_GROUP = "rpc"  # the group id a ring peer names for a request to the peer itself
GROUP_ID_MAX = 64
RPC_LIMIT = 1 << 24  # bytes of one RPC answer line (a page of the directory)


async def _read_group(reader: asyncio.StreamReader) -> str | None:
    """The group id a member sends right after the handshake (one short line), or ``None``."""
    try:
        line = await asyncio.wait_for(reader.readuntil(b"\n"), HANDSHAKE_SECONDS)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
        return None
    text = line[:-1].decode("ascii", "replace")
    return text if 0 < len(text) <= GROUP_ID_MAX else None


async def _no_rpc(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str) -> None:
    writer.close()


class _Acceptor(asyncio.Protocol):
    """Holds a new connection's bytes unread until the TLS layer takes the socket over (a
    stream reader would buffer the client's hello out of the handshake's reach)."""

    def __init__(self, tunnels: Tunnels) -> None:
        self._tunnels = tunnels

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.pause_reading()  # type: ignore[attr-defined]
        task = asyncio.ensure_future(self._tunnels._inbound(transport))
        self._tunnels._tasks.add(task)
        task.add_done_callback(self._tunnels._tasks.discard)


class Tunnels:
    """The TLS front of one peer: the public peer port, and one local port per partner."""

    def __init__(self, files: PeerFiles, internal: tuple[str, int] | None) -> None:
        """``internal``: the library's loopback address; ``None`` for a peer of several groups
        (p2p/groups.py), whose tunnels carry a group id after the handshake (``route_group``)."""
        self._server_ctx, self._client_ctx = contexts(files)
        self._internal = internal
        self._groups: dict[str, tuple[str, int]] = {}
        # Ring peers: the handler of a connection that named ``RPC_GROUP`` (p2p/groups.py).
        self.on_rpc: Callable[[asyncio.StreamReader, asyncio.StreamWriter, str], Awaitable[None]]
        self.on_rpc = _no_rpc
        # Ring peers: other named channels (``channel.CHANNEL``, a group's photos ``photo@GID``).
        self.channels: dict[
            str, Callable[[asyncio.StreamReader, asyncio.StreamWriter, str], Awaitable[None]]
        ] = {}
        self._servers: list[asyncio.Server] = []
        self._outbound: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.refused = 0
        self.accepted = 0
        # Other services on the peer port: a connection that opens with one of these byte
        # strings (never the start of pysyncobj's traffic) goes to its handler, not to Raft.
        self.services: dict[
            bytes, Callable[[asyncio.StreamReader, asyncio.StreamWriter, str], Awaitable[None]]
        ] = {}

    async def listen(self, host: str, port: int) -> int:
        """Accept TLS connections from members on ``host:port``; returns the port bound."""
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Acceptor(self), host, port)
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def _inbound(self, transport: asyncio.BaseTransport) -> None:
        """Handshake (the client's certificate is required), then splice to the library."""
        loop = asyncio.get_running_loop()
        where = transport.get_extra_info("peername")
        reader = asyncio.StreamReader()
        protocol = asyncio.StreamReaderProtocol(reader)
        try:
            tls = await loop.start_tls(
                transport,  # type: ignore[arg-type]
                protocol,
                self._server_ctx,
                server_side=True,
                ssl_handshake_timeout=HANDSHAKE_SECONDS,
            )
            if tls is None:
                raise ConnectionError("the connection closed during the handshake")
        except (ssl.SSLError, OSError, TimeoutError, ConnectionError) as exc:
            self.refused += 1
            log.warning("refused a peer connection from %s: %s", where, exc or type(exc).__name__)
            transport.abort()  # type: ignore[attr-defined]
            return
        protocol.connection_made(tls)
        writer = asyncio.StreamWriter(tls, protocol, reader, loop)
        name = peer_name(writer)
        head = b""
        internal = self._internal
        if internal is None:  # a ring peer: the member says which group (or RPC) it wants
            group = await _read_group(reader)
            if group == RPC_GROUP:
                self.accepted += 1
                await self.on_rpc(reader, writer, name)
                return
            channel = self.channels.get(group) if group is not None else None
            if channel is not None:
                self.accepted += 1
                await channel(reader, writer, name)
                return
            internal = self._groups.get(group) if group is not None else None
            if internal is None:
                log.info("peer %s asked for group %r, not held here", name, group)
                writer.close()
                return
        elif self.services:
            size = len(next(iter(self.services)))
            try:  # pysyncobj's side speaks first: its connections open with a length
                head = await asyncio.wait_for(reader.readexactly(size), HANDSHAKE_SECONDS * 6)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ssl.SSLError):
                writer.close()
                return
            service = self.services.get(head)
            if service is not None:
                await service(reader, writer, name)
                return
        try:
            inner = await asyncio.open_connection(*internal)
        except OSError as exc:
            log.warning("the Raft node is not listening (%s); dropping %s", exc, name)
            writer.close()
            return
        self.accepted += 1
        log.info("peer %s connected from %s", name, where)
        if head:
            inner[1].write(head)
        await _splice((reader, writer), inner)

    async def outbound(self, address: str) -> int:
        """A local port whose connections are carried over TLS to the member at ``address``."""
        port = self._outbound.get(address)
        if port is not None:
            return port
        # A ring peer's node names are ``GROUP@HOST:PORT``: the group goes after the handshake.
        group, _, where = address.rpartition("@")
        host, remote_port = where.rsplit(":", 1)

        async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await connect_and_splice(reader, writer)
            except asyncio.CancelledError:  # the peer is stopping
                writer.close()

        async def connect_and_splice(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            try:
                remote = await asyncio.wait_for(
                    asyncio.open_connection(
                        host, int(remote_port), ssl=self._client_ctx, server_hostname=host
                    ),
                    timeout=HANDSHAKE_SECONDS,
                )
            except (ssl.SSLError, OSError, TimeoutError) as exc:
                log.debug("cannot reach peer %s: %s", address, exc)
                writer.close()
                return
            if group:
                remote[1].write(group.encode() + b"\n")
            await _splice((reader, writer), remote)

        server = await asyncio.start_server(forward, "127.0.0.1", 0)
        self._servers.append(server)
        port = int(server.sockets[0].getsockname()[1])
        self._outbound[address] = port
        return port

    def outbound_port(self, address: str) -> int | None:
        return self._outbound.get(address)

    def route_internal(self, internal: tuple[str, int]) -> None:
        """Send a one-group peer's tunnels to ``internal`` (the library's port, picked again)."""
        self._internal = internal

    def route_group(self, group: str, internal: tuple[str, int] | None) -> None:
        """Send the tunnels that name ``group`` to ``internal`` (``None``: no longer held)."""
        if internal is None:
            self._groups.pop(group, None)
        else:
            self._groups[group] = internal

    async def connect(
        self, address: str, group: str
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TLS stream to the peer at ``address`` (``HOST:PORT``) that named ``group``.
        Raises OSError (or ssl.SSLError, TimeoutError) when it cannot be reached."""
        host, port = address.rsplit(":", 1)
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                host, int(port), ssl=self._client_ctx, server_hostname=host, limit=RPC_LIMIT
            ),
            timeout=HANDSHAKE_SECONDS,
        )
        writer.write(group.encode() + b"\n")
        return reader, writer

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
