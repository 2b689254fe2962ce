"""Photos on the shared house: two real ``auctionhouse serve`` processes on one PostgreSQL
database (started by the tests). A photo uploaded through one instance is named by an auction
created through the other and served, with its thumbnail, by both; the audit of the database
recomputes its digest, and catches a photo row changed behind the house's back."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from server_helpers import Api

import http_helpers
import pg_cluster
from auctionhouse.ledger import audit_database
from auctionhouse.ledger.photos import digest_of
from auctionhouse.ledger.postgres import connect
from serve_process import ServeProcess

pytestmark = pytest.mark.e2e

LIMITS = {
    f"AUCTIONHOUSE_HOUSE_{name}": "100000"
    for name in ("ACCOUNT_RATE", "ACCOUNT_BURST", "ADDRESS_RATE", "ADDRESS_BURST")
}


def jpeg(color: tuple[int, int, int], size: tuple[int, int] = (900, 600)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


def test_a_photo_uploaded_on_one_instance_is_served_and_audited_on_all(tmp_path: Path) -> None:
    url = pg_cluster.new_database()
    key = tmp_path / "house.key"
    env = {**LIMITS, "AUCTIONHOUSE_KEY_FILE": str(key)}
    one = ServeProcess(url, tmp_path / "serve-1.log", env)  # type: ignore[arg-type]
    two = ServeProcess(url, tmp_path / "serve-2.log", env)  # type: ignore[arg-type]
    one.start()  # the first creates the house key the other loads
    two.start()
    try:
        api1 = Api(http_helpers.client(base_url=one.url, timeout=20))
        api2 = Api(http_helpers.client(base_url=two.url, timeout=20))
        api1.account("snapper")
        api2.tokens["snapper"] = api1.tokens["snapper"]  # sessions live in the database
        r = api1.client.post(
            "/api/v1/photos", content=jpeg((20, 120, 200)), headers=api1.auth("snapper")
        )
        assert r.status_code == 201, r.text
        digest = r.json()["photo"]
        # The auction is made through the other instance: it finds the row the first wrote.
        r = api2.client.post(
            "/api/v1/auctions",
            json={"item": {"name": "Blue bowl", "photos": [digest]}, "method": "english"},
            headers=api2.auth("snapper"),
        )
        assert r.status_code == 201, r.text
        assert r.json()["item"]["photos"] == [digest]
        for api in (api2, api1):
            full = api.client.get(f"/api/v1/photos/{digest}")
            assert full.status_code == 200, full.text
            assert full.headers["content-type"] == "image/jpeg"
            assert digest_of(full.content) == digest
            thumb = api.client.get(f"/api/v1/photos/{digest}", params={"thumbnail": "true"})
            assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
            assert max(Image.open(io.BytesIO(thumb.content)).size) <= 400
        missing = api2.client.post(
            "/api/v1/auctions",
            json={"item": {"name": "x", "photos": ["ab" * 32]}, "method": "english"},
            headers=api2.auth("snapper"),
        )
        assert missing.status_code == 400 and "not uploaded" in missing.text
        one.stop()
        two.stop()
    finally:
        one.kill()
        two.kill()

    report = audit_database(url, key_path=key)
    assert report.ok, report.findings[:5]
    # The row is changed behind the house's back: the audit recomputes the digest.
    db = connect(url)
    try:
        db.execute(
            "UPDATE ledger_photos SET data = %s WHERE digest = %s", (jpeg((1, 2, 3)), digest)
        )
    finally:
        db.close()
    report = audit_database(url, key_path=key)
    assert not report.ok
    assert [(f.kind, f.auction_id) for f in report.findings] == [("photo", "1")]
    assert "altered" in report.findings[0].message
