// The bid form of the auction page, one shape per method: English (a bid, and optionally a
// secret maximum for automatic bidding), Dutch (accept the clock price), sealed (one bid).
// Every bid is signed with this browser's key; the house's refusal is shown in words.
// Also the seller's and admin's buttons (cancel, pause, resume).

import { ApiError, me, post, syncTime } from "../api.js";
import { clock } from "../clock.js";
import { h, houseCurrency, money, parseMoney, plainMoney, setText } from "../format.js";
import { phase } from "../info.js";
import { browserKey, signBid } from "../keys.js";

const HEADLINES = {
  bid_too_low: "Bid too low",
  auction_not_open: "Not open yet",
  auction_closed: "The auction has closed",
  auction_paused: "The auction is paused",
  already_bid: "Already bid",
  auction_full: "The auction is full",
  seller_cannot_bid: "You are the seller",
  bad_signature: "Signature refused",
  signature_required: "Signature required",
  replayed_nonce: "Bid refused (replayed nonce)",
  stale_timestamp: "Bid refused (clock skew)",
  rate_limited: "Too many bids",
  unauthorized: "Please sign in again",
  forbidden: "Not allowed",
  invalid_request: "Invalid bid",
  overloaded: "The house is busy",
  network: "No connection",
};

export function errorWords(err) {
  if (!(err instanceof ApiError)) return String(err.message || err);
  const head = HEADLINES[err.code] || "Refused";
  let text = `${head}: ${err.message}`;
  const min = err.fields.minimum;
  if (err.code === "bid_too_low" && typeof min === "number" && !err.message.includes(String(min))) {
    text += ` (minimum ${money(min)})`;
  }
  if (err.code === "rate_limited" && err.fields.retry_after) {
    text += ` Try again in ${Math.ceil(err.fields.retry_after)} s.`;
  }
  return text;
}

