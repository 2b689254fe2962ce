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


def order_message(
    market_id: str,
    trader: str,
    side: str,
    price: int,
    quantity: int,
    nonce: int,
    ts: float | int,
) -> bytes:
    """The canonical bytes of a market order a trader signs (docs/markets.md): like a bid's,
    ``{"op": "order", "market", "trader", "side", "price", "quantity", "nonce", "ts"}`` as JSON
    with sorted keys. Its keys differ from a bid's, so no signature passes for the other."""
    return _canonical(
        {
            "op": "order",
            "market": market_id,
            "trader": trader,
            "side": side,
            "price": price,
            "quantity": quantity,
            "nonce": nonce,
            "ts": ts,
        }
    )


def cancel_message(
    market_id: str, trader: str, order_id: int, nonce: int, ts: float | int
) -> bytes:
    """The canonical bytes of a signed cancel: ``{"op": "cancel", "market", "trader",
    "order_id", "nonce", "ts"}``."""
    return _canonical(
        {
            "op": "cancel",
            "market": market_id,
            "trader": trader,
            "order_id": order_id,
            "nonce": nonce,
            "ts": ts,
        }
    )


def _canonical(body: dict[str, object]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
