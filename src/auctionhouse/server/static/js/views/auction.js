// One auction: item, method and rules, the live price or Dutch clock, a countdown on house
// time, reserve, soft-close extensions, the bid form, your part, the price chart, the history
// and, once closed, a replay.
//
// Data: GET the view (with "you" when signed in) and the public events, then subscribe on the
// WebSocket after the last seq. Events arrive in seq order; a gap or a reconnect fetches
// events?after=last over HTTP, so the page always catches up.

import { ApiError, get, me } from "../api.js";
import { priceChart } from "../chart.js";
import { clock } from "../clock.js";
import { countdown, h, METHOD_NAMES, money, setText, span, when } from "../format.js";
import { describeEvent, foldEvents, renderHistory } from "../history.js";
import { phase, priceLine, resultText, stateWord, timeLine } from "../info.js";
import { live } from "../live.js";
import { onTick } from "../ticker.js";
import { bidForm } from "./bidform.js";

export async function mountAuction(root, ctx) {
  const id = ctx.args[0];
  const page = { id, view: null, events: [], lastSeq: 0, lastTickAt: null, replayAt: null };
  let view;
  // Shown until the auction and its history are in (a slow house never shows a blank page).
  const loading = h("p", { class: "loading", id: "auction-loading", role: "status",
    "aria-busy": "true" }, "Loading the auction…");
  root.append(loading);
  try {
    view = await get(`/auctions/${encodeURIComponent(id)}`);
  } catch (e) {
    loading.remove();
    root.append(h("h1", {}, "Auction not found"),
      h("p", { class: "error", role: "alert" }, e instanceof ApiError ? e.message : String(e)),
      h("p", {}, h("a", { href: "#/" }, "Back to the auctions")));
    return null;
  }
  page.view = view;

  // ------------------------------------------------------------------ layout
  const el = {
    title: h("h1", { id: "item-name" }),
    method: h("span", { class: "badge method", id: "method" }),
    state: h("span", { class: "badge state", id: "state" }),
    description: h("p", { class: "description", id: "item-description" }),
    photos: h("div", { class: "photos", id: "photos", "aria-label": "Photos" }),
    priceLabel: h("span", { class: "label", id: "price-label" }),
    price: h("span", { class: "value num big", id: "price", "aria-labelledby": "price-label" }),
    leader: h("p", { class: "leader", id: "leader" }),
    reserve: h("p", { class: "reserve", id: "reserve" }),
    timeLabel: h("span", { class: "label", id: "countdown-label" }),
    countdown: h("span", { class: "value num", id: "countdown", "aria-labelledby": "countdown-label" }),
    nextStep: h("p", { class: "next-step num", id: "next-step" }),
    extended: h("p", { class: "extended", id: "extended", role: "status" }),
    result: h("p", { class: "result", id: "result", role: "status" }),
    you: h("div", { id: "you" }),
    rules: h("dl", { class: "rules", id: "rules" }),
    chart: h("div", { class: "chart-box", id: "chart" }),
    replay: h("div", { class: "replay", id: "replay" }),
    history: h("ol", { class: "history", id: "history", "aria-label": "Bid history" }),
  };
  const form = bidForm(page, {
    onAccepted: () => refresh(),
  });
  // A closed auction takes no bid: its bid card goes, its result stands in the price card.
  const bidPanel = h("section", { class: "card bid-panel", "aria-labelledby": "bid-heading" },
    h("h2", { id: "bid-heading" }, "Bid"), form.el, el.you);
  const livePanel = h("section", { class: "card live-panel", "aria-label": "Price and time" },
    h("div", { class: "stat" }, el.priceLabel, el.price),
    el.leader,
    el.reserve,
    h("div", { class: "stat" }, el.timeLabel, el.countdown),
    el.nextStep,
    el.extended,
    el.result);
  root.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "← All auctions")),
    h("div", { class: "title-row" }, el.title, h("span", { class: "badges" }, el.method, el.state)),
    el.description,
    el.photos,
    h("div", { class: "auction-grid", hidden: true, id: "auction-grid" },
      livePanel,
      bidPanel,
      h("section", { class: "card chart-panel", "aria-labelledby": "chart-heading" },
        h("h2", { id: "chart-heading" }, "Price over time"), el.chart, el.replay),
      h("section", { class: "card history-panel", "aria-labelledby": "history-heading" },
        h("h2", { id: "history-heading" }, "History"), el.history),
      h("section", { class: "card rules-panel", "aria-labelledby": "rules-heading" },
        h("h2", { id: "rules-heading" }, "Method and rules"), el.rules)),
  );

  // ------------------------------------------------------------------ drawing
  let chartKey = "";
  let rulesFor = null;

  function drawStatic() {
    const v = page.view;
    // reserve room only for lines this method can show (no jumps when they fill in)
    el.nextStep.hidden = v.method !== "dutch";
    el.extended.hidden = !v.rules.soft_close;
    setText(el.title, v.item.name);
    setText(el.description, v.item.description || "");
    el.description.hidden = !v.item.description;
    drawPhotos(v.item.photos || []);
    setText(el.method, METHOD_NAMES[v.method] || v.method);
    renderRules(el.rules, v);
    rulesFor = v.closes_at;
  }

  function drawLive() {
    const v = page.view;
    if (v.closes_at !== rulesFor) drawStatic(); // a soft-close extension moved the close
    const p = priceLine(v);
    setText(el.priceLabel, p.label);
    setText(el.price, p.value);
    setText(el.leader, leaderWords(v));
    setText(el.reserve, reserveWords(v));
    el.reserve.dataset.met = String(v.reserve_met === true);
    setText(el.result, v.state === "closed" ? resultText(v.result) : "");
    form.update(page);
    drawYou();
    drawTime(clock.now());
    drawChart();
    if (page.replayAt === null) renderHistory(el.history, v, page.events);
  }

  function drawTime(now) {
    const v = page.view;
    const t = timeLine(v, now);
    setText(el.timeLabel, t.label);
    setText(el.countdown, t.value);
    const ph = phase(v, now);
    setText(el.state, stateWord(v, now));
    if (el.state.dataset.state !== ph) el.state.dataset.state = ph;
    const closed = ph === "closed" || v.state === "closed";
    if (bidPanel.hidden !== closed) {
      bidPanel.hidden = closed;
      (closed ? livePanel : bidPanel).append(el.you); // your part stays in sight once closed
    }
    livePanel.classList.toggle("result-panel", closed);
    if (closed && v.state !== "closed") setText(el.result, "Closing: the result is on its way…");
    if (v.method === "dutch" && ph === "open") {
      const tick = v.rules.tick_seconds;
      const base = page.lastTickAt ?? v.opens_at;
      const next = base + Math.max(1, Math.ceil((now - base) / tick)) * tick;
      setText(el.nextStep, `Next step down (${money(v.rules.decrement)}) in ${countdown(next - now)}`);
    } else {
      setText(el.nextStep, "");
    }
    form.tick(now);
  }

  function drawChart() {
    const v = page.view;
    const key = `${v.seq}:${v.price}:${page.replayAt}:${v.state}`;
    if (key === chartKey && v.state === "closed") return;
    chartKey = key;
    el.chart.replaceChildren(priceChart({ view: v, events: page.events, now: clock.now(),
      until: page.replayAt, width: el.chart.clientWidth }));
  }

  function drawPhotos(photos) {
    el.photos.hidden = !photos.length;
    el.photos.replaceChildren(...photos.map((digest, i) => {
      const full = `/api/v1/photos/${digest}`;
      return h("a", { href: full, target: "_blank", rel: "noopener", class: i === 0 ? "main" : "" },
        h("img", { src: i === 0 ? full : `${full}?thumbnail=true`, loading: "lazy",
          alt: `Photo ${i + 1} of ${photos.length}: ${page.view.item.name}` }));
    }));
  }

  function drawYou() {
    const you = page.view.you;
    el.you.replaceChildren();
    if (!you) return;
    const lines = [];
    if (you.is_seller) lines.push("You are the seller.");
    if (you.reserve_price !== undefined && you.reserve_price !== null) {
      lines.push(`Your reserve: ${money(you.reserve_price)}.`);
    }
    if (you.bids && you.bids.length) {
      lines.push(`Your ${you.bids.length === 1 ? "bid" : "bids"}: ${you.bids.map(money).join(", ")}.`);
    }
    const highest = you.bids && you.bids.length ? Math.max(...you.bids) : null;
    if (typeof you.max === "number" && (highest === null || you.max > highest)) {
      lines.push(`Your secret maximum: ${money(you.max)}.`);
    }
    if (you.won === true) lines.push("You won.");
    else if (you.won === false && you.bids && you.bids.length) lines.push("You did not win.");
    else if (you.leading === true) lines.push("You lead.");
    else if (you.leading === false && you.bids && you.bids.length) lines.push("You have been outbid.");
    if (lines.length) {
      el.you.append(h("h3", {}, "Your part"), h("p", { id: "your-part" }, lines.join(" ")));
    }
  }

  // ------------------------------------------------------------------ data
  let youTimer = null;

  async function refresh() {
    try {
      const v = await get(`/auctions/${encodeURIComponent(id)}`);
      if (v.seq >= page.view.seq) page.view = v;
      await catchUp();
      drawLive();
    } catch (e) {
      console.warn(e);
    }
  }

  // Our private part ("you") comes only over HTTP: fetch it again shortly after changes.
  function refreshYouSoon() {
    if (!me() || youTimer) return;
    youTimer = setTimeout(() => {
      youTimer = null;
      refresh();
    }, 300);
  }

  // The house answers events in pages ({events, last_seq, more}): follow them to the end.
  async function fetchEvents(after) {
    const out = [];
    for (;;) {
      const data = await get(`/auctions/${encodeURIComponent(id)}/events?after=${after}`);
      out.push(...data.events);
      if (!data.more || !data.events.length) return out;
      after = data.events[data.events.length - 1].seq;
    }
  }

  async function loadAllEvents() {
    const events = await fetchEvents(0);
    page.events = events;
    page.lastSeq = events.length ? events[events.length - 1].seq : 0;
  }

  let catching = null;
  async function catchUp() {
    if (catching) return catching;
    catching = (async () => {
      try {
        for (const e of await fetchEvents(page.lastSeq)) addEvent(e);
      } finally {
        catching = null;
      }
    })();
    return catching;
  }

  function addEvent(e) {
    if (e.seq !== page.lastSeq + 1) return false;
    page.events.push(e);
    page.lastSeq = e.seq;
    if (e.type === "DeadlineExtended") announceExtension(e);
    return true;
  }

  function announceExtension(e) {
    setText(el.extended, `Soft close: a late bid extended the close to ${when(e.closes_at).slice(11)}.`);
    el.extended.classList.remove("flash");
    void el.extended.offsetWidth; // restart the highlight
    el.extended.classList.add("flash");
  }

  async function onMessage(msg) {
    if (msg.type === "open") {
      await refresh();
      return;
    }
    if (msg.type === "tick") {
      if (page.view.state !== "closed") {
        page.view = { ...page.view, price: msg.price, min_next_bid: msg.price };
        page.lastTickAt = msg.server_time;
        drawLive();
      }
      return;
    }
    if (msg.type !== "snapshot" && msg.type !== "event") return;
    const you = page.view.you;
    if (msg.type === "event") {
      if (msg.seq <= page.lastSeq) return;
      if (!addEvent(msg.event)) await catchUp();
    }
    // A live event's view leaves out the item's description (it never changes): keep ours.
    if (msg.view && msg.view.seq >= page.view.seq) page.view = { ...msg.view, item: page.view.item, you };
    if (msg.type === "event" && msg.event.type === "AuctionClosed") {
      await loadAllEvents(); // sealed amounts are public now
      refreshYouSoon();
    } else if (msg.type === "event" && msg.event.type === "BidPlaced") {
      refreshYouSoon();
    }
    drawLive();
  }

  await loadAllEvents();
  drawStatic();
  drawLive();
  setupReplay();
  loading.remove();
  root.querySelector("#auction-grid").hidden = false;

  // the chart is drawn at the box's own width, so its text stays readable on a phone
  let drawnWidth = el.chart.clientWidth;
  const resize = new ResizeObserver(() => {
    if (el.chart.clientWidth !== drawnWidth) {
      drawnWidth = el.chart.clientWidth;
      chartKey = "";
      drawChart();
    }
  });
  resize.observe(el.chart);

  const stopLive = live.watch({ auctions: [String(id)], after: () => ({ [id]: page.lastSeq }) },
    onMessage);
  let closedSeen = page.view.state === "closed";
  const stopTick = onTick((now) => {
    drawTime(now);
    if (page.view.state === "open" && page.replayAt === null) {
      // the line (and a Dutch staircase) grows with time
      if (Math.floor(now) !== Math.floor(page.chartAt || 0)) {
        page.chartAt = now;
        drawChart();
      }
    }
    if (!closedSeen && page.view.state === "closed") {
      closedSeen = true;
      setupReplay();
    }
  });

  // ------------------------------------------------------------------ replay
  function setupReplay() {
    const v = page.view;
    if (v.state !== "closed") {
      el.replay.replaceChildren();
      return;
    }
    const n = page.events.length;
    const slider = h("input", { type: "range", id: "replay-step", min: "0", max: String(n),
      value: String(n), step: "1" });
    const words = h("p", { class: "replay-words", id: "replay-words", "aria-live": "polite" });
    const playButton = h("button", { type: "button", id: "replay-play" }, "▶ Play");
    let timer = null;
    const show = (k) => {
      slider.value = String(k);
      if (k >= n) {
        page.replayAt = null;
        setText(words, "The whole auction: drag or step to replay how it unfolded.");
        renderHistory(el.history, page.view, page.events);
      } else {
        const shown = page.events.slice(0, k);
        const last = shown[shown.length - 1];
        page.replayAt = last ? last.at : (v.opens_at ?? v.created_at);
        const s = foldEvents(page.events, k);
        const price = s.price !== null ? `price ${money(s.price)}` : "no price yet";
        setText(words, `Step ${k} of ${n}: ${last ? describeEvent(last, v.method) : "before the first event"}` +
          ` — ${price}, ${s.bids} ${s.bids === 1 ? "bid" : "bids"}.`);
        renderHistory(el.history, { ...v, state: "closed" }, shown);
      }
      chartKey = "";
      drawChart();
    };
    const stop = () => {
      clearInterval(timer);
      timer = null;
      setText(playButton, "▶ Play");
    };
    playButton.addEventListener("click", () => {
      if (timer) return stop();
      let k = Number(slider.value);
      if (k >= n) k = 0;
      show(k);
      setText(playButton, "Pause");
      timer = setInterval(() => {
        k += 1;
        show(k);
        if (k >= n) stop();
      }, 800);
    });
    slider.addEventListener("input", () => {
      stop();
      show(Number(slider.value));
    });
    const stepBy = (d) => () => {
      stop();
      show(Math.max(0, Math.min(n, Number(slider.value) + d)));
    };
    el.replay.replaceChildren(
      h("h3", {}, "Replay"),
      h("div", { class: "replay-controls" },
        h("button", { type: "button", id: "replay-start", onclick: stepBy(-n) }, "◀◀ Start"),
        h("button", { type: "button", id: "replay-back", onclick: stepBy(-1) }, "◀ Back"),
        playButton,
        h("button", { type: "button", id: "replay-forward", onclick: stepBy(1) }, "Forward ▶")),
      h("label", { for: "replay-step" }, "Event"),
      slider,
      words,
    );
    show(n);
    page.stopReplay = stop;
  }

  return () => {
    resize.disconnect();
    stopLive();
    stopTick();
    clearTimeout(youTimer);
    if (page.stopReplay) page.stopReplay();
    form.destroy();
  };
}

