"""Item photos, stored content-addressed beside the ledger (``<db>.photos/``).

A photo is a file named by the SHA-256 of its bytes (``<digest>.<ext>``, ext jpg, png or
webp) with its thumbnail beside it (``<digest>.thumb.webp``). The ``AuctionCreated`` event
names its photos by digest, so the hash chain covers them: the audit recomputes each file's
digest and reports a photo that is missing or whose bytes changed (``problem``). The house
writes only photos it has checked and re-encoded itself (house/photos.py); this module only
keeps bytes. ``PhotoFiles(None)`` keeps them in memory (an in-memory house, tests).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from auctionhouse.errors import InvalidRequest, LedgerError

TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
"""Extensions of stored photos and their media types."""
THUMB = "thumb.webp"


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_digest(digest: str) -> None:
    """Raise ``InvalidRequest`` unless ``digest`` is a SHA-256 in lowercase hex."""
    if not isinstance(digest, str) or len(digest) != 64 or digest.strip("0123456789abcdef"):
        raise InvalidRequest("not a photo digest (64 lowercase hex characters)")


class PhotoStore(Protocol):
    """Where a house keeps its photos: ``PhotoFiles`` (a directory beside an SQLite ledger, or
    memory), ``photos_pg.PostgresPhotos`` (the shared house's database), the replicas' store
    (p2p/photos.py). ``put`` returns once the photo is durable; the rest as ``PhotoFiles``."""

    def put(self, data: bytes, ext: str, thumb: bytes) -> str: ...

    def find(self, digest: str) -> tuple[str, str] | None: ...

    def read(self, digest: str, *, thumbnail: bool = False) -> tuple[bytes, str] | None: ...

    def problem(self, digest: str) -> str | None: ...


class PhotoFiles:
    """Content-addressed photo files in ``root`` (None: in memory)."""

    def __init__(self, root: str | os.PathLike[str] | None) -> None:
        self.root = Path(root) if root is not None else None
        self._memory: dict[str, bytes] = {}
        self._lock = threading.Lock()

    @classmethod
    def beside(cls, db_path: str | os.PathLike[str]) -> PhotoFiles:
        """The photo directory of the SQLite ledger at ``db_path``: ``<db_path>.photos``."""
        return cls(Path(f"{db_path}.photos"))

    def put(self, data: bytes, ext: str, thumb: bytes) -> str:
        """Store a photo (and its thumbnail) durably; returns its digest. Idempotent."""
        if ext not in TYPES:
            raise InvalidRequest(f"a photo is stored as one of {', '.join(TYPES)}")
        digest = digest_of(data)
        self._write(f"{digest}.{ext}", data)
        self._write(f"{digest}.{THUMB}", thumb)
        return digest

    def find(self, digest: str) -> tuple[str, str] | None:
        """``(file name, media type)`` of the photo ``digest``, or None when it is missing."""
        check_digest(digest)
        for ext, media in TYPES.items():
            name = f"{digest}.{ext}"
            if self._exists(name):
                return name, media
        return None

    def read(self, digest: str, *, thumbnail: bool = False) -> tuple[bytes, str] | None:
        """The bytes and media type of a photo (or its thumbnail), None when missing."""
        found = self.find(digest)
        if found is None:
            return None
        name, media = found
        if thumbnail:
            name, media = f"{digest}.{THUMB}", TYPES["webp"]
        data = self._read(name)
        return None if data is None else (data, media)

    def problem(self, digest: str) -> str | None:
        """What is wrong with the stored photo ``digest`` (missing, or its bytes no longer
        hash to its digest), or None when it is intact."""
        try:
            found = self.find(digest)
        except InvalidRequest:
            return f"{digest[:80]!r} is not a photo digest"
        if found is None:
            return f"photo {digest[:12]}... is missing"
        data = self._read(found[0])
        if data is None or digest_of(data) != digest:
            return f"photo {digest[:12]}... was altered (its bytes no longer match its digest)"
        return None

    def stored(self) -> Iterator[tuple[str, str, bytes, bytes]]:
        """Every stored photo as ``(digest it is named by, ext, bytes, thumbnail bytes)``
        (a migration copies them; the digest is the file's name, not checked here)."""
        if self.root is None:
            names = sorted(self._memory)
        elif self.root.is_dir():
            names = sorted(p.name for p in self.root.iterdir())
        else:
            names = []
        for name in names:
            digest, _, ext = name.partition(".")
            if ext not in TYPES or len(digest) != 64:
                continue  # a thumbnail (``.thumb.webp``) or a temporary file
            data, thumb = self._read(name), self._read(f"{digest}.{THUMB}")
            if data is not None:
                yield digest, ext, data, thumb or b""

    # -- files -------------------------------------------------------------------------------

    def _exists(self, name: str) -> bool:
        if self.root is None:
            return name in self._memory
        return (self.root / name).is_file()

    def _read(self, name: str) -> bytes | None:
        if self.root is None:
            return self._memory.get(name)
        try:
            return (self.root / name).read_bytes()
        except OSError:
            return None

    def _write(self, name: str, data: bytes) -> None:
        if self.root is None:
            with self._lock:
                self._memory[name] = bytes(data)
            return
        target = self.root / name
        if target.is_file() and target.stat().st_size == len(data):
            return  # content-addressed: the same name holds the same bytes
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, target)  # all or nothing: never a half-written photo
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            dir_fd = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise LedgerError(f"cannot store a photo in {self.root}: {exc}") from exc
