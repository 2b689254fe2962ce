// Price over time as inline SVG, from the public event log (no library).
//
// English: a step line of the price after each bid. Dutch: the clock's staircase from the
// starting price (paused time does not count) until the accept. Sealed: nothing before close
// but a mark per bid on the time axis; after close each revealed bid and the price paid.
// `until` (a house time) cuts the drawing there: the replay draws the auction as it stood.

import { h, money, when } from "./format.js";

const PAD = { left: 56, right: 12, top: 12, bottom: 28 };
const MAX_STEPS = 2000;

export function priceChart({ view, events, now, until = null, width = 640, label = "Price over time" }) {
  const W = Math.max(280, Math.round(width || 640));
  const H = Math.round(Math.min(260, Math.max(180, W * 0.38)));
  const opened = view.opens_at ?? view.created_at;
  const end = Math.max(opened + 1, until ?? timeEnd(view, opened, now));
  const cut = until ?? (view.result ? end : Math.min(end, now));
  const seen = events.filter((e) => e.at <= cut + 1e-9);
  const series = view.method === "dutch" ? dutchSeries(view, seen, opened, cut)
    : view.method === "english" ? englishSeries(seen, cut)
      : [];
  const dots = view.method === "english" || view.method === "dutch" ? []
    : seen.filter((e) => e.type === "BidPlaced" && typeof e.amount === "number")
      .map((e) => ({ t: e.at, price: e.amount, bidder: e.bidder }));
  const sealedMarks = seen.filter((e) => e.type === "BidPlaced" && e.amount === undefined);
  const closedEvent = seen.find((e) => e.type === "AuctionClosed");
  const paid = closedEvent && typeof closedEvent.price === "number" ? closedEvent.price : null;

  const prices = [...series.map((p) => p.price), ...dots.map((d) => d.price)];
  if (paid !== null) prices.push(paid);
  if (!prices.length && view.rules.starting_price) prices.push(view.rules.starting_price);
  const top = niceTop(Math.max(1, ...prices));
  const x = (t) => PAD.left + ((t - opened) / (end - opened)) * (W - PAD.left - PAD.right);
  const y = (p) => H - PAD.bottom - (p / top) * (H - PAD.top - PAD.bottom);

  const parts = [];
  for (let i = 0; i <= 4; i++) {
    const p = Math.round((top * i) / 4);
    parts.push(
      h("svg:line", { x1: PAD.left, x2: W - PAD.right, y1: y(p), y2: y(p), class: "grid" }),
      h("svg:text", { x: PAD.left - 6, y: y(p) + 4, class: "axis", "text-anchor": "end" }, money(p)),
    );
  }
  parts.push(
    h("svg:text", { x: PAD.left, y: H - 8, class: "axis" }, when(opened).slice(11)),
    h("svg:text", { x: W - PAD.right, y: H - 8, class: "axis", "text-anchor": "end" },
      when(end).slice(11)),
  );
  for (const e of seen) {
    if (e.type === "DeadlineExtended") {
      parts.push(h("svg:line", { x1: x(e.at), x2: x(e.at), y1: PAD.top, y2: H - PAD.bottom,
        class: "marker extended" }));
    } else if (e.type === "AuctionPaused" || e.type === "AuctionResumed") {
      parts.push(h("svg:line", { x1: x(e.at), x2: x(e.at), y1: PAD.top, y2: H - PAD.bottom,
        class: "marker paused" }));
    }
  }
  if (series.length) {
    const d = series.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.price).toFixed(1)}`);
    parts.push(h("svg:path", { d: d.join(" "), class: "line" }));
    for (const p of series.filter((s) => s.bid)) {
      parts.push(h("svg:circle", { cx: x(p.t), cy: y(p.price), r: 3.5, class: "dot" }));
    }
  }
  for (const d of dots) {
    parts.push(h("svg:circle", { cx: x(d.t), cy: y(d.price), r: 4, class: "dot" }));
  }
  if (paid !== null && view.method !== "english" && view.method !== "dutch") {
    parts.push(h("svg:line", { x1: PAD.left, x2: W - PAD.right, y1: y(paid), y2: y(paid),
      class: "paid" }));
  }
  for (const e of sealedMarks) {
    parts.push(h("svg:line", { x1: x(e.at), x2: x(e.at), y1: H - PAD.bottom - 8,
      y2: H - PAD.bottom, class: "sealed-mark" }));
  }
  if (until !== null) {
    parts.push(h("svg:line", { x1: x(cut), x2: x(cut), y1: PAD.top, y2: H - PAD.bottom,
      class: "cursor" }));
  }
  return h("svg:svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img",
    "aria-label": describe(label, view, series, dots, sealedMarks, paid) }, parts);
}

// The right edge: the close of a closed auction; for an open one its deadline when that is
// near enough to draw the time left, else now.
function timeEnd(view, opened, now) {
  if (view.result) return view.result.closed_at;
  const due = view.close_due_at ?? view.closes_at;
  if (due && due > now && due - opened <= 6 * 3600) return due;
  return now;
}

function englishSeries(events, cut) {
  const out = [];
  for (const e of events) {
    if (e.type === "BidPlaced" && typeof e.price === "number") {
      if (out.length) out.push({ t: e.at, price: out[out.length - 1].price });
      out.push({ t: e.at, price: e.price, bid: true });
    }
  }
  if (out.length) out.push({ t: cut, price: out[out.length - 1].price });
  return out;
}

// The Dutch clock: starting price, one decrement per tick of unpaused time, down to the
// public floor (rules.floor_price, else 1; the secret reserve never shapes the clock).
function dutchSeries(view, events, opened, cut) {
  const rules = view.rules;
  const accept = events.find((e) => e.type === "BidPlaced");
  const stop = accept ? accept.at : cut;
  let floor = rules.floor_price ?? 1;
  if (accept) floor = accept.price;
  const pauses = pauseIntervals(events, stop);
  const real = (elapsed) => {
    let t = opened + elapsed;
    for (const [a, b] of pauses) if (a <= t) t += b - a;
    return t;
  };
  const out = [{ t: opened, price: rules.starting_price }];
  let price = rules.starting_price;
  for (let k = 1; k <= MAX_STEPS && price > floor; k++) {
    const t = real(k * rules.tick_seconds);
    if (t >= stop) break;
    out.push({ t, price });
    price = Math.max(floor, rules.starting_price - k * rules.decrement);
    out.push({ t, price });
  }
  out.push({ t: stop, price: accept ? accept.price : price, bid: Boolean(accept) });
  return out;
}

function pauseIntervals(events, stop) {
  const out = [];
  let start = null;
  for (const e of events) {
    if (e.type === "AuctionPaused") start = e.at;
    else if (e.type === "AuctionResumed" && start !== null) {
      out.push([start, e.at]);
      start = null;
    }
  }
  if (start !== null) out.push([start, Math.max(start, stop)]);
  return out;
}

function niceTop(max) {
  const raw = max * 1.1;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * mag >= raw) return Math.ceil(m * mag);
  return Math.ceil(raw);
}

function describe(label, view, series, dots, sealedMarks, paid) {
  if (view.method === "english") {
    const bids = series.filter((p) => p.bid);
    if (!bids.length) return `${label}: no bids yet.`;
    return `${label}: ${bids.length} price changes, from ${money(bids[0].price)} to ` +
      `${money(bids[bids.length - 1].price)}.`;
  }
  if (view.method === "dutch") {
    const last = series[series.length - 1];
    return `${label}: the clock fell from ${money(view.rules.starting_price)} to ${money(last.price)}.`;
  }
  if (dots.length) return `${label}: ${dots.length} sealed bids revealed; price paid ${money(paid)}.`;
  return `${label}: ${sealedMarks.length} sealed bids; amounts are hidden until close.`;
}

// A small line of recent values (admin view).
export function sparkline(samples, label) {
  const values = samples.length === 1 ? [samples[0], samples[0]] : samples;
  const w = 320;
  const hgt = 60;
  const top = Math.max(1, ...values);
  const step = values.length > 1 ? w / (values.length - 1) : w;
  const d = values.map((v, i) => `${i ? "L" : "M"}${(i * step).toFixed(1)},${(hgt - 2 - (v / top) * (hgt - 4)).toFixed(1)}`);
  const last = values.length ? values[values.length - 1] : 0;
  return h("svg:svg", { viewBox: `0 0 ${w} ${hgt}`, class: "sparkline", role: "img",
    "aria-label": `${label}: now ${last.toFixed(1)}, peak ${top.toFixed(1)}` },
  h("svg:path", { d: d.join(" ") || "M0,58", class: "line" }));
}
