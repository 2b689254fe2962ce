// What the list and the auction page say about an auction, from its public view and house time.
// One place, so that the two pages (and the CLI, which uses the same words and numbers) agree.

import { countdown, isSealed, money, OUTCOME_NAMES, STATE_NAMES, when } from "./format.js";

// The phase at house time `now`: the view's state, moved on by the clock where no event is due
// (an upcoming auction opens by itself; past its due close an auction is closed, even in the
// moment before the house's close event arrives: it never says "open" then).
export function phase(view, now) {
  const due = deadline(view);
  if (view.state === "scheduled" && view.opens_at !== null && now >= view.opens_at) {
    return due !== null && now >= due ? "closed" : "open";
  }
  if (view.state === "open" && due !== null && now >= due) return "closed";
  return view.state;
}

export function deadline(view) {
  return view.close_due_at ?? view.closes_at ?? null;
}

// {label, value} for the big number.
export function priceLine(view) {
  const closed = view.state === "closed";
  if (isSealed(view.method)) {
    if (closed && view.result && view.result.price !== null) {
      return { label: "Price", value: money(view.result.price) };
    }
    const n = view.bid_count;
    return { label: "Sealed bids", value: `${n} ${n === 1 ? "bid" : "bids"}` };
  }
  if (view.method === "dutch") {
    if (closed) {
      const price = view.result && view.result.price;
      return { label: "Final price", value: price !== null && price !== undefined ? money(price) : "–" };
    }
    return { label: "Clock price", value: money(view.price) };
  }
  const unset = view.price === null || view.price === undefined;
  if (closed) return { label: "Final price", value: unset ? "–" : money(view.price) };
  if (unset) return { label: "Starting price", value: money(view.rules.starting_price) };
  return { label: "Current price", value: money(view.price) };
}

// {label, value} for the time: "Closes in 3:04", "Opens in", "Paused", "Closed".
export function timeLine(view, now) {
  const p = phase(view, now);
  if (p === "scheduled") return { label: "Opens in", value: countdown(view.opens_at - now) };
  if (p === "paused") return { label: "Paused", value: "clock stopped" };
  if (p === "closed") {
    const at = view.result ? view.result.closed_at : deadline(view);
    return { label: "Closed", value: when(at) };
  }
  const due = deadline(view);
  if (due === null) {
    const expected = view.rules.expected_bids;
    if (expected) return { label: "Closes at", value: `${expected} bids (${view.bid_count} in)` };
    return { label: "Closes", value: "no deadline" };
  }
  if (now >= due) return { label: "Closing", value: "now…" };
  return { label: "Closes in", value: countdown(due - now) };
}

export function stateWord(view, now) {
  return STATE_NAMES[phase(view, now)] || view.state;
}

export function resultText(result) {
  if (!result) return "";
  const words = OUTCOME_NAMES[result.outcome] || result.outcome;
  if (result.outcome === "sold") return `${words} to ${result.winner} for ${money(result.price)}`;
  return words;
}
