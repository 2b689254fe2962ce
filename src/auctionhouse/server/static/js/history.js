// The bid history and the replay of a closed auction, from public events (docs/api.md
// "Public events"). Sealed bids before close are only counted, never listed.

import { h, isSealed, money, OUTCOME_NAMES, when } from "./format.js";

export function describeEvent(e, method) {
  switch (e.type) {
    case "AuctionCreated":
      return `${e.seller} put the item up for auction`;
    case "BidPlaced":
      if (e.amount === undefined) return "A sealed bid was received";
      if (method === "dutch") return `${e.bidder} accepted at ${money(e.price)}`;
      if (isSealed(method)) return `${e.bidder} bid ${money(e.amount)} (sealed)`;
      // Say who really moved the price: a bid that met a higher maximum names whose answered.
      {
        const bid = e.amount === null ? "up to a secret maximum" : money(e.amount);
        if (e.leader !== e.bidder) {
          return `${e.bidder} bid ${bid}; ${e.leader}'s maximum answered: ${e.leader} leads at ${money(e.price)}`;
        }
        return `${e.bidder} bid ${bid}: ${e.leader} leads at ${money(e.price)}`;
      }
    case "DeadlineExtended":
      return `Soft close: the close moved to ${when(e.closes_at).slice(11)}`;
    case "AuctionPaused":
      return "Paused by an admin";
    case "AuctionResumed":
      return `Resumed after ${Math.round(e.paused_for || 0)} s`;
    case "AuctionCancelled":
      return e.reason ? `Cancelled: ${e.reason}` : "Cancelled";
    case "AuctionClosed": {
      const words = OUTCOME_NAMES[e.outcome] || e.outcome;
      return e.outcome === "sold" ? `Closed: sold to ${e.winner} for ${money(e.price)}` : `Closed: ${words}`;
    }
    default:
      return e.type;
  }
}

// The list, newest first. Before a sealed auction closes it shows only the count.
export function renderHistory(list, view, events) {
  const sealedOpen = isSealed(view.method) && view.state !== "closed";
  if (sealedOpen) {
    const n = view.bid_count;
    list.replaceChildren(h("li", { class: "sealed-note" },
      `${n} sealed ${n === 1 ? "bid" : "bids"} so far. Amounts and bidders are revealed when the auction closes.`));
    return;
  }
  const shown = events.filter((e) => e.type !== "AuctionCreated").slice().reverse();
  if (!shown.length) {
    list.replaceChildren(h("li", { class: "empty" }, "No bids yet."));
    return;
  }
  list.replaceChildren(...shown.map((e) =>
    h("li", { class: `event ${e.type}`, "data-seq": e.seq },
      h("time", { class: "num", datetime: new Date(e.at * 1000).toISOString() }, when(e.at).slice(11)),
      h("span", {}, describeEvent(e, view.method)))));
}

// The auction as it stood after the first k events (for the replay's words).
export function foldEvents(events, k) {
  const s = { price: null, leader: null, bids: 0, closesAt: null, state: "open", result: null };
  for (const e of events.slice(0, k)) {
    if (e.type === "AuctionCreated") s.closesAt = e.rules ? e.rules.closes_at : null;
    else if (e.type === "BidPlaced") {
      s.bids += 1;
      if (typeof e.price === "number") s.price = e.price;
      if (e.leader) s.leader = e.leader;
    } else if (e.type === "DeadlineExtended") s.closesAt = e.closes_at;
    else if (e.type === "AuctionPaused") s.state = "paused";
    else if (e.type === "AuctionResumed") s.state = "open";
    else if (e.type === "AuctionClosed" || e.type === "AuctionCancelled") {
      s.state = "closed";
      s.result = e;
    }
  }
  return s;
}
