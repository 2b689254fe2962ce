"""The house's Ed25519 key (PyNaCl): it seals closed auctions and signs checkpoints.

The private key file is JSON
``{"kind": "auctionhouse-house-key", "secret": HEX32, "public": HEX32}``, created with mode 0600.
A public key file (what an auditor needs) is either
``{"kind": "auctionhouse-house-public-key", "public": HEX32}`` or one line of 64 hex digits.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from auctionhouse.errors import InvalidRequest, NotFound

KEY_KIND = "auctionhouse-house-key"
PUBLIC_KIND = "auctionhouse-house-public-key"


class HouseKey:
    """A private Ed25519 signing key of the house."""

    __slots__ = ("_signing", "public_hex")

    def __init__(self, signing_key: SigningKey) -> None:
        self._signing = signing_key
        self.public_hex: str = signing_key.verify_key.encode().hex()

    @classmethod
    def generate(cls) -> HouseKey:
        return cls(SigningKey.generate())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> HouseKey:
        """Load a private key file; a missing or malformed file raises a typed error."""
        data = _read_json(Path(path))
        if not isinstance(data, dict) or data.get("kind") != KEY_KIND:
            raise InvalidRequest(f"{path}: not an auctionhouse house key file")
        key = cls(SigningKey(_hex32(data.get("secret"), path)))
        if data.get("public") not in (None, key.public_hex):
            raise InvalidRequest(f"{path}: the public key does not match the secret key")
        return key

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str]) -> HouseKey:
        """Load the key at ``path``, or create it there (mode 0600) when there is none."""
        p = Path(path)
        if p.exists():
            return cls.load(p)
        key = cls.generate()
        key.save(p)
        return key

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the private key file, mode 0600; never overwrites an existing file."""
        secret = self._signing.encode().hex()
        text = json.dumps({"kind": KEY_KIND, "secret": secret, "public": self.public_hex})
        try:
            fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise InvalidRequest(f"{path}: a key file exists already") from None
        except OSError as exc:
            raise InvalidRequest(f"{path}: cannot create the key file: {exc.strerror}") from exc
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())

    def save_public(self, path: str | os.PathLike[str]) -> None:
        """Write the public key file an auditor may hold apart from the database."""
        text = json.dumps({"kind": PUBLIC_KIND, "public": self.public_hex})
        Path(path).write_text(text + "\n", encoding="utf-8")

    def sign(self, message: bytes) -> str:
        """Detached Ed25519 signature of ``message``, as hex."""
        return self._signing.sign(message).signature.hex()

    def __repr__(self) -> str:
        return f"HouseKey(public={self.public_hex[:16]}...)"


def load_public_key(path: str | os.PathLike[str]) -> str:
    """The public key (hex) from a private key file, a public key file or a bare hex line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise NotFound(f"{path}: no such key file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"{path}: cannot read the key file: {exc}") from exc
    if len(text) == 64:
        return _hex32(text, path).hex()
    data = _read_json(p)
    if isinstance(data, dict) and data.get("kind") == PUBLIC_KIND:
        return _hex32(data.get("public"), path).hex()
    return HouseKey.load(p).public_hex


def verify(public_hex: str, message: bytes, signature_hex: object) -> bool:
    """True when ``signature_hex`` is a valid signature of ``message`` by ``public_hex``."""
    try:
        key = VerifyKey(strict_hex(public_hex, 32) or b"")
        key.verify(message, strict_hex(signature_hex, 64) or b"")
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(f"{path}: no such key file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest(f"{path}: not a readable key file: {exc}") from exc


HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")


def strict_hex(value: object, size: int) -> bytes | None:
    """``size`` bytes from exactly ``2 * size`` hex digits, else None. ``bytes.fromhex`` alone
    skips whitespace anywhere ("ab cd\n"), so the digits are matched in full first."""
    if not isinstance(value, str) or len(value) != 2 * size or not HEX.fullmatch(value):
        return None
    return bytes.fromhex(value)


def _hex32(value: object, path: str | os.PathLike[str]) -> bytes:
    raw = strict_hex(value, 32) or b""
    if len(raw) != 32:
        raise InvalidRequest(f"{path}: a key must be 32 bytes of hex")
    return raw