function leaderWords(v) {
  if (v.method === "fpsb" || v.method === "vickrey") {
    if (v.state !== "closed") return "Bids are sealed: amounts and bidders stay hidden until close.";
    return v.leader ? `Winner: ${v.leader}` : "No winner";
  }
  if (v.method === "dutch") {
    if (v.leader) return `Accepted by ${v.leader}`;
    return v.state === "closed" ? "Nobody accepted" : "The first to accept wins at the clock price.";
  }
  if (!v.leader) return "No bids yet";
  return `${v.state === "closed" ? "Highest bidder" : "Leading"}: ${v.leader} · ${v.bid_count} ${v.bid_count === 1 ? "bid" : "bids"}`;
}

function reserveWords(v) {
  if (!v.rules.has_reserve) return "No reserve";
  if (v.reserve_met === true) return "Reserve met";
  if (v.reserve_met === false) return v.state === "closed" ? "Reserve not met" : "Reserve not met yet";
  if (v.method === "dutch") return "Has a reserve (the clock's floor)";
  return "Has a reserve (met or not is shown at close)";
}

// An English auction's increment in words: flat, by price band, or a percentage of the price.
export function incrementWords(r) {
  if (Array.isArray(r.increment_table) && r.increment_table.length) {
    const bands = r.increment_table.map((b) =>
      b.below ? `under ${money(b.below)}: +${money(b.increment)}` : `above: +${money(b.increment)}`);
    const last = r.increment_table[r.increment_table.length - 1];
    if (last.below) bands.push(`above: +${money(last.increment)}`);
    return `${bands.join(", ")} (at least ${money(r.min_increment)})`;
  }
  if (r.increment_percent) return `${r.increment_percent}% of the price (at least ${money(r.min_increment)})`;
  return money(r.min_increment);
}

