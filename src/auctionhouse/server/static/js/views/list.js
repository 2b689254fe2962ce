// The auction list (all auctions, "my auctions", "my bids"): search, filters, sort, pages of
// PAGE_SIZE from GET /api/v1/auctions, and live updates: the WebSocket follows the rows on
// screen by id, and new auctions through its "created" subscription (docs/web.md), so what the
// page receives grows with the rows it shows, not with the auctions in the house.

import { ApiError, get, me, query } from "../api.js";
import { clock } from "../clock.js";
import { h, METHOD_NAMES, money, setText } from "../format.js";
import { phase, priceLine, resultText, stateWord, timeLine } from "../info.js";
import { live } from "../live.js";
import { onTick } from "../ticker.js";

export const PAGE_SIZE = 25;

const SORT_OPTIONS = [
  ["newest", "Newest first"],
  ["ending_soonest", "Ending soonest"],
  ["price_low", "Price: lowest first"],
  ["price_high", "Price: highest first"],
  ["most_bids", "Most bids"],
];

const STATE_OPTIONS = [
  ["", "All"],
  ["open", "Open"],
  ["scheduled", "Upcoming (scheduled)"],
  ["paused", "Paused"],
  ["closed", "Closed"],
];

export function mountList(root, ctx) {
  return mountTable(root, ctx, { title: "Auctions", fixed: {} });
}

export function mountMine(root, ctx, role) {
  const account = me();
  const title = role === "seller" ? "My auctions" : "My bids";
  if (!account) {
    root.append(
      h("h1", {}, title),
      h("p", {}, h("a", { href: "#/signin" }, "Sign in"), ` to see ${title.toLowerCase()}.`),
    );
    return null;
  }
  return mountTable(root, ctx, { title, fixed: { [role]: account.id }, role });
}

