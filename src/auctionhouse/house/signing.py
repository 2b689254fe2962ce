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
    try:
        raw = bytes.fromhex(hex_key)
    except (ValueError, TypeError):
        raise InvalidRequest("public_key must be 64 hex characters (Ed25519)") from None
    if len(raw) != 32:
        raise InvalidRequest("public_key must be 64 hex characters (Ed25519)")
    return VerifyKey(raw)


def verify(key: VerifyKey, message: bytes, signature_hex: str) -> None:
    try:
        signature = bytes.fromhex(signature_hex)
    except (ValueError, TypeError):
        raise BadSignature("signature must be hex") from None
    if len(signature) != 64:
        raise BadSignature("an Ed25519 signature has 64 bytes")
    try:
        key.verify(message, signature)
    except BadSignatureError:
        raise BadSignature("the signature does not match the bid and the bidder's key") from None


def sign(key: SigningKey, message: bytes) -> str:
    return key.sign(message).signature.hex()