export function bidForm(page, { onAccepted }) {
  const el = h("div", { class: "bid-form" });
  const error = h("p", { class: "error", role: "alert", id: "bid-error" });
  const status = h("p", { class: "ok", role: "status", id: "bid-status" });
  let shape = "";
  let built = "";
  let parts = {};

  async function send(amount, proxyMax) {
    const account = me();
    const id = page.view.id;
    setText(error, "");
    setText(status, "Sending…");
    const submit = async () => {
      const body = { amount };
      if (proxyMax !== null && proxyMax !== undefined) body.proxy_max = proxyMax;
      const signed = signBid(account.id, id, amount, proxyMax);
      if (signed) Object.assign(body, signed);
      return post(`/auctions/${encodeURIComponent(id)}/bids`, body);
    };
    try {
      let ack;
      try {
        ack = await submit();
      } catch (err) {
        if (!(err instanceof ApiError) || (err.code !== "stale_timestamp" && err.code !== "replayed_nonce")) {
          throw err;
        }
        await syncTime(); // our idea of house time was off: sample it again, sign again
        ack = await submit();
      }
      setText(status, ackWords(page.view, ack, amount, proxyMax));
      onAccepted(ack);
      return true;
    } catch (err) {
      setText(status, "");
      setText(error, errorWords(err));
      return false;
    }
  }

  function build() {
    const v = page.view;
    const account = me();
    built = keyOf();
    parts = {};
    el.replaceChildren();
    if (!account) {
      shape = "anon";
      el.append(h("p", {}, h("a", { href: `#/signin?next=${encodeURIComponent(location.hash)}` },
        "Sign in"), " to bid."));
      return;
    }
    const you = v.you || {};
    const manage = manageButtons(v, account, error, status);
    if (v.seller === account.id || you.is_seller) {
      shape = "seller";
      el.append(h("p", {}, "This is your auction; you cannot bid in it."));
      el.append(...[manage, error, status].filter(Boolean));
      return;
    }
    if (v.state === "closed") {
      shape = "closed";
      el.append(h("p", {}, "Bidding has ended."), status);
      return;
    }
    if (!browserKey(account.id) && v.rules.signed_bids) {
      el.append(h("p", { class: "error" }, "This auction needs signed bids and this browser has no key ",
        "for your account. ", h("a", { href: "#/signin" }, "Make one on your account page"), "."));
    }
    if (v.method === "english") buildEnglish();
    else if (v.method === "dutch") buildDutch();
    else buildSealed();
    el.append(...[manage, error, status].filter(Boolean));
  }

  function buildEnglish() {
    shape = "english";
    const amount = h("input", { id: "bid-amount", name: "amount", inputmode: "decimal",
      autocomplete: "off", required: true, "aria-describedby": "bid-amount-hint" });
    const max = h("input", { id: "bid-max", name: "proxy_max", inputmode: "decimal",
      autocomplete: "off", "aria-describedby": "bid-max-hint" });
    const hint = h("small", { id: "bid-amount-hint", class: "num" });
    const button = h("button", { type: "submit", id: "bid-submit" }, "Place bid");
    const form = h("form", { id: "bid-form", novalidate: true },
      h("div", { class: "field" }, h("label", { for: "bid-amount" },
        page.view.rules.bids_are_maxima ? `Your maximum bid (${houseCurrency()})` : `Your bid (${houseCurrency()})`),
      amount, hint,
      page.view.rules.bids_are_maxima
        ? h("small", { id: "bid-is-max" }, "Every bid here is a maximum: the house bids for you only what is needed.")
        : null),
      h("div", { class: "field" },
        h("label", { for: "bid-max" }, "Bid automatically up to (optional)"), max,
        h("small", { id: "bid-max-hint" },
          "A secret maximum: the house bids the least needed for you, never more, and never shows it.")),
      button);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      let a;
      let m = null;
      try {
        a = parseMoney(amount.value);
        if (max.value.trim()) m = parseMoney(max.value);
      } catch (err) {
        setText(error, err.message);
        return;
      }
      button.disabled = true;
      const ok = await send(a, m);
      button.disabled = false;
      if (ok) {
        amount.value = "";
        max.value = "";
        amount.dataset.touched = "";
      }
    });
    amount.addEventListener("input", () => {
      amount.dataset.touched = "1";
    });
    parts = { amount, hint, button, form };
    el.append(form);
  }

  function buildDutch() {
    shape = "dutch";
    const button = h("button", { type: "button", id: "bid-accept", class: "accept num" });
    button.addEventListener("click", async () => {
      const price = page.view.price;
      button.disabled = true;
      await send(price, null);
      button.disabled = false;
    });
    parts = { button };
    el.append(h("p", {}, "The price falls until someone accepts it. The first accept wins."), button);
  }

  function buildSealed() {
    shape = "sealed";
    const you = page.view.you || {};
    if (you.bids && you.bids.length) {
      el.append(h("p", { id: "sealed-done" },
        `Your sealed bid of ${money(you.bids[0])} is in. One bid per bidder: it cannot be changed.`));
      shape = "sealed-done";
      return;
    }
    const amount = h("input", { id: "bid-amount", name: "amount", inputmode: "decimal",
      autocomplete: "off", required: true, "aria-describedby": "bid-amount-hint" });
    const button = h("button", { type: "submit", id: "bid-submit" }, "Submit sealed bid");
    const form = h("form", { id: "bid-form", novalidate: true },
      h("div", { class: "field" }, h("label", { for: "bid-amount" }, `Your sealed bid (${houseCurrency()})`), amount,
        h("small", { id: "bid-amount-hint" },
          `At least ${money(page.view.rules.starting_price)}. Hidden from everyone until close; ` +
          "one bid each, no changes.")),
      button);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      let a;
      try {
        a = parseMoney(amount.value);
      } catch (err) {
        setText(error, err.message);
        return;
      }
      button.disabled = true;
      await send(a, null);
      button.disabled = false;
    });
    parts = { amount, button, form };
    el.append(form);
  }

  function wantedShape() {
    const v = page.view;
    const account = me();
    if (!account) return "anon";
    if (v.seller === account.id) return "seller";
    if (v.state === "closed") return "closed";
    if (v.method === "english") return "english";
    if (v.method === "dutch") return "dutch";
    const you = v.you || {};
    return you.bids && you.bids.length ? "sealed-done" : "sealed";
  }

  // Rebuild only when the form's shape must change (typing is never interrupted otherwise).
  function keyOf() {
    return `${wantedShape()}:${page.view.state}`;
  }

  function update() {
    if (keyOf() !== built) build();
    tick(clock.now());
  }

  function tick(now) {
    const v = page.view;
    const open = phase(v, now) === "open";
    if (shape === "english" && parts.amount) {
      const min = v.min_next_bid;
      setText(parts.hint, min !== null && min !== undefined ? `At least ${money(min)}` : "");
      if (!parts.amount.dataset.touched && document.activeElement !== parts.amount && min) {
        const want = plainMoney(min);
        if (parts.amount.value !== want) parts.amount.value = want;
      }
      parts.button.disabled = !open;
    } else if (shape === "dutch" && parts.button) {
      setText(parts.button, open ? `Accept at ${money(v.price)}` : "Not open");
      if (!parts.button.matches(":disabled") || !open) parts.button.disabled = !open;
    } else if (shape === "sealed" && parts.button) {
      parts.button.disabled = !open;
    }
  }

  build();
  return { el, update, tick, destroy() {} };
}

function ackWords(view, ack, amount, proxyMax) {
  if (view.method === "dutch") return `You accepted at ${money(ack.price)}. You won.`;
  if (view.method !== "english") return `Your sealed bid of ${money(amount)} is in.`;
  const lead = ack.leader === (me() || {}).id ? "you lead" : `${ack.leader} still leads (a higher maximum)`;
  const max = proxyMax ? ` with a secret maximum of ${money(proxyMax)}` : "";
  return `Bid accepted${max}: price ${money(ack.price)}, ${lead}.`;
}

function manageButtons(view, account, error, status) {
  if (view.state === "closed") return null;
  const isAdmin = account.role === "admin";
  const isSeller = view.seller === account.id;
  if (!isAdmin && !isSeller) return null;
  const act = (path, words) => async () => {
    setText(error, "");
    try {
      await post(`/auctions/${encodeURIComponent(view.id)}/${path}`, path === "cancel" ? {} : undefined);
      setText(status, words);
    } catch (err) {
      setText(error, errorWords(err));
    }
  };
  const buttons = [];
  if (isSeller || isAdmin) {
    buttons.push(h("button", { type: "button", id: "cancel-auction", class: "danger",
      onclick: act("cancel", "The auction is cancelled.") }, "Cancel auction"));
  }
  if (isAdmin && view.state === "paused") {
    buttons.push(h("button", { type: "button", id: "resume-auction", onclick: act("resume", "Resumed.") },
      "Resume"));
  } else if (isAdmin) {
    buttons.push(h("button", { type: "button", id: "pause-auction", onclick: act("pause", "Paused.") },
      "Pause"));
  }
  return h("div", { class: "manage" }, buttons);
}
