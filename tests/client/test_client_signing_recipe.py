"""docs/signing.md's recipes, run as written against a real house: the SDK and bare PyNaCl
functions, and the shell recipe with bash, openssl, jq and curl."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from auctionhouse.client import BidKey, Client

from .conftest import HouseProcess

pytestmark = pytest.mark.e2e
DOC = Path(__file__).resolve().parents[2] / "docs" / "signing.md"
PASSWORD = "correct horse battery"


def recipe(kind: str) -> list[str]:
    """The code blocks that follow a ``<!-- recipe: KIND -->`` marker, in order."""
    pattern = rf"<!-- recipe: {kind} -->\s*```\w+\n(.*?)```"
    blocks = re.findall(pattern, DOC.read_text(), flags=re.S)
    assert blocks, f"no {kind} recipe in {DOC}"
    return blocks


def _bash(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def _signed_auction(url: str, seller: str) -> str:
    with Client(url) as client:
        client.create_account(seller, PASSWORD)
        client.login(seller, PASSWORD)
        view = client.create_auction("print", "english", {"duration": 120, "signed_bids": True})
        return str(view["id"])


def _bids(url: str, auction: str) -> list[dict[str, Any]]:
    with Client(url) as client:
        return [e for e in client.events(auction)["events"] if e["type"] == "BidPlaced"]


def test_sdk_and_pynacl_recipes(house_server: HouseProcess, tmp_path: Path) -> None:
    auction = _signed_auction(house_server.url, "recipe-seller-py")
    namespace: dict[str, Any] = {}
    for block in recipe("sdk") + recipe("pynacl"):
        exec(compile(block, str(DOC), "exec"), namespace)

    ack = namespace["bid_with_the_sdk"](
        house_server.url, "recipe-sdk", PASSWORD, auction, 100, str(tmp_path / "sdk.pem")
    )
    assert ack["accepted"] and ack["leader"] == "recipe-sdk"

    seed = os.urandom(32)
    public = bytes(SigningKey(seed).verify_key).hex()
    with Client(house_server.url) as client:
        client.create_account("recipe-nacl", PASSWORD, public_key=public)
        token = client.login("recipe-nacl", PASSWORD)["token"]
    ack = namespace["bid_with_pynacl"](
        house_server.url, token, "recipe-nacl", auction, 150, seed, time.time_ns() // 1000
    )
    assert ack["accepted"] and ack["leader"] == "recipe-nacl"
    assert [(b["bidder"], b["amount"]) for b in _bids(house_server.url, auction)] == [
        ("recipe-sdk", 100),
        ("recipe-nacl", 150),
    ]


def test_shell_recipe_with_openssl_jq_and_curl(house_server: HouseProcess, tmp_path: Path) -> None:
    auction = _signed_auction(house_server.url, "recipe-seller-sh")
    setup, bid = recipe("shell")
    env = {
        **os.environ,
        "HOUSE": house_server.url,
        "ACCOUNT": "recipe-shell",
        "PASSWORD": PASSWORD,
        "AUCTION": auction,
        "AMOUNT": "300",
    }
    first = _bash(setup + bid, env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert '"accepted":true' in first.stdout.replace(" ", "")
    key = tmp_path / "recipe-shell.pem"
    assert key.stat().st_mode & 0o777 == 0o600

    # A second bid in another run: a new nonce, still above the first.
    with Client(house_server.url) as client:
        env["TOKEN"] = client.login("recipe-shell", PASSWORD)["token"]
    env.update(AMOUNT="400", KEY=str(key))
    second = _bash("set -euo pipefail\n" + bid, env, tmp_path)
    assert second.returncode == 0, second.stderr
    bids = _bids(house_server.url, auction)
    assert [(b["bidder"], b["amount"]) for b in bids] == [
        ("recipe-shell", 300),
        ("recipe-shell", None),  # the leader's second bid raised its (secret) maximum
    ]
    assert all(b["price"] == 300 for b in bids)

    # The same key signs for the SDK and the CLI too (same PEM format).
    assert (
        BidKey.load(key).public_key
        == subprocess.run(
            [
                "bash",
                "-c",
                f"openssl pkey -in {key} -pubout -outform DER | tail -c 32 | od -An -v -tx1 | tr -d ' \\n'",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )

    # A bad amount in the shell gets the house's error body and a failing curl.
    env["AMOUNT"] = "350"
    low = _bash("set -euo pipefail\n" + bid, env, tmp_path)
    assert low.returncode != 0 and '"bid_too_low"' in low.stdout