function renderRules(dl, v) {
  const r = v.rules;
  const rows = [["Method", METHOD_NAMES[v.method] || v.method], ["Seller", v.seller]];
  rows.push(["Starting price", money(r.starting_price)]);
  if (v.method === "english") rows.push(["Increment", incrementWords(r)]);
  if (v.method === "english" && r.bids_are_maxima) {
    rows.push(["Every bid is a maximum", "yes: the house bids for you only what is needed"]);
  }
  if (v.method === "dutch") {
    rows.push(["Step down", `${money(r.decrement)} every ${span(r.tick_seconds)}`]);
  }
  rows.push(["Reserve", r.has_reserve ? "yes (secret)" : "none"]);
  rows.push(["Opens", when(v.opens_at)]);
  if (v.closes_at) rows.push(["Closes", when(v.closes_at)]);
  if (r.quiet_seconds) rows.push(["Closes after a quiet", span(r.quiet_seconds)]);
  if (r.soft_close) {
    const sc = r.soft_close;
    rows.push(["Soft close", `a bid in the last ${span(sc.window)} adds ${span(sc.extension)}, ` +
      `at most ${span(sc.cap)} past the original close`]);
  }
  if (r.expected_bids) rows.push(["Closes when", `${r.expected_bids} bids are in`]);
  if (v.method !== "dutch") rows.push(["Minimum bidders", String(r.min_bidders)]);
  if (r.max_bidders) rows.push(["Maximum bidders", String(r.max_bidders)]);
  rows.push(["Signed bids", r.signed_bids ? "required" : "optional (this page always signs)"]);
  dl.replaceChildren(...rows.flatMap(([k, val]) => [h("dt", {}, k), h("dd", {}, val)]));
}
