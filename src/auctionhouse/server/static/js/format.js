// Formatting shared by every view: money, countdowns, times, and a tiny DOM builder.
// Money is an integer number of minor units (cents) in the API; people see it formatted in the
// house's currency and locale (GET /api/v1/house), as the CLI shows it with Babel's
// format_currency: Intl.NumberFormat reads the same CLDR data ("€12.50", "12,50 €", "¥1,250").
// People type decimals ("12.50"), converted exactly, never with more decimals than the currency has.

const house = { currency: "EUR", digits: 2, locale: "en" };
let formatter = null;

// Set from GET /api/v1/house once at start: {currency, currency_digits, locale}.
export function setHouseMoney(info) {
  if (!info || typeof info.currency !== "string") return;
  house.currency = info.currency;
  house.digits = Number.isInteger(info.currency_digits) ? info.currency_digits : 2;
  house.locale = (info.locale || "en").replace(/_/g, "-");
  formatter = null;
}

export function houseCurrency() {
  return house.currency;
}

function format() {
  if (!formatter) {
    try {
      formatter = new Intl.NumberFormat(house.locale, { style: "currency", currency: house.currency,
        minimumFractionDigits: house.digits, maximumFractionDigits: house.digits });
    } catch (e) {
      formatter = new Intl.NumberFormat("en", { style: "currency", currency: house.currency });
    }
  }
  return formatter;
}

// 1250 -> "€12.50" (the house's currency and locale); null -> "-".
export function money(minor) {
  if (minor === null || minor === undefined) return "-";
  if (!Number.isInteger(minor)) return String(minor);
  return format().format(minor / 10 ** house.digits);
}

// 1250 -> "12.50": what a person types back into a field.
export function plainMoney(minor) {
  if (minor === null || minor === undefined) return "";
  const d = house.digits;
  if (d === 0) return String(minor);
  const s = String(Math.abs(minor)).padStart(d + 1, "0");
  return `${minor < 0 ? "-" : ""}${s.slice(0, -d)}.${s.slice(-d)}`;
}

// "12.50" -> 1250, exactly (string digits, no floating point); throws an Error with words for
// anything that is not an amount of the house's currency, or has more decimals than it has.
export function parseMoney(text) {
  const s = String(text).trim();
  const m = /^(\d*)(?:\.(\d*))?$/.exec(s);
  const d = house.digits;
  const example = d === 0 ? "1250" : `12.${"5".padEnd(d, "0")}`;
  if (!m || (m[1] === "" && !m[2])) {
    throw new Error(`Enter an amount in ${house.currency}, for example ${example}.`);
  }
  const decimals = m[2] || "";
  if (decimals.length > d) {
    throw new Error(d === 0
      ? `${house.currency} has no decimals: enter a whole amount, for example ${example}.`
      : `${house.currency} has ${d} decimals: ${s} has more, for example ${example}.`);
  }
  const minor = Number((m[1] || "0") + decimals.padEnd(d, "0"));
  if (!Number.isSafeInteger(minor)) throw new Error("That amount is too large.");
  return minor;
}

// Seconds -> "0:42", "12:03", "3:04:05", "2d 03:04:05" (tabular numerals keep the width steady).
export function countdown(seconds) {
  const total = Math.max(0, Math.ceil(seconds));
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (n) => String(n).padStart(2, "0");
  if (d > 0) return `${d}d ${two(h)}:${two(m)}:${two(s)}`;
  if (h > 0) return `${h}:${two(m)}:${two(s)}`;
  return `${m}:${two(s)}`;
}

// A house time (epoch seconds) as local date and time, "2025-11-21 21:15:03".
export function when(t) {
  if (t === null || t === undefined) return "–";
  const d = new Date(t * 1000);
  const two = (n) => String(n).padStart(2, "0");
  return (
    `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`
  );
}

// Seconds as words for rules: 90 -> "1 min 30 s".
export function span(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Number(seconds);
  if (s < 60) return `${+s.toFixed(3)} s`;
  const parts = [];
  let rest = Math.round(s);
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]]) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)} ${unit}`);
      rest %= size;
    }
  }
  return parts.join(" ");
}

export const METHOD_NAMES = {
  english: "English",
  dutch: "Dutch",
  fpsb: "First-price sealed",
  vickrey: "Vickrey (second-price sealed)",
};

// The API's own state words, as the CLI prints them.
export const STATE_NAMES = {
  scheduled: "scheduled",
  open: "open",
  paused: "paused",
  closed: "closed",
};

export const OUTCOME_NAMES = {
  sold: "Sold",
  no_bids: "No bids",
  reserve_not_met: "Reserve not met",
  too_few_bidders: "Too few bidders",
  cancelled: "Cancelled",
};

export function isSealed(method) {
  return method === "fpsb" || method === "vickrey";
}

// h("p", {class: "x", onclick: fn}, "text", child...) -> Element. Text is always text, never
// markup: item names and descriptions come from other people.
export function h(tag, attrs, ...children) {
  const svg = tag.startsWith("svg:");
  const el = svg
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Set text only when it changes (no needless layout work on every clock tick).
export function setText(el, text) {
  if (el && el.textContent !== text) el.textContent = text;
}
