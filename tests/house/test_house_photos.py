"""Photos of items: checked and re-encoded with Pillow, stored content-addressed beside the
ledger, named in the auction's first event, covered by the audit."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import ExifTags, Image

from auctionhouse.errors import InvalidPhoto, InvalidRequest, PhotoTooLarge
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig
from auctionhouse.house.photos import MAX_BYTES, prepare
from auctionhouse.ledger import audit_database

CFG = HouseConfig.for_tests(account_rate=1e9, account_burst=1e9)


def image_bytes(
    fmt: str, size: tuple[int, int] = (64, 32), mode: str = "RGB", **save: object
) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (200, 30, 30) if mode == "RGB" else None).save(out, fmt, **save)  # type: ignore[arg-type]
    return out.getvalue()


def jpeg_with_gps(orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneCo"
    exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 22.0, 12.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (4.0, 53.0, 40.0)
    return image_bytes("JPEG", (40, 20), exif=exif, comment=b"taken at home")


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def test_exif_gps_and_other_metadata_are_stripped() -> None:
    upload = jpeg_with_gps()
    assert Image.open(io.BytesIO(upload)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # it is there
    photo = prepare(upload)
    again = Image.open(io.BytesIO(photo.data))
    assert again.format == "JPEG"
    assert not again.getexif()
    assert "exif" not in again.info and "comment" not in again.info
    assert b"PhoneCo" not in photo.data and b"taken at home" not in photo.data
    assert (photo.ext, photo.width, photo.height) == ("jpg", 40, 20)


def test_a_photo_is_turned_upright_by_its_exif_orientation() -> None:
    photo = prepare(jpeg_with_gps(orientation=6))  # "rotate 90": a 40x20 sensor image
    assert (photo.width, photo.height) == (20, 40)


@pytest.mark.parametrize(("fmt", "ext"), [("PNG", "png"), ("WEBP", "webp"), ("JPEG", "jpg")])
def test_each_format_is_kept_with_a_thumbnail(fmt: str, ext: str) -> None:
    photo = prepare(image_bytes(fmt, (1200, 600)))
    assert photo.ext == ext
    assert Image.open(io.BytesIO(photo.data)).format == fmt
    thumb = Image.open(io.BytesIO(photo.thumbnail))
    assert thumb.format == "WEBP" and thumb.size == (400, 200)


def test_transparency_survives_a_png() -> None:
    photo = prepare(image_bytes("PNG", mode="RGBA"))
    assert Image.open(io.BytesIO(photo.data)).mode == "RGBA"


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = png_header_only(100_000, 100_000)  # 10 billion pixels in ~60 bytes
    with pytest.raises(PhotoTooLarge) as caught:
        prepare(bomb)
    assert caught.value.code == "photo_too_large"
    out = io.BytesIO()
    Image.new("1", (8000, 6000)).save(out, "PNG")  # a real one: 48 million pixels, a few KB
    assert len(out.getvalue()) < 100_000
    with pytest.raises(PhotoTooLarge, match="8000 x 6000"):
        prepare(out.getvalue())


@pytest.mark.parametrize(
    "upload",
    [b"", b"not an image at all", image_bytes("GIF"), image_bytes("BMP"), image_bytes("PNG")[:60]],
    ids=["empty", "text", "gif", "bmp", "truncated"],
)
def test_what_is_not_a_jpeg_png_or_webp_is_refused(upload: bytes) -> None:
    with pytest.raises(InvalidPhoto) as caught:
        prepare(upload)
    assert caught.value.code == "invalid_photo"


def test_more_than_5_mb_is_refused() -> None:
    with pytest.raises(PhotoTooLarge):
        prepare(b"\xff" * (MAX_BYTES + 1))


def test_photos_go_with_the_auction_into_the_ledger_and_the_audit_checks_them(
    tmp_path: Path, clock: FakeClock
) -> None:
    db = tmp_path / "house.db"
    h = AuctionHouse.open(db, config=CFG, clock=clock)
    h.create_account("sam", "correct horse")
    first = h.add_photo("sam", jpeg_with_gps())
    second = h.add_photo("sam", image_bytes("PNG"))
    assert first["type"] == "image/jpeg" and len(first["photo"]) == 64
    assert h.add_photo("sam", jpeg_with_gps())["photo"] == first["photo"]  # content-addressed
    photos = [first["photo"], second["photo"]]
    view = h.create_auction("sam", "Vase", "english", {"duration": 60}, photos=photos)
    assert view["item"]["photos"] == photos
    assert h.ledger.events_for(view["id"])[0].photos == tuple(photos)  # type: ignore[union-attr]
    data, media = h.photo(first["photo"])
    assert (
        media == "image/jpeg"
        and data == (db.parent / "house.db.photos" / f"{first['photo']}.jpg").read_bytes()
    )
    assert h.photo(first["photo"], thumbnail=True)[1] == "image/webp"
    h.close()
    again = AuctionHouse.open(db, config=CFG, clock=clock)  # replayed with its photos
    assert again.view(view["id"])["item"]["photos"] == photos
    again.close()
    assert audit_database(db).ok
    stored = db.parent / "house.db.photos" / f"{second['photo']}.png"
    stored.write_bytes(stored.read_bytes() + b"\x00")
    (db.parent / "house.db.photos" / f"{first['photo']}.jpg").unlink()
    report = audit_database(db)
    assert not report.ok
    [finding] = [f for f in report.findings if f.kind == "photo"]
    assert finding.auction_id == view["id"]
    assert "missing" in finding.message and "altered" in finding.message


def test_an_auction_names_only_photos_uploaded_here(tmp_path: Path, clock: FakeClock) -> None:
    h = AuctionHouse.open(tmp_path / "house.db", config=CFG, clock=clock)
    h.create_account("sam", "correct horse")
    digest = h.add_photo("sam", image_bytes("PNG"))["photo"]
    with pytest.raises(InvalidRequest, match="was not uploaded"):
        h.create_auction("sam", "Vase", "english", photos=["ab" * 32])
    with pytest.raises(InvalidRequest, match="not a photo digest"):
        h.create_auction("sam", "Vase", "english", photos=["../../etc/passwd"])
    with pytest.raises(InvalidRequest, match="twice"):
        h.create_auction("sam", "Vase", "english", photos=[digest, digest])
    with pytest.raises(InvalidRequest, match="at most 8"):
        h.create_auction("sam", "Vase", "english", photos=[digest] * 9)
    assert h.auction_ids() == []  # nothing half-made
    h.close()
