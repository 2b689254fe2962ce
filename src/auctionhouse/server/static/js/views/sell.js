// "Sell an item": the four methods and their rules (docs/api.md "Rules"). Fields that do not
// apply to the chosen method are hidden and not sent.

import { ApiError, me, post, upload } from "../api.js";
import { clock } from "../clock.js";
import { h, houseCurrency, METHOD_NAMES, parseMoney, plainMoney } from "../format.js";

const ALL = "english dutch fpsb vickrey";
const MAX_PHOTOS = 8;
const SEALED = "fpsb vickrey";

const UNITS = [["1", "seconds"], ["60", "minutes"], ["3600", "hours"], ["86400", "days"]];

const METHOD_HINTS = {
  english: "Open ascending bids; the highest bid wins when the auction closes.",
  dutch: "A clock price falls step by step; the first to accept wins at that price.",
  fpsb: "One hidden bid each; the highest bid wins and pays its own bid.",
  vickrey: "One hidden bid each; the highest bid wins and pays the second-highest bid.",
};

export function mountSell(root, ctx) {
  if (!me()) {
    root.append(h("h1", {}, "Sell an item"),
      h("p", {}, h("a", { href: "#/signin?next=%23%2Fsell" }, "Sign in"), " to sell an item."));
    return null;
  }
  const error = h("p", { class: "error", role: "alert", id: "sell-error" });
  const hint = h("p", { class: "hint", id: "method-hint", "aria-live": "polite" });
  const form = h("form", { class: "sell card", id: "sell-form", novalidate: true },
    h("fieldset", {},
      h("legend", {}, "Item"),
      field("item-name", "Name", h("input", { id: "item-name", name: "item_name", required: true,
        maxlength: "200" })),
      field("item-description", "Description (optional)",
        h("textarea", { id: "item-description", name: "description", rows: "3" })),
      field("item-photos", `Photos (optional: up to ${MAX_PHOTOS}, JPEG, PNG or WebP, 5 MB each)`,
        h("input", { id: "item-photos", name: "photos", type: "file", multiple: true,
          accept: "image/jpeg,image/png,image/webp" }))),
    h("fieldset", { class: "methods" },
      h("legend", {}, "Method"),
      Object.entries(METHOD_NAMES).map(([value, words], i) =>
        h("label", { class: "radio" },
          h("input", { type: "radio", name: "method", value, checked: i === 0,
            "aria-describedby": "method-hint" }),
          " ", words)),
      hint),
    h("fieldset", {},
      h("legend", {}, "Prices"),
      h("p", { class: "hint" }, `Amounts in ${houseCurrency()}, for example ${plainMoney(1250)}.`),
      moneyField("starting-price", "Starting price", ALL, plainMoney(100)),
      moneyField("reserve-price", "Reserve price (optional, kept secret; 0 or empty: none)", ALL, ""),
      moneyField("min-increment", "Minimum increment", "english", plainMoney(100)),
      field("increment-table", "Increments by price band (optional): under PRICE raise by STEP, " +
        `e.g. ${plainMoney(100)}:${plainMoney(5)}, ${plainMoney(500)}:${plainMoney(25)}, *:${plainMoney(50)}`,
        h("input", { id: "increment-table", name: "increment-table", autocomplete: "off" }), "english"),
      numberField("increment-percent", "Increment as a percentage of the price (optional)", "english", ""),
      field("bids-are-maxima", "Every bid is a maximum (the house bids for each bidder only what is needed)",
        h("select", { id: "bids-are-maxima", name: "bids-are-maxima" },
          h("option", { value: "" }, "The house's default"),
          h("option", { value: "true" }, "Yes"),
          h("option", { value: "false" }, "No")), "english"),
      moneyField("decrement", "Price step down (decrement)", "dutch", plainMoney(100)),
      numberField("tick-seconds", "Seconds between steps", "dutch", "5"),
      moneyField("floor-price", "Lowest clock price (public; empty: 1)", "dutch", "")),
    h("fieldset", {},
      h("legend", {}, "Timing"),
      numberField("opens-in", "Opens in (minutes; empty: now)", ALL, ""),
      h("div", { class: "field", dataset: { methods: "english fpsb vickrey" } },
        h("label", { for: "duration" }, "Runs for"),
        h("div", { class: "inline" },
          h("input", { id: "duration", name: "duration", type: "number", min: "0", step: "any",
            inputmode: "decimal", value: "10" }),
          h("label", { for: "duration-unit", class: "visually-hidden" }, "Unit"),
          h("select", { id: "duration-unit", name: "duration_unit" },
            UNITS.map(([v, words]) => h("option", { value: v, selected: v === "60" }, words))))),
      numberField("quiet-seconds", "Close after this many quiet seconds with no bid (optional)",
        "english", ""),
      h("fieldset", { class: "nested", dataset: { methods: "english" } },
        h("legend", {}, "Soft close (optional)"),
        numberField("sc-window", "A bid in the last … seconds", "english", ""),
        numberField("sc-extension", "extends the close by … seconds", "english", ""),
        numberField("sc-cap", "at most … seconds past the original close", "english", ""))),
    h("fieldset", {},
      h("legend", {}, "Bidders"),
      numberField("expected-bids", "Close when this many bids are in (optional)", SEALED, ""),
      numberField("min-bidders", "Minimum bidders to sell", "english fpsb vickrey", "1"),
      numberField("max-bidders", "Maximum bidders (optional)", ALL, ""),
      h("label", { class: "check" },
        h("input", { type: "checkbox", id: "signed-bids", name: "signed_bids", checked: true }),
        " Require signed bids")),
    h("button", { type: "submit" }, "Put up for auction"),
    error,
  );

  const sync = () => {
    const method = form.elements.method.value;
    hint.textContent = METHOD_HINTS[method];
    for (const el of form.querySelectorAll("[data-methods]")) {
      const on = el.dataset.methods.split(" ").includes(method);
      el.hidden = !on;
      for (const input of el.querySelectorAll("input, select, textarea")) input.disabled = !on;
    }
  };
  form.addEventListener("change", (e) => {
    if (e.target.name === "method") sync();
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    let body;
    try {
      body = readForm(form);
    } catch (err) {
      error.textContent = err.message;
      return;
    }
    const files = [...form.elements.photos.files];
    if (files.length > MAX_PHOTOS) {
      error.textContent = `At most ${MAX_PHOTOS} photos.`;
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const photos = [];
      for (const [i, file] of files.entries()) {
        error.textContent = `Uploading photo ${i + 1} of ${files.length}…`;
        try {
          photos.push((await upload("/photos", file)).photo);
        } catch (err) {
          throw new ApiError(err.status, { ...err.fields, message: `${file.name}: ${err.message}` });
        }
      }
      error.textContent = "";
      if (photos.length) body.item.photos = photos;
      const view = await post("/auctions", body);
      ctx.navigate(`#/auction/${encodeURIComponent(view.id)}`);
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : String(err.message || err);
    } finally {
      button.disabled = false;
    }
  });
  root.append(h("h1", {}, "Sell an item"), form);
  sync();
  return null;
}

