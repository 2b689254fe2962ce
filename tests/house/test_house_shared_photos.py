"""Photos of a shared house in its PostgreSQL database (ledger/photos_pg.py): ``migrate``
copies an embedded house's photo files with its ledger (photos first, checked against their
names), every instance serves them, and the audit of the database covers them."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from PIL import Image

import pg_cluster
from auctionhouse.errors import InvalidRequest
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig
from auctionhouse.house.shared import SharedAuctionHouse, migrate_house
from auctionhouse.ledger import audit_database
from auctionhouse.ledger.photos import PhotoFiles
from serve_process import clean_env

CFG = HouseConfig.for_tests(account_rate=1e9, account_burst=1e9)


def png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def embedded(tmp_path: Path) -> tuple[Path, list[str]]:
    """An embedded house with an auction naming two photos (and one photo never used)."""
    path = tmp_path / "house.db"
    house = AuctionHouse.open(path, config=CFG, clock=FakeClock(1_000_000.0))
    try:
        house.create_account("ann", "pw-ann-12345")
        digests = [house.add_photo("ann", png(c))["photo"] for c in ((9, 9, 200), (200, 9, 9))]
        house.add_photo("ann", png((1, 200, 1)))
        house.create_auction("ann", "Two jugs", "english", {"duration": 60}, photos=digests)
    finally:
        house.close()
    return path, digests


def open_shared(url: str, key: Path) -> SharedAuctionHouse:
    return SharedAuctionHouse.open_shared(url, key_path=key, config=CFG, clock=FakeClock(1e6))


def test_migrate_copies_the_photos_and_an_instance_serves_them(
    embedded: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, digests = embedded
    url = pg_cluster.new_database()
    done = subprocess.run(
        [sys.executable, "-m", "auctionhouse", "migrate", str(path), url],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 photos" in done.stdout and "intact" in done.stdout, done.stdout
    files = PhotoFiles.beside(path)
    house = open_shared(url, Path(f"{path}.key"))
    try:
        assert house.view("1")["item"]["photos"] == digests
        for digest in digests:
            assert house.photo(digest) == files.read(digest)
            assert house.photo(digest, thumbnail=True) == files.read(digest, thumbnail=True)
    finally:
        house.close()
    assert audit_database(url, key_path=Path(f"{path}.key")).ok


def test_migrate_refuses_a_photo_file_that_was_changed_and_writes_nothing(
    embedded: tuple[Path, list[str]],
) -> None:
    path, digests = embedded
    (Path(f"{path}.photos") / f"{digests[1]}.png").write_bytes(png((0, 0, 0)))
    url = pg_cluster.new_database()
    with pytest.raises(InvalidRequest, match="do not match its name"):
        migrate_house(path, url)
    with psycopg.connect(url, autocommit=True) as db:
        assert db.execute("SELECT count(*) FROM ledger_photos").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM ledger_events").fetchone() == (0,)


def test_the_audit_reports_a_photo_row_deleted_from_the_database(
    embedded: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, digests = embedded
    url = pg_cluster.new_database()
    migrate_house(path, url)
    key = tmp_path / "house.key"
    shutil.copy(f"{path}.key", key)
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("DELETE FROM ledger_photos WHERE digest = %s", (digests[0],))
    report = audit_database(url, key_path=key)
    assert [(f.kind, f.auction_id) for f in report.findings] == [("photo", "1")]
    assert "missing" in report.findings[0].message
    # An instance refuses a new auction naming the photo that is gone.
    house = open_shared(url, key)
    try:
        assert house.photos is not None and house.photos.find(digests[0]) is None
        assert house.photos.find(digests[1]) is not None
    finally:
        house.close()
