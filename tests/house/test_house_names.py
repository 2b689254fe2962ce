"""Identifiers are matched in full and names are normalised (issue 10, fault 7).

``"alice\\n"`` once passed a ``^...$`` pattern beside ``alice``; every identifier pattern now
matches the whole text, and names are NFKC-normalised and case-folded before they are checked
and before they are compared, so one person cannot be shown as two accounts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nacl.signing import SigningKey

from auctionhouse.errors import AuctionhouseError, BadSignature, Conflict, InvalidRequest
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig, bid_message, sign
from auctionhouse.house.accounts import check_name
from auctionhouse.ledger.keys import HouseKey, load_public_key, strict_hex

BAD_NAMES = [
    "alice\n",
    "alice\r\n",
    "\nalice",
    "ali\nce",
    "alice ",
    " alice",
    "al ice",
    "alice\t",
    "alice\x00",
    "alice\u200b",  # zero-width space
    "alice\u202e",  # right-to-left override
    "alice\x1b[31m",
    "",
    "-alice",
    "a" * 33,
    "ａ" * 33,
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_name_with_anything_outside_the_pattern_is_refused(
    house: AuctionHouse, name: str
) -> None:
    house.create_account("alice", "correct horse")
    with pytest.raises(InvalidRequest):
        house.create_account(name, "correct horse")
    assert house.accounts.all_ids() == ["alice"]


@pytest.mark.parametrize("name", ["ａｌｉｃｅ", "Alice", "ALICE", "ａＬＩＣＥ"])
def test_names_are_one_account_after_normalisation(house: AuctionHouse, name: str) -> None:
    house.create_account("alice", "correct horse")
    with pytest.raises(Conflict):
        house.create_account(name, "correct horse")
    token = house.login(name, "correct horse")
    assert house.authenticate(token).id == "alice"
    assert house.accounts.get(name).id == "alice"


def test_a_normalised_name_is_stored_in_its_one_form(house: AuctionHouse) -> None:
    account = house.create_account("Ｂｏｂ", "correct horse")
    assert account.id == "bob"
    assert check_name("ｂｏｂ") == "bob"
    assert house.accounts.all_ids() == ["bob"]


@pytest.mark.parametrize(
    "text",
    [
        "ab" * 32 + "\n",
        " " + "ab" * 32,
        "ab " * 32,
        "ab" * 31 + "a\nb",
        "ab" * 32 + "00",
        "xy" * 32,
    ],
)
def test_keys_must_be_exactly_64_hex_digits(house: AuctionHouse, text: str) -> None:
    assert strict_hex(text, 32) is None
    with pytest.raises(InvalidRequest):
        house.create_account("carol", "correct horse", public_key=text)


def test_a_signature_with_whitespace_is_refused(tmp_path: Path, clock: FakeClock) -> None:
    cfg = HouseConfig.for_tests(bid_verification_required=True)
    house = AuctionHouse.open(tmp_path / "h.db", config=cfg, clock=clock)
    key = SigningKey.generate()
    house.create_account("seller", "correct horse")
    house.create_account("ann", "correct horse", public_key=key.verify_key.encode().hex())
    aid = house.create_auction("seller", "lamp", "english", {"duration": 60})["id"]
    now = clock.now()
    good = sign(key, bid_message(aid, "ann", 10, 1, now))
    for bad in (good + "\n", good[:64] + " " + good[64:], "\n" + good):
        with pytest.raises(BadSignature):
            house.place_bid("ann", aid, 10, nonce=1, ts=now, signature=bad)
    assert house.place_bid("ann", aid, 10, nonce=1, ts=now, signature=good)["seq"] == 2
    house.close()


def test_a_house_key_file_with_a_spaced_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pub.txt"
    key = HouseKey.generate()
    path.write_text(" ".join(key.public_hex[i : i + 2] for i in range(0, 64, 2)) + "\n")
    with pytest.raises(AuctionhouseError):
        load_public_key(path)
    path.write_text(key.public_hex + "\n")
    assert load_public_key(path) == key.public_hex
