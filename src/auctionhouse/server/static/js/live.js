// The one WebSocket to the house (docs/api.md "WebSocket"): subscriptions, clock samples,
// reconnection with back-off, and a visible connection state.
//
// States: "connecting" (first attempt), "live", "reconnecting" (lost; trying again),
// "closed" (stopped on purpose, or the page is offline). On every (re)connect each watcher's
// subscription is sent again with `after` set to the last seq it saw, so nothing is missed;
// after a reconnect, watchers also get an "open" message to refetch what they show (belt and
// braces).

import { clock } from "./clock.js";
import { currentSession } from "./api.js";

const BACKOFF = [250, 500, 1000, 2000, 4000, 8000];
// Close codes that end the session here (docs/api.md): a refused token, an expired session,
// a session revoked (signed out elsewhere, password changed).
const SESSION_ENDED = new Set([4001, 4002, 4003]);
const AUTH_ID = "auth";

export class Live {
  constructor() {
    this.state = "closed";
    this.attempt = 0;
    this.ws = null;
    this.watchers = new Set();
    this.stateListeners = new Set();
    this.retryTimer = null;
    this.timeTimer = null;
    this.held = false;
    this.nextTimeId = 1;
    this.timeSent = new Map();
    this.opened = 0;
    this.everything = false; // "*" is subscribed on the current socket
    this.creationWatchers = new Set(); // told of every new auction (the list page)
    this.creations = false; // "created" is subscribed on the current socket
    this.onUnauthorized = null;
  }

  // ------------------------------------------------------------------ lifecycle

