// The browser's Ed25519 bidding key and signed bids (docs/api.md "Signed bids").
//
// The key is made here (vendored TweetNaCl: it works on plain http:// too, where WebCrypto is
// absent), kept in this browser's localStorage per account, and only its public half is sent to
// the house. Every bid is signed over the canonical bytes of
// {"amount","auction","bidder","nonce","proxy_max"?,"ts"}: JSON, sorted keys, no spaces, UTF-8 --
// byte for byte what auctionhouse.house.signing.bid_message builds.

import { clock } from "./clock.js";

const nacl = window.nacl;
const KEY_PREFIX = "auctionhouse.key.";
const NONCE_PREFIX = "auctionhouse.nonce.";

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

function pairFromSeed(seedHex) {
  const pair = nacl.sign.keyPair.fromSeed(fromHex(seedHex));
  return { publicKey: toHex(pair.publicKey), secretKey: pair.secretKey };
}

// The key this browser holds for an account, or null.
export function browserKey(accountId) {
  const seed = localStorage.getItem(KEY_PREFIX + accountId);
  if (!seed || !/^[0-9a-f]{64}$/.test(seed)) return null;
  return pairFromSeed(seed);
}

// A fresh key for an account (replacing any this browser held); returns the public key hex.
export function makeKey(accountId) {
  const seed = toHex(nacl.randomBytes(32));
  localStorage.setItem(KEY_PREFIX + accountId, seed);
  return pairFromSeed(seed).publicKey;
}

// A key made before the account exists (sign-up sends its public half with the account).
export function makeSeed() {
  return toHex(nacl.randomBytes(32));
}

export function publicKeyOf(seedHex) {
  return pairFromSeed(seedHex).publicKey;
}

export function storeSeed(accountId, seedHex) {
  localStorage.setItem(KEY_PREFIX + accountId, seedHex);
}

// The canonical message: keys in sorted order, JSON.stringify adds no spaces.
export function bidMessage({ auction, bidder, amount, nonce, ts, proxy_max: proxyMax }) {
  const body = { amount, auction, bidder, nonce };
  if (proxyMax !== null && proxyMax !== undefined) body.proxy_max = proxyMax;
  body.ts = ts;
  return JSON.stringify(body);
}

// Strictly increasing per account: microseconds of house time, like the CLI's NonceCounter, and
// always above the last one this browser used.
export function nextNonce(accountId) {
  const last = Number(localStorage.getItem(NONCE_PREFIX + accountId) || "0");
  const nonce = Math.max(last + 1, Math.floor(clock.now() * 1e6));
  localStorage.setItem(NONCE_PREFIX + accountId, String(nonce));
  return nonce;
}

// The fields to add to a bid body: nonce, ts (whole seconds of house time), signature.
export function signBid(accountId, auction, amount, proxyMax) {
  const key = browserKey(accountId);
  if (!key) return null;
  const nonce = nextNonce(accountId);
  const ts = Math.round(clock.now());
  const message = bidMessage({ auction, bidder: accountId, amount, nonce, ts, proxy_max: proxyMax });
  const signature = nacl.sign.detached(new TextEncoder().encode(message), key.secretKey);
  return { nonce, ts, signature: toHex(signature) };
}
