"""Finding auctions and selling with photos from the CLI (``list --search --sort``,
``sell --photo``) and the SDK, against a real house."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import ExifTags, Image

from auctionhouse.client import Client
from auctionhouse.errors import InvalidPhoto, InvalidRequest, PhotoTooLarge

from .conftest import Cli, HouseProcess

pytestmark = pytest.mark.e2e
PASSWORD = "a long enough password\n"


def jpeg(path: Path, gps: bool = False) -> Path:
    exif = Image.Exif()
    if gps:
        exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 24.0)
    Image.new("RGB", (120, 80), (20, 160, 60)).save(path, "JPEG", exif=exif)
    return path


@pytest.fixture(scope="module")
def seller(house_server: HouseProcess, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    cli = Cli(house_server.url, tmp_path_factory.mktemp("cfg-finder"))
    cli.ok("account", "create", "finder", "--password-stdin", "--no-key", input=PASSWORD)
    return cli


def test_sell_with_photos_then_find_it_with_list_search_and_sort(
    seller: Cli, tmp_path: Path, house_server: HouseProcess
) -> None:
    photo = jpeg(tmp_path / "chair.jpg", gps=True)
    view = json.loads(
        seller.ok(
            "sell", "--method", "english", "--item", "Rattan armchair", "--description",
            "from a Lisbon café", "--start-price", "900", "--photo", str(photo), "--json",
        )
    )  # fmt: skip
    [digest] = view["item"]["photos"]
    shown = seller.ok("show", str(view["id"]))
    assert "photos" in shown and digest[:16] in shown
    stored = Client(house_server.url).photo(digest)
    assert Image.open(io.BytesIO(stored)).size == (120, 80)
    assert not Image.open(io.BytesIO(stored)).getexif()  # the GPS position did not survive
    seller.ok("sell", "--method", "english", "--item", "Rattan stool", "--start-price", "300")
    seller.ok("sell", "--method", "fpsb", "--item", "Oak chest", "--duration", "1h")
    found = json.loads(seller.ok("list", "--search", "rattan", "--sort", "price_low", "--json"))
    assert [a["item"]["name"] for a in found["auctions"]] == ["Rattan stool", "Rattan armchair"]
    assert found["total"] == 2
    table = seller.ok("list", "--search", "lisbon CAFE")
    assert "Rattan armchair" in table and "stool" not in table
    assert "Oak chest" in seller.ok("list", "--seller", "finder", "--method", "fpsb")


def test_bad_search_sort_and_photos_are_one_line_errors(seller: Cli, tmp_path: Path) -> None:
    for args, start in (
        (["list", "--sort", "cheapest"], "error: invalid_request: --sort must be one of"),
        (["list", "--search", "x" * 201], "error: invalid_request: "),
        (["sell", "--method", "english", "--item", "x", "--photo", str(tmp_path / "none.jpg")],
         "error: invalid_request: --photo"),
    ):  # fmt: skip
        done = seller.run(*args)
        assert done.returncode == 2 and done.stderr.startswith(start), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    done = seller.run("sell", "--method", "english", "--item", "Notes", "--photo", str(text))
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: invalid_photo: {text}: not a JPEG, PNG or WebP")
    assert "Notes" not in seller.ok("list")  # nothing was sold


def test_sdk_uploads_photos_and_searches(house_server: HouseProcess, tmp_path: Path) -> None:
    with Client(house_server.url) as client:
        client.create_account("sdkseller", PASSWORD.strip())
        client.login("sdkseller", PASSWORD.strip())
        first = client.upload_photo(jpeg(tmp_path / "a.jpg"))
        assert first["type"] == "image/jpeg" and (first["width"], first["height"]) == (120, 80)
        png = io.BytesIO()
        Image.new("RGBA", (10, 10)).save(png, "PNG")
        second = client.upload_photo(png.getvalue())
        view = client.create_auction(
            "Enamel sign", "english", {"duration": 600}, photos=[first["photo"], second["photo"]]
        )
        assert view["item"]["photos"] == [first["photo"], second["photo"]]
        thumb = client.photo(second["photo"], thumbnail=True)
        assert Image.open(io.BytesIO(thumb)).format == "WEBP"
        page = client.list_auctions(search="enamel", sort="newest")
        assert [a["id"] for a in page["auctions"]] == [view["id"]]
        with pytest.raises(InvalidPhoto):
            client.upload_photo(b"GIF89a")
        with pytest.raises(PhotoTooLarge):
            client.upload_photo(b"\xff" * (5 * 1024 * 1024 + 10))
        with pytest.raises(InvalidRequest):
            client.list_auctions(sort="loudest")
