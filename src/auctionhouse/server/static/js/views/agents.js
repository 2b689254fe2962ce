// The owner follows their mobile agents (docs/agents.md, "Mobile agents"): #/agents lists the
// agents this house launched for the signed-in account's key (where each is, its state, its
// bids, its result); #/agents/ID shows one, with the trip log it brought home and whether that
// log verifies. Home learns of its agents from the progress messages sites post back, not over
// the auctions' socket, so both views re-read the record every second while they are shown.

import { ApiError, get, me } from "../api.js";
import { h, money, setText, when } from "../format.js";

const REFRESH_MS = 1000;

const STATUS_WORDS = { travelling: "Travelling", home: "Home", overdue: "Overdue" };

// Re-run `load` every REFRESH_MS until the view unmounts; errors show in `error`.
function every(load, error) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    try {
      await load();
      setText(error, "");
    } catch (e) {
      setText(error, e instanceof ApiError ? e.message : String(e.message || e));
    }
    if (!stopped) timer = setTimeout(tick, REFRESH_MS);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function resultText(result) {
  if (!result) return "-";
  if (result.outcome === "won") return `Won auction ${result.auction} for ${money(result.price)}`;
  return result.outcome;
}

function logText(record) {
  if (!record.log) return "with the agent";
  return record.log.ok ? `${record.log.entries} entries, verifies` : "does NOT verify";
}

// --------------------------------------------------------------------------- the list

export function mountAgents(root) {
  root.append(h("h1", {}, "My agents"));
  if (!me()) {
    root.append(h("p", {}, h("a", { href: "#/signin?next=%23%2Fagents" }, "Sign in"),
      " to follow the mobile agents you sent from this house."));
    return null;
  }
  const summary = h("p", { class: "summary", role: "status", "data-testid": "agents-summary" });
  const error = h("p", { class: "error", role: "alert" });
  const body = h("tbody", { id: "agents" });
  root.append(
    h("p", {}, "Mobile agents travel from house to house with your signed mandate. Send one with ",
      h("code", {}, "auctionhouse agent send DOC"), " signed with your account's key."),
    summary, error,
    h("table", { class: "table agents" },
      h("thead", {}, h("tr", {}, ...["Agent", "Item", "Status", "State", "Where", "Bids",
        "Result", "Trip log"].map((t) => h("th", { scope: "col" }, t)))),
      body),
  );
  return every(async () => {
    const { agents, owner_key: key } = await get("/agents/mine");
    setText(summary, !key
      ? "Your account has no registered key, so no agent can be yours here."
      : agents.length === 0 ? "No agents sent from this house with your key yet."
        : `${agents.length} ${agents.length === 1 ? "agent" : "agents"}.`);
    const rows = agents.map((a) => h("tr", { "data-agent": a.agent, "data-status": a.status },
      h("td", {}, h("a", { href: `#/agents/${encodeURIComponent(a.agent)}` }, a.agent.slice(0, 12))),
      h("td", {}, a.item),
      h("td", { class: "status" }, h("span", { class: "badge", "data-state": a.status },
        STATUS_WORDS[a.status] || a.status)),
      h("td", { class: "state" }, a.state),
      h("td", { class: "where" }, a.where),
      h("td", { class: "num bids" }, String(a.bids.length)),
      h("td", { class: "result" }, resultText(a.result)),
      h("td", { class: "log" }, logText(a)),
    ));
    body.replaceChildren(...rows);
  }, error);
}

// --------------------------------------------------------------------------- one agent

export function mountAgent(root, ctx) {
  const id = ctx.args[0];
  const title = h("h1", {}, `Agent ${id.slice(0, 12)}`);
  const facts = h("dl", { class: "rules facts", "data-testid": "agent-facts" });
  const error = h("p", { class: "error", role: "alert" });
  const bids = h("tbody", { id: "agent-bids" });
  const trail = h("tbody", { id: "agent-progress" });
  const verdict = h("p", { id: "log-verdict", role: "status" });
  const problems = h("ul", { id: "log-problems" });
  const entries = h("tbody", { id: "agent-log" });
  root.append(
    title,
    h("p", {}, h("a", { href: "#/agents" }, "All my agents")),
    error, facts,
    h("h2", {}, "Bids"),
    h("table", { class: "table" }, h("thead", {}, h("tr", {},
      ...["Site", "Auction", "Amount", "Proxy max"].map((t) => h("th", { scope: "col" }, t)))),
    bids),
    h("h2", {}, "Where it has been"),
    h("table", { class: "table" }, h("thead", {}, h("tr", {},
      ...["Time", "Site", "Hop", "State", "What"].map((t) => h("th", { scope: "col" }, t)))),
    trail),
    h("h2", {}, "Trip log"),
    verdict, problems,
    h("table", { class: "table" }, h("thead", {}, h("tr", {},
      ...["#", "Site", "Hop", "State", "What", "Check"].map((t) => h("th", { scope: "col" }, t)))),
    entries),
  );
  let logLoaded = null;
  return every(async () => {
    const a = await get(`/agents/${encodeURIComponent(id)}`);
    const fact = (term, value, key) => [h("dt", {}, term), h("dd", { "data-fact": key }, value)];
    facts.replaceChildren(
      ...fact("Status", STATUS_WORDS[a.status] || a.status, "status"),
      ...fact("State", a.state, "state"),
      ...fact("Where", a.overdue ? `${a.where} (last seen; overdue since ${when(a.overdue.since)})`
        : a.where, "where"),
      ...fact("Hop", String(a.hop), "hop"),
      ...fact("Looking for", a.item, "item"),
      ...fact("Spent", money(a.spent), "spent"),
      ...fact("Result", resultText(a.result), "result"),
      ...fact("Home by", when(a.return_by), "return-by"),
    );
    bids.replaceChildren(...a.bids.map((b) => h("tr", {},
      h("td", {}, b.site), h("td", {}, String(b.auction)),
      h("td", { class: "num" }, money(b.amount)), h("td", { class: "num" }, money(b.proxy_max)))));
    trail.replaceChildren(...a.progress.map((m) => h("tr", {},
      h("td", {}, when(m.at)), h("td", {}, m.site), h("td", { class: "num" }, String(m.hop)),
      h("td", {}, m.state), h("td", {}, m.what))));
    if (!a.log) {
      setText(verdict, "The trip log travels with the agent; it is checked when it comes home.");
      return;
    }
    const key = `${a.log.entries}/${a.log.ok}/${a.progress.length}`;
    if (logLoaded === key) return;
    const trip = await get(`/agents/${encodeURIComponent(id)}/log`);
    logLoaded = key;
    const bad = new Map(trip.problems.filter((p) => p.n !== null).map((p) => [p.n, p.kind]));
    verdict.dataset.ok = String(trip.ok);
    setText(verdict, trip.ok
      ? `The trip log verifies: ${trip.entries.length} entries, each signed by its site and chained.`
      : "The trip log does NOT verify: a site altered or cut it.");
    problems.replaceChildren(...trip.problems.map((p) => h("li", {}, `${p.kind}: ${p.message}`)));
    entries.replaceChildren(...trip.entries.map((e) => h("tr", { "data-check": bad.get(e.n) || "ok" },
      h("td", { class: "num" }, String(e.n)), h("td", {}, e.site),
      h("td", { class: "num" }, String(e.hop)), h("td", {}, e.state), h("td", {}, e.what),
      h("td", {}, bad.get(e.n) || "ok"))));
  }, error);
}