  start() {
    this.held = false;
    if (!this.ws) this.connect();
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.everything = false;
    this.creations = false;
    this.setState(this.opened ? "reconnecting" : "connecting");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    // The token never goes in the URL (URLs are logged): it is the socket's first message.
    const s = currentSession();
    let ws;
    try {
      ws = new WebSocket(`${scheme}//${location.host}/api/v1/ws`);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.attempt = 0;
      this.opened += 1;
      this.setState("live");
      if (s) this.send({ op: "auth", token: s.token, id: AUTH_ID });
      const everything = [...this.watchers].find((w) => w.auctions === "*");
      if (everything) this.subscribe(everything);
      for (const w of this.watchers) if (w.auctions !== "*") this.subscribe(w);
      this.creations = this.creationWatchers.size > 0
        && this.send({ op: "subscribe", created: true });
      this.askTime();
      clearInterval(this.timeTimer);
      this.timeTimer = setInterval(() => this.askTime(), 15000);
      if (this.opened > 1) for (const w of this.watchers) w.handler({ type: "open" });
    };
    ws.onmessage = (e) => {
      if (ws !== this.ws) return;
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      if (msg.id === AUTH_ID && msg.type === "error" && msg.error?.code === "unauthorized") {
        if (this.onUnauthorized) this.onUnauthorized(); // the token expired or was revoked
        return;
      }
      this.receive(msg);
    };
    ws.onclose = (e) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.everything = false;
      this.creations = false;
      clearInterval(this.timeTimer);
      if (SESSION_ENDED.has(e.code) && this.onUnauthorized) {
        this.onUnauthorized(); // the session ended: sign out here, then connect as a visitor
        return;
      }
      if (this.held) this.setState("closed");
      else this.scheduleRetry();
    };
    ws.onerror = () => {}; // onclose follows and decides
  }

  scheduleRetry() {
    this.setState(navigator.onLine === false ? "closed" : "reconnecting");
    const base = BACKOFF[Math.min(this.attempt, BACKOFF.length - 1)];
    this.attempt += 1;
    this.retryTimer = setTimeout(() => this.connect(), base + Math.random() * base * 0.3);
  }

  // Reconnect now with the current token (after signing in or out).
  restart() {
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, "restart");
    clearInterval(this.timeTimer);
    if (!this.held) this.connect();
  }

  // Test and debugging hook: drop the socket as a network fault would. With hold, stay down
  // until start() (so a test can make things happen while the page is away).
  drop({ hold = false } = {}) {
    this.held = hold;
    clearTimeout(this.retryTimer);
    if (this.ws) this.ws.close(4000, "dropped");
    else if (hold) this.setState("closed");
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    for (const fn of this.stateListeners) fn(state);
  }

  onState(fn) {
    this.stateListeners.add(fn);
    fn(this.state);
    return () => this.stateListeners.delete(fn);
  }

  // ------------------------------------------------------------------ messages

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  askTime() {
    const id = `t${this.nextTimeId++}`;
    this.timeSent.set(id, clock.local());
    this.send({ op: "time", id });
  }

  receive(msg) {
    if (msg.type === "time" && this.timeSent.has(msg.id)) {
      clock.sample(this.timeSent.get(msg.id), msg.server_time, clock.local());
      this.timeSent.delete(msg.id);
    } else if (typeof msg.server_time === "number") {
      clock.observe(msg.server_time);
    }
    for (const w of this.watchers) {
      if (w.auctions === "*" || !msg.auction || w.auctions.includes(String(msg.auction))) {
        w.handler(msg);
      }
    }
    if (msg.type === "event" && msg.event && msg.event.type === "AuctionCreated") {
      for (const fn of this.creationWatchers) fn(msg);
    }
  }

  // watchCreations(handler) -> stop function: the handler gets the event frame of every
  // auction created from now on (its view and its AuctionCreated event), nothing else; the
  // list page follows its own rows by id and learns of new auctions here, so what it receives
  // grows with the rows it shows, not with the auctions in the house.
  watchCreations(handler) {
    this.creationWatchers.add(handler);
    if (!this.creations) this.creations = this.send({ op: "subscribe", created: true });
    return () => {
      this.creationWatchers.delete(handler);
      // kept a moment: paging through the list does not unsubscribe and subscribe again
      setTimeout(() => {
        if (this.creationWatchers.size || !this.creations) return;
        this.creations = false;
        this.send({ op: "unsubscribe", created: true });
      }, EVERYTHING_GRACE_MS);
    };
  }

  // ------------------------------------------------------------------ subscriptions

  // watch({auctions: "*" | [ids], after: () => ({id: seq})}, handler) -> stop function.
  //
  // "*" (the live list) is subscribed once and kept a moment after its last watcher leaves, so
  // paging through the list does not make the house send a snapshot of every auction again.
  watch(spec, handler) {
    const w = { auctions: spec.auctions, after: spec.after || (() => ({})), handler };
    this.watchers.add(w);
    if (w.auctions !== "*" || !this.everything) this.subscribe(w);
    return () => {
      this.watchers.delete(w);
      if (w.auctions === "*") {
        setTimeout(() => this.dropEverything(), EVERYTHING_GRACE_MS);
      } else {
        // only the auctions no other watcher follows (the list re-subscribes its rows before
        // it lets go of the old ones, and they overlap)
        const kept = new Set();
        for (const o of this.watchers) if (o.auctions !== "*") o.auctions.forEach((a) => kept.add(a));
        const gone = w.auctions.filter((a) => !kept.has(a));
        if (gone.length) this.send({ op: "unsubscribe", auctions: gone });
      }
    };
  }

  subscribe(w) {
    if (w.auctions === "*") this.everything = true;
    this.send({ op: "subscribe", auctions: w.auctions, after: w.after() });
  }

  dropEverything() {
    if (!this.everything || [...this.watchers].some((w) => w.auctions === "*")) return;
    this.everything = false;
    this.send({ op: "unsubscribe", auctions: "*" });
    // The house's unsubscribe from "*" also ends the named subscriptions: name them again.
    for (const w of this.watchers) this.subscribe(w);
  }
}

const EVERYTHING_GRACE_MS = 2000;

export const live = new Live();
