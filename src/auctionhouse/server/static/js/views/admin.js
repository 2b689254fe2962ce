// The admin view: GET /api/v1/admin/stats every two seconds.

import { ApiError, get, me } from "../api.js";
import { h, setText } from "../format.js";
import { sparkline } from "../chart.js";

const EVERY_MS = 2000;
const KEEP = 60;

export function mountAdmin(root) {
  root.append(h("h1", {}, "House status"));
  const account = me();
  if (!account || account.role !== "admin") {
    root.append(h("p", { class: "error", role: "alert" },
      account ? "This page is for admins." : "Sign in as an admin to see the house status."));
    return null;
  }
  const metric = (id, label) =>
    h("div", { class: "metric card" },
      h("span", { class: "label", id: `${id}-label` }, label),
      h("span", { class: "value num", id, "aria-labelledby": `${id}-label` }, "–"));
  const spark = h("div", { class: "spark", id: "bids-spark" });
  const rejected = h("tbody", { id: "rejected-rows" });
  const status = h("p", { class: "summary", role: "status", id: "admin-status" }, "Loading…");
  root.append(
    h("div", { class: "metrics" },
      metric("m-bids", "Bids per second"),
      metric("m-open", "Open auctions"),
      metric("m-connections", "Connections"),
      metric("m-queue", "Queue depth")),
    h("section", { class: "card", "aria-labelledby": "spark-h" },
      h("h2", { id: "spark-h" }, "Bids per second, last two minutes"), spark),
    h("section", { class: "card", "aria-labelledby": "rejected-h" },
      h("h2", { id: "rejected-h" }, "Rejected bids by reason"),
      h("table", { class: "table" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Reason"),
          h("th", { scope: "col", class: "num" }, "Count"))),
        rejected)),
    status,
  );
  const history = [];
  let stopped = false;
  let timer = null;

  async function poll() {
    try {
      const stats = await get("/admin/stats");
      history.push(stats.bids_per_second);
      if (history.length > KEEP) history.shift();
      setText(document.getElementById("m-bids"), fixed(stats.bids_per_second));
      setText(document.getElementById("m-open"), String(stats.open_auctions));
      setText(document.getElementById("m-connections"), String(stats.connections));
      setText(document.getElementById("m-queue"), String(stats.queue_depth ?? "–"));
      spark.replaceChildren(sparkline(history, "Bids per second"));
      const reasons = Object.entries(stats.rejected || {}).sort((a, b) => b[1] - a[1]);
      rejected.replaceChildren(...(reasons.length
        ? reasons.map(([code, n]) => h("tr", {}, h("td", {}, code), h("td", { class: "num" }, String(n))))
        : [h("tr", {}, h("td", { colspan: "2" }, "None so far."))]));
      setText(status, "Updated every 2 seconds.");
    } catch (e) {
      setText(status, e instanceof ApiError ? e.message : String(e));
    }
    if (!stopped) timer = setTimeout(poll, EVERY_MS);
  }
  poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function fixed(x) {
  return typeof x === "number" ? x.toFixed(1) : "–";
}