function field(id, label, input, methods) {
  return h("div", { class: "field", dataset: methods ? { methods } : null },
    h("label", { for: id }, label), input);
}

function moneyField(id, label, methods, value) {
  return field(id, label, h("input", { id, name: id, inputmode: "decimal", value,
    autocomplete: "off" }), methods);
}

function numberField(id, label, methods, value) {
  return field(id, label, h("input", { id, name: id, type: "number", min: "0", step: "any",
    inputmode: "decimal", value }), methods);
}

// The form as the POST /auctions body; throws an Error in words for a bad field.
function readForm(form) {
  const el = form.elements;
  const method = el.method.value;
  const val = (name) => (el[name] && !el[name].disabled ? el[name].value.trim() : "");
  const name = val("item_name");
  if (!name) throw new Error("Give the item a name.");
  const rules = {};
  const amount = (id, key) => {
    const text = val(id);
    if (text === "") return;
    try {
      rules[key] = parseMoney(text);
    } catch (err) {
      throw new Error(`${labelOf(form, id)}: ${err.message}`);
    }
  };
  const number = (id, key, integer) => {
    const text = val(id);
    if (text === "") return undefined;
    const n = Number(text);
    if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
      throw new Error(`${labelOf(form, id)}: enter a ${integer ? "whole " : ""}number.`);
    }
    if (key) rules[key] = n;
    return n;
  };
  amount("starting-price", "starting_price");
  amount("reserve-price", "reserve_price");
  amount("min-increment", "min_increment");
  const table = val("increment-table");
  if (table) rules.increment_table = readIncrementTable(table);
  number("increment-percent", "increment_percent");
  const maxima = val("bids-are-maxima");
  if (maxima) rules.bids_are_maxima = maxima === "true";
  amount("decrement", "decrement");
  amount("floor-price", "floor_price");
  number("tick-seconds", "tick_seconds");
  const opensIn = number("opens-in");
  if (opensIn) rules.opens_at = Math.round((clock.now() + opensIn * 60) * 1000) / 1000;
  const duration = number("duration");
  if (duration) rules.duration = duration * Number(val("duration_unit") || "1");
  number("quiet-seconds", "quiet_seconds");
  const sc = ["sc-window", "sc-extension", "sc-cap"].map((id) => number(id));
  if (sc.some((v) => v !== undefined)) {
    if (sc.some((v) => v === undefined)) {
      throw new Error("Soft close needs all three: window, extension and cap.");
    }
    rules.soft_close = { window: sc[0], extension: sc[1], cap: sc[2] };
  }
  number("expected-bids", "expected_bids", true);
  number("min-bidders", "min_bidders", true);
  number("max-bidders", "max_bidders", true);
  rules.signed_bids = el.signed_bids.checked;
  const body = { item: { name }, method, rules };
  const description = val("description");
  if (description) body.item.description = description;
  return body;
}

// "1.00:0.05, 5.00:0.25, *:0.50" -> [{below: 100, increment: 5}, ..., {increment: 50}].
function readIncrementTable(text) {
  return text.split(",").map((part) => {
    const [below, step, extra] = part.split(":").map((x) => x.trim());
    if (step === undefined || extra !== undefined) {
      throw new Error(`Increments by price band: write PRICE:STEP pairs, not "${part.trim()}".`);
    }
    try {
      const band = { increment: parseMoney(step) };
      if (below !== "*" && below !== "") band.below = parseMoney(below);
      return band;
    } catch (err) {
      throw new Error(`Increments by price band: ${err.message}`);
    }
  });
}

function labelOf(form, id) {
  const label = form.querySelector(`label[for="${id}"]`);
  return label ? label.textContent : id;
}
