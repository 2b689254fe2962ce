"""Bid keys: Ed25519 key files readable by their owner only, and nonces that never repeat.

A key file is a PKCS#8 PEM (``-----BEGIN PRIVATE KEY-----``), the format ``openssl genpkey
-algorithm ed25519`` writes, so the same file signs bids from Python and from the shell
(docs/signing.md). It is created with mode 0600; a key file that the group or others may read
is refused (``config_error``), like ssh refuses such a key.

Nonces must grow strictly per account (the house refuses a replayed one). :class:`NonceCounter`
keeps the last nonce in ``KEYFILE.nonce`` and hands out ``max(last + 1, microseconds since the
epoch)`` under an exclusive file lock, so two runs, or two processes at once, never reuse one,
and a lost counter file still yields nonces above the old ones.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
import time
from pathlib import Path

from nacl.signing import SigningKey

from auctionhouse.errors import ConfigError, Conflict
from auctionhouse.house.signing import bid_message, cancel_message, order_message, sign

try:  # POSIX; elsewhere a single process per key is assumed
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

# DER prefixes of an Ed25519 PKCS#8 private key and of its SubjectPublicKeyInfo (RFC 8410).
_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
_PEM_PRIVATE = "PRIVATE KEY"


def _pem(label: str, der: bytes) -> str:
    body = base64.encodebytes(der).decode().strip()
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


def _write_private(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 (never widening it, never replacing a file)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise Conflict(f"{path} exists already; not overwriting a key") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def check_private_mode(path: Path, what: str = "key file") -> None:
    """Refuse a secret file that the group or others may read or write."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"no {what} at {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{what} {path} is accessible by others (mode {stat.S_IMODE(mode):04o});"
            f" run: chmod 600 {path}"
        )


class BidKey:
    """An Ed25519 signing key for bids, with the file it lives in (if any)."""

    def __init__(self, signing_key: SigningKey, path: Path | None = None) -> None:
        self.signing_key = signing_key
        self.path = path

    @classmethod
    def generate(cls, path: str | Path | None = None) -> BidKey:
        """A new random key; written to ``path`` (mode 0600, never overwriting) if given."""
        key = cls(SigningKey.generate(), Path(path) if path is not None else None)
        if key.path is not None:
            key.save(key.path)
        return key

    @classmethod
    def load(cls, path: str | Path) -> BidKey:
        """Load a PEM key file; refuse it if the group or others may read it."""
        path = Path(path)
        check_private_mode(path)
        text = path.read_text(encoding="ascii", errors="replace")
        return cls(SigningKey(_seed_from_pem(text, path)), path)

    def save(self, path: str | Path) -> None:
        _write_private(Path(path), self.private_pem())
        self.path = Path(path)

    def private_pem(self) -> str:
        return _pem(_PEM_PRIVATE, _PKCS8_PREFIX + bytes(self.signing_key))

    def public_pem(self) -> str:
        return _pem("PUBLIC KEY", _SPKI_PREFIX + bytes(self.signing_key.verify_key))

    @property
    def public_key(self) -> str:
        """The public key as the house wants it: 64 hex characters."""
        return bytes(self.signing_key.verify_key).hex()

    def nonces(self) -> NonceCounter:
        """The persistent nonce counter beside the key file (in memory for a key without one)."""
        return NonceCounter(Path(f"{self.path}.nonce") if self.path is not None else None)

    def sign_bid(
        self,
        auction_id: str,
        bidder: str,
        amount: int,
        nonce: int,
        ts: float | int,
        proxy_max: int | None = None,
    ) -> str:
        """The hex signature of the canonical bid bytes (``house.signing.bid_message``)."""
        message = bid_message(auction_id, bidder, amount, nonce, ts, proxy_max)
        return sign(self.signing_key, message)

    def sign_order(
        self,
        market_id: str,
        trader: str,
        side: str,
        price: int,
        quantity: int,
        nonce: int,
        ts: float | int,
    ) -> str:
        """The hex signature of a market order (``house.signing.order_message``)."""
        message = order_message(market_id, trader, side, price, quantity, nonce, ts)
        return sign(self.signing_key, message)

    def sign_cancel(
        self, market_id: str, trader: str, order_id: int, nonce: int, ts: float | int
    ) -> str:
        """The hex signature of a cancel (``house.signing.cancel_message``)."""
        return sign(self.signing_key, cancel_message(market_id, trader, order_id, nonce, ts))


def _seed_from_pem(text: str, path: Path) -> bytes:
    begin, end = f"-----BEGIN {_PEM_PRIVATE}-----", f"-----END {_PEM_PRIVATE}-----"
    if begin not in text or end not in text:
        raise ConfigError(f"{path} is not a PEM private key (expected {begin})")
    body = text.split(begin, 1)[1].split(end, 1)[0]
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{path}: the PEM body is not base64") from None
    if len(der) != len(_PKCS8_PREFIX) + 32 or not der.startswith(_PKCS8_PREFIX):
        raise ConfigError(f"{path} is not an Ed25519 private key")
    return der[len(_PKCS8_PREFIX) :]


class NonceCounter:
    """Strictly increasing nonces, persisted in ``path`` (mode 0600) under a file lock."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._last = 0

    def next(self) -> int:
        if self.path is None:
            self._last = max(self._last + 1, time.time_ns() // 1000)
            return self._last
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.read(fd, 64).decode("ascii", errors="replace").strip()
            last = int(raw) if raw.isdigit() else 0
            nonce = max(last + 1, time.time_ns() // 1000)
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, f"{nonce}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock
        self._last = nonce
        return nonce