function mountTable(root, ctx, { title, fixed, role }) {
  const params = ctx.params;
  const filters = {
    state: params.get("state") || "",
    method: params.get("method") || "",
    q: params.get("q") || "",
    sort: params.get("sort") || "",
  };
  const page = Math.max(1, Number(params.get("page")) || 1);
  const base = location.hash.split("?")[0] || "#/auctions";

  const go = (changes) => {
    const next = { ...filters, page, ...changes };
    const q = query({ q: next.q, state: next.state, method: next.method, sort: next.sort,
      page: next.page > 1 ? next.page : "" });
    ctx.navigate(base + q);
  };

  const stateSelect = h(
    "select",
    { id: "filter-state", name: "state", onchange: (e) => go({ state: e.target.value, page: 1 }) },
    STATE_OPTIONS.map(([v, words]) => h("option", { value: v, selected: v === filters.state }, words)),
  );
  const methodSelect = h(
    "select",
    { id: "filter-method", name: "method", onchange: (e) => go({ method: e.target.value, page: 1 }) },
    h("option", { value: "" }, "All methods"),
    Object.entries(METHOD_NAMES).map(([v, words]) =>
      h("option", { value: v, selected: v === filters.method }, words)),
  );
  const searchInput = h("input", { id: "filter-q", name: "q", type: "search", value: filters.q,
    maxlength: "200", placeholder: "Search items", autocomplete: "off" });
  const sortSelect = h(
    "select",
    { id: "filter-sort", name: "sort", onchange: (e) => go({ sort: e.target.value, page: 1 }) },
    SORT_OPTIONS.map(([v, words]) =>
      h("option", { value: v, selected: v === (filters.sort || "newest") }, words)),
  );
  const summary = h("p", { class: "summary", "aria-live": "polite", id: "list-summary" }, "Loading…");
  const list = h("ol", { class: "auction-list", "aria-label": title, "data-testid": "auction-list" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  root.append(
    h("div", { class: "title-row" },
      h("h1", {}, title),
      h("a", { href: "#/sell", class: "button" }, "Sell an item")),
    h("form", { class: "filters", role: "search", id: "search-form", onsubmit: (e) => {
      e.preventDefault();
      go({ q: searchInput.value.trim(), page: 1 });
    } },
      h("div", { class: "field search" }, h("label", { for: "filter-q" }, "Search"),
        h("div", { class: "inline" }, searchInput,
          h("button", { type: "submit", id: "search-button" }, "Search"))),
      h("div", { class: "field" }, h("label", { for: "filter-state" }, "State"), stateSelect),
      h("div", { class: "field" }, h("label", { for: "filter-method" }, "Method"), methodSelect),
      h("div", { class: "field" }, h("label", { for: "filter-sort" }, "Sort"), sortSelect)),
    summary,
    list,
    pager,
  );

  const rows = new Map(); // id -> {li, view}
  let total = 0;
  let newest = null;

  function render(result) {
    total = result.total;
    list.replaceChildren();
    rows.clear();
    for (const view of result.auctions) addRow(view, false);
    newest = result.auctions.length ? result.auctions[0].created_at : null;
    if (!result.auctions.length) {
      list.append(h("li", { class: "empty" },
        filters.q ? `No auctions match “${filters.q}”.` : "No auctions here yet."));
    }
    followRows();
    renderSummary();
    renderPager();
    performance.mark("auctionhouse:list-rendered"); // bench/bench_web.py reads it
  }

  function renderSummary() {
    if (!total) {
      setText(summary, "No auctions match.");
      return;
    }
    const first = (page - 1) * PAGE_SIZE + 1;
    const last = Math.min(total, first + rows.size - 1);
    setText(summary, `Showing ${first}–${last} of ${total.toLocaleString("en-US")}`);
  }

  function renderPager() {
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    pager.replaceChildren(
      h("button", { type: "button", disabled: page <= 1, onclick: () => go({ page: page - 1 }) },
        "← Newer"),
      h("span", { class: "page-of" }, `Page ${page} of ${pages}`),
      h("button", { type: "button", disabled: page >= pages, onclick: () => go({ page: page + 1 }) },
        "Older →"),
    );
  }

  function addRow(view, atTop) {
    const li = auctionRow(view, role);
    rows.set(view.id, { li, view });
    if (atTop) {
      const empty = list.querySelector(".empty");
      if (empty) empty.remove();
      list.prepend(li);
    } else {
      list.append(li);
    }
  }

  function matches(view) {
    if (filters.method && view.method !== filters.method) return false;
    if (filters.state && view.state !== filters.state) return false;
    if (fixed.seller && view.seller !== fixed.seller) return false;
    if (fixed.bidder) return false; // "my bids" learns of new ones by reloading
    if (filters.q && !matchesWords(view.item, filters.q)) return false;
    return true;
  }

  // The WebSocket follows the rows on screen: all of them after each load, and each new
  // auction shown live on its own (a row pushed off the page stays followed, unseen, until the
  // next load, rather than making the house send every other row's snapshot again).
  let stopRows = [];
  let followed = "";
  function followRows() {
    const ids = [...rows.keys()];
    const key = ids.join(",");
    if (key === followed) return;
    followed = key;
    const previous = stopRows;
    stopRows = ids.length ? [live.watch({ auctions: ids, after: () => lastSeqs() }, onMessage)] : [];
    for (const stop of previous) stop();
  }

  function followRow(id) {
    stopRows.push(live.watch({ auctions: [id], after: () => lastSeqs() }, onMessage));
    followed = [...rows.keys()].join(",");
  }

  function lastSeqs() {
    const after = {};
    for (const [id, row] of rows) after[id] = row.view.seq;
    return after;
  }

  async function load() {
    try {
      const q = query({
        ...fixed,
        state: filters.state,
        method: filters.method,
        q: filters.q,
        sort: filters.sort === "newest" ? "" : filters.sort,
        limit: PAGE_SIZE,
        offset: (page - 1) * PAGE_SIZE,
      });
      render(await get(`/auctions${q}`));
    } catch (e) {
      setText(summary, e instanceof ApiError ? e.message : String(e));
    }
  }

  function onMessage(msg) {
    if (msg.type === "open") {
      load(); // caught up after a reconnect
      return;
    }
    const id = msg.auction === undefined ? null : String(msg.auction);
    if (id === null) return;
    const row = rows.get(id);
    if (msg.type === "tick") {
      if (row && row.view.state !== "closed") {
        row.view = { ...row.view, price: msg.price, min_next_bid: msg.price };
        updateRow(row.li, row.view, role);
      }
      return;
    }
    const view = msg.view;
    if (!view) return;
    if (row) {
      if (view.seq >= row.view.seq) {
        // a live view carries no description (it never changes): keep the one shown
        row.view = { ...view, item: { ...row.view.item, ...view.item } };
        updateRow(row.li, row.view, role);
      }
    }
  }

  // A new auction: shown at the top of the first page when it matches what is shown.
  function onCreated(msg) {
    const view = msg.view;
    if (!view || rows.has(String(view.id))) return;
    const item = { ...view.item, ...(msg.event && msg.event.item) };
    const full = { ...view, item };
    if (!matches(full)) return;
    total += 1;
    if (page === 1 && (filters.sort || "newest") === "newest"
        && (newest === null || full.created_at >= newest)) {
      newest = full.created_at;
      addRow(full, true);
      while (rows.size > PAGE_SIZE) {
        const last = list.lastElementChild;
        rows.delete(last.dataset.id);
        last.remove();
      }
      followRow(String(full.id));
      renderPager();
    }
    renderSummary();
  }

  load();
  const stopCreated = live.watchCreations(onCreated);
  const stopLive = () => {
    stopCreated();
    for (const stop of stopRows) stop();
  };
  const stopTick = onTick((now) => {
    for (const { li, view } of rows.values()) updateTime(li, view, now);
  });
  return () => {
    stopLive();
    stopTick();
  };
}

// --------------------------------------------------------------------------- rows

// Every word of the search begins a word of the item's name or description (as the house's
// full-text search decides, ledger/search.py): for new auctions arriving live.
function itemWords(text) {
  return (text || "").normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase()
    .split(/[^\p{L}\p{N}]+/u).filter(Boolean);
}

export function matchesWords(item, q) {
  const words = itemWords(`${item.name} ${item.description || ""}`);
  return itemWords(q).every((t) => words.some((w) => w.startsWith(t)));
}

function thumbnail(view) {
  const photos = (view.item && view.item.photos) || [];
  if (!photos.length) return h("span", { class: "thumb none", "aria-hidden": "true" });
  return h("img", { class: "thumb", loading: "lazy", alt: "",
    src: `/api/v1/photos/${photos[0]}?thumbnail=true` });
}

function auctionRow(view, role) {
  const li = h("li", { class: "auction-row", "data-id": view.id },
    thumbnail(view),
    h("a", { class: "item", href: `#/auction/${encodeURIComponent(view.id)}` }),
    h("span", { class: "method" }),
    h("span", { class: "state badge" }),
    h("span", { class: "price" }, h("span", { class: "label" }), h("span", { class: "value num" })),
    h("span", { class: "time" }, h("span", { class: "label" }), h("span", { class: "value num" })),
    role ? h("span", { class: "you" }) : null,
  );
  updateRow(li, view, role);
  return li;
}

function updateRow(li, view, role) {
  const item = li.querySelector(".item");
  setText(item, view.item.name);
  setText(li.querySelector(".method"), METHOD_NAMES[view.method] || view.method);
  const p = priceLine(view);
  setText(li.querySelector(".price .label"), p.label);
  setText(li.querySelector(".price .value"), p.value);
  if (role) setText(li.querySelector(".you"), yourPart(view, role));
  updateTime(li, view, clock.now());
}

function updateTime(li, view, now) {
  const t = view.state === "closed" && view.result
    ? { label: "Result", value: resultText(view.result) }
    : timeLine(view, now);
  setText(li.querySelector(".time .label"), t.label);
  setText(li.querySelector(".time .value"), t.value);
  const badge = li.querySelector(".state");
  const p = phase(view, now);
  setText(badge, stateWord(view, now));
  if (badge.dataset.state !== p) badge.dataset.state = p;
}

function yourPart(view, role) {
  const account = me();
  if (!account) return "";
  if (role === "seller") {
    return view.state === "closed" ? "" : `${view.bid_count} ${view.bid_count === 1 ? "bid" : "bids"}`;
  }
  if (view.state === "closed" && view.result) {
    return view.result.winner === account.id ? `You won (${money(view.result.price)})` : "You did not win";
  }
  if (view.leader === null && (view.method === "fpsb" || view.method === "vickrey")) {
    return "Your sealed bid is in";
  }
  return view.leader === account.id ? "You lead" : "Outbid";
}
