// Double-auction markets (docs/markets.md): the list (#/markets) and one market (#/market/ID)
// with its order book (depth), the last trades, a price chart of the trades, and a signed order
// form. Live from the market socket (/api/v1/markets/ws): a snapshot, then every event with the
// book after it. Prices are integers of minor units per unit, as everywhere in the house.

import { ApiError, get, me, post } from "../api.js";
import { clock } from "../clock.js";
import { h, houseCurrency, money, parseMoney, setText, when } from "../format.js";
import { browserKey, nextNonce, toHex } from "../keys.js";

const TRADES_SHOWN = 20;
const CHART_POINTS = 500;

export async function mountMarkets(root) {
  root.append(h("h1", {}, "Markets"));
  const { markets } = await get("/markets?limit=100");
  if (!markets.length) {
    root.append(h("p", { class: "summary" }, "No markets yet."));
    return null;
  }
  const rows = markets.map((m) =>
    h("tr", {},
      h("td", {}, h("a", { href: `#/market/${encodeURIComponent(m.id)}` }, m.name)),
      h("td", {}, m.kind === "call" ? "Call market" : "Continuous"),
      h("td", {}, m.state),
      h("td", { class: "num" }, money(m.best_bid)),
      h("td", { class: "num" }, money(m.best_ask)),
      h("td", { class: "num" }, money(m.last_price)),
      h("td", { class: "num" }, String(m.volume))));
  root.append(h("table", { class: "markets", "data-testid": "markets" },
    h("thead", {}, h("tr", {}, ["Market", "Kind", "State", "Bid", "Ask", "Last", "Volume"]
      .map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows)));
  return null;
}

// The canonical bytes of a signed order: sorted keys, no spaces -- byte for byte
// auctionhouse.house.signing.order_message.
export function orderMessage({ market, trader, side, price, quantity, nonce, ts }) {
  return JSON.stringify({ market, nonce, op: "order", price, quantity, side, trader, ts });
}

function signOrder(accountId, fields) {
  const key = browserKey(accountId);
  if (!key) return null;
  const nonce = nextNonce(accountId);
  const ts = Math.round(clock.now());
  const message = orderMessage({ ...fields, trader: accountId, nonce, ts });
  const signature = window.nacl.sign.detached(new TextEncoder().encode(message), key.secretKey);
  return { nonce, ts, signature: toHex(signature) };
}

export async function mountMarket(root, ctx) {
  const id = ctx.args[0];
  let view = await get(`/markets/${encodeURIComponent(id)}?depth=15`);
  let trades = (await get(`/markets/${encodeURIComponent(id)}/trades?after=${Math.max(0, view.trades - CHART_POINTS)}&limit=1000`)).trades;
  let seq = view.seq;

  const title = h("h1", {}, view.name);
  const facts = h("p", { class: "summary", "data-testid": "market-facts" });
  const bids = h("tbody", { "data-testid": "bids" });
  const asks = h("tbody", { "data-testid": "asks" });
  const tradeList = h("ol", { class: "trades", "data-testid": "trades", reversed: true });
  const chart = h("div", { class: "chart", "data-testid": "market-chart" });
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const form = orderForm(id, status);

  const level = (side) => ([price, qty, count]) =>
    h("tr", { class: side }, h("td", { class: "num" }, money(price)),
      h("td", { class: "num" }, String(qty)), h("td", { class: "num" }, String(count)));
  const bookTable = (label, body) => h("table", { class: "book", "aria-label": label },
    h("caption", {}, label),
    h("thead", {}, h("tr", {}, ["Price", "Quantity", "Orders"].map((t) => h("th", { scope: "col" }, t)))),
    body);

  function render() {
    setText(facts, `${view.kind === "call" ? "Call market" : "Continuous double auction"} · `
      + `${view.state} · best bid ${money(view.best_bid)} · best ask ${money(view.best_ask)} · `
      + `last ${money(view.last_price)} · volume ${view.volume}`);
    bids.replaceChildren(...view.book.bids.map(level("bid")));
    asks.replaceChildren(...view.book.asks.map(level("ask")));
    tradeList.replaceChildren(...trades.slice(-TRADES_SHOWN).reverse().map((t) =>
      h("li", { "data-trade": t.trade_id },
        `${t.quantity} at ${money(t.price)} · ${t.buyer} ← ${t.seller} · ${when(t.at).slice(11)}`)));
    chart.replaceChildren(tradeChart(trades.slice(-CHART_POINTS), chart.clientWidth || 640));
    form.hidden = view.state !== "open" || !me();
  }

  root.append(
    title, facts,
    h("div", { class: "market-grid" },
      h("section", { "aria-label": "Order book" }, bookTable("Asks (sell orders)", asks),
        bookTable("Bids (buy orders)", bids)),
      h("section", { "aria-label": "Last trades" }, h("h2", {}, "Last trades"), tradeList)),
    h("h2", {}, "Price of each trade"), chart,
    form, status);
  render();

  // Live: the market socket. A snapshot first, then each event (skipping any at or below it).
  let socket = null;
  let stopped = false;
  let retry = null;
  const connect = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/api/v1/markets/ws`);
    socket.onopen = () => socket.send(JSON.stringify({ op: "subscribe", markets: [id] }));
    socket.onmessage = (msg) => {
      const m = JSON.parse(msg.data);
      if (typeof m.server_time === "number") clock.observe?.(m.server_time);
      if (m.type === "market" && m.market === id) {
        view = m.view;
        seq = m.seq;
        const known = new Set(trades.map((t) => t.trade_id));
        for (const t of m.trades) if (!known.has(t.trade_id)) trades.push(t);
        trades.sort((a, b) => a.trade_id - b.trade_id);
        render();
      } else if (m.type === "market_event" && m.market === id && m.seq > seq) {
        seq = m.seq;
        const e = m.event;
        view = { ...view, book: m.book, last_price: m.last_price, seq,
          best_bid: m.book.bids.length ? m.book.bids[0][0] : null,
          best_ask: m.book.asks.length ? m.book.asks[0][0] : null };
        if (e.type === "Trade") {
          trades.push(e);
          view.volume += e.quantity;
          view.trades = e.trade_id;
        } else if (e.type === "MarketClosed") {
          view.state = "closed";
        }
        render();
      }
    };
    socket.onclose = () => {
      if (!stopped) retry = setTimeout(connect, 1000);
    };
  };
  connect();
  return () => {
    stopped = true;
    clearTimeout(retry);
    if (socket) socket.close();
  };
}

function orderForm(id, status) {
  const side = h("select", { name: "side", id: "order-side" },
    h("option", { value: "buy" }, "Buy (bid)"), h("option", { value: "sell" }, "Sell (ask)"));
  const price = h("input", { name: "price", id: "order-price", inputmode: "decimal", required: true,
    autocomplete: "off" });
  const quantity = h("input", { name: "quantity", id: "order-quantity", inputmode: "numeric",
    value: "1", required: true, autocomplete: "off" });
  const onsubmit = async (event) => {
    event.preventDefault();
    const account = me();
    try {
      const units = quantity.value.trim();
      if (!/^\d+$/.test(units)) throw new Error("Enter the quantity as a whole number of units, for example 3.");
      const fields = { market: id, side: side.value, price: parseMoney(price.value),
        quantity: Number(units) };
      const signed = account && signOrder(account.id, fields);
      if (!signed) throw new Error("This browser holds no key for your account: make one on your account page.");
      const ack = await post(`/markets/${encodeURIComponent(id)}/orders`,
        { side: fields.side, price: fields.price, quantity: fields.quantity, ...signed });
      const traded = ack.trades.reduce((n, t) => n + t.quantity, 0);
      setText(status, `Order ${ack.order_id} accepted: ${traded} traded, ${ack.remaining} resting.`);
    } catch (e) {
      setText(status, e instanceof ApiError ? `${e.code}: ${e.message}` : e.message);
    }
  };
  return h("form", { class: "order-form", "data-testid": "order-form", onsubmit },
    h("h2", {}, "Place an order"),
    h("label", { for: "order-side" }, "Side"), side,
    h("label", { for: "order-price" }, `Limit price (${houseCurrency()} per unit)`), price,
    h("label", { for: "order-quantity" }, "Quantity"), quantity,
    h("button", { type: "submit" }, "Sign and place"));
}

// Trade prices over trade number as an inline SVG polyline (no library).
function tradeChart(trades, width) {
  const W = Math.max(280, Math.round(width));
  const H = 200;
  const pad = { left: 56, right: 12, top: 12, bottom: 24 };
  if (!trades.length) return h("p", { class: "summary" }, "No trades yet.");
  const prices = trades.map((t) => t.price);
  const lo = Math.min(...prices);
  const hi = Math.max(...prices);
  const span = Math.max(1, hi - lo);
  const x = (i) => pad.left + (trades.length === 1 ? 0.5 : i / (trades.length - 1)) * (W - pad.left - pad.right);
  const y = (p) => H - pad.bottom - ((p - lo) / span) * (H - pad.top - pad.bottom);
  const d = trades.map((t, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(t.price).toFixed(1)}`).join(" ");
  return h("svg:svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img",
    "aria-label": `Trade prices: ${trades.length} trades from ${money(lo)} to ${money(hi)}` },
  h("svg:text", { x: pad.left - 6, y: y(hi) + 4, class: "axis", "text-anchor": "end" }, money(hi)),
  h("svg:text", { x: pad.left - 6, y: y(lo) + 4, class: "axis", "text-anchor": "end" }, money(lo)),
  h("svg:path", { d, class: "line", "data-points": trades.length }),
  ...trades.map((t, i) => h("svg:circle", { cx: x(i), cy: y(t.price), r: 2.5, class: "dot" })));
}
