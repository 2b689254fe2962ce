"""Signed bids (DESIGN.md section 4): the canonical message and its Ed25519 check.

The client signs the canonical bytes of ``{"auction", "bidder", "amount", "nonce", "ts"}`` (plus
``"proxy_max"`` when the bid carries one, so that nobody can raise a bidder's maximum) as JSON with
sorted keys, no spaces, UTF-8. ``bidder`` is the account id.
"""

from __future__ import annotations

import json

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from auctionhouse.errors import BadSignature, InvalidRequest
from auctionhouse.ledger.keys import strict_hex


def bid_message(
    auction_id: str,
    bidder: str,
    amount: int,
    nonce: int,
    ts: float | int,
    proxy_max: int | None = None,
) -> bytes:
    body: dict[str, object] = {
        "auction": auction_id,
        "bidder": bidder,
        "amount": amount,
        "nonce": nonce,
        "ts": ts,
    }
    if proxy_max is not None:
        body["proxy_max"] = proxy_max
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def parse_public_key(hex_key: str) -> VerifyKey:
    raw = strict_hex(hex_key, 32)
    if raw is None:
        raise InvalidRequest("public_key must be 64 hex characters (Ed25519)")
    return VerifyKey(raw)


def verify(key: VerifyKey, message: bytes, signature_hex: str) -> None:
    signature = strict_hex(signature_hex, 64)
    if signature is None:
        raise BadSignature("signature must be 128 hex characters (an Ed25519 signature)")
    try:
        key.verify(message, signature)
    except BadSignatureError:
        raise BadSignature("the signature does not match the bid and the bidder's key") from None


def sign(key: SigningKey, message: bytes) -> str:
    return key.sign(message).signature.hex()
