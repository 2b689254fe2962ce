"""One contract for every photo store (ledger/photos.py ``PhotoStore``): files beside an SQLite
ledger, memory, and the shared house's PostgreSQL table (ledger/photos_pg.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import pg_cluster
from auctionhouse.errors import InvalidRequest
from auctionhouse.ledger.photos import PhotoFiles, PhotoStore
from auctionhouse.ledger.photos_pg import PostgresPhotos

DATA, THUMB = b"\xff\xd8 a photo's bytes", b"RIFF a thumbnail"
DIGEST = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(params=["files", "memory", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PhotoStore]:
    if request.param == "files":
        yield PhotoFiles(tmp_path / "photos")
    elif request.param == "memory":
        yield PhotoFiles(None)
    else:
        photos = PostgresPhotos(pg_cluster.new_database())
        try:
            yield photos
        finally:
            photos.close()


def test_a_photo_is_kept_under_its_digest_with_its_thumbnail(store: PhotoStore) -> None:
    assert store.find(DIGEST) is None and store.read(DIGEST) is None
    assert store.problem(DIGEST) == f"photo {DIGEST[:12]}... is missing"
    assert store.put(DATA, "jpg", THUMB) == DIGEST
    assert store.put(DATA, "jpg", THUMB) == DIGEST  # idempotent
    assert store.find(DIGEST) == (f"{DIGEST}.jpg", "image/jpeg")
    assert store.read(DIGEST) == (DATA, "image/jpeg")
    assert store.read(DIGEST, thumbnail=True) == (THUMB, "image/webp")
    assert store.problem(DIGEST) is None


@pytest.mark.parametrize("digest", ["", "AB" * 32, "ab" * 31, "../" * 30, "g" * 64])
def test_a_malformed_digest_is_refused(store: PhotoStore, digest: str) -> None:
    with pytest.raises(InvalidRequest):
        store.find(digest)
    with pytest.raises(InvalidRequest):
        store.read(digest)
    assert "not a photo digest" in str(store.problem(digest))


def test_an_unknown_type_is_refused(store: PhotoStore) -> None:
    with pytest.raises(InvalidRequest, match="one of jpg, png, webp"):
        store.put(DATA, "gif", THUMB)
    assert store.find(DIGEST) is None
